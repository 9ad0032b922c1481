"""Issue 30: the app on the data users bring first, 1,000 real samples and 200 synthetic, names what the synthetic
set misses with occupancy numbers on the map, in Tail coverage and in the report, with no command-line step.

The real set is 1,000 demo texts (seeded); the synthetic set is 200 other demo texts with no text of Geography
(11 % of the demo, about 110 of the 1,000 real): the gap every page must name. The texts are the demo's, so
their vectors are the shipped ones and no model encodes.
"""

import os

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analysis.corpus import LoadReport
from analysis.demo import load_demo
from analysis.workspace import Workspaces
from tests.app.test_app import APP

pytestmark = pytest.mark.slow  # the demo's shipped vectors and the app
MISSING = "Geography"


def part(name: str, rows: int, source: str, method: str) -> dict:
    report = LoadReport(path=name, format="csv", rows_read=rows, rows_kept=rows).to_dict()
    return {"name": name, "source": source, "method": method, "rows": rows, "report": report}


@pytest.fixture(scope="module")
def small_samples() -> pd.DataFrame:
    """1,000 real demo texts (10 % holdout, as loaded) and 200 llm texts without Geography."""
    demo = load_demo(synthetic=False)
    demo = demo[demo["source"] == "real"].reset_index(drop=True)
    order = np.random.default_rng(30).permutation(len(demo))
    real = demo.iloc[order[:1000]].assign(source="real", method="real", generation=0)
    real["split"] = np.where(np.arange(1000) % 10 == 0, "holdout", "train")
    pool = demo.iloc[order[1000:]]
    llm = (
        pool[pool["label"] != MISSING].iloc[:200].assign(source="synthetic", method="llm", generation=1, split="train")
    )
    samples = pd.concat([real, llm], ignore_index=True)
    samples["id"] = [f"s{i}" for i in range(len(samples))]
    assert (real["label"] == MISSING).mean() >= 0.1
    return samples


@pytest.fixture
def small_workspace(small_samples) -> str:
    """:func:`small_samples` as the shared workspace ``first-files`` (the workspaces' folder is per test)."""
    Workspaces(os.environ["COLLAPSE_LAB_WORKSPACE"]).shared("first-files").save(
        small_samples,
        name="1,000 real + 200 llm",
        parts=[part("real.csv", 1000, "real", "real"), part("llm.csv", 200, "synthetic", "llm")],
    )
    return "first-files"


def opened(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["workspace"] = "first-files"
    at.run()
    at.switch_page(page).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    return at


def test_tail_coverage_names_the_missing_topic_with_occupancy_numbers(small_workspace) -> None:
    at = opened("pages/tail_coverage.py")
    said = [m.value for m in at.markdown if m.value.startswith("**llm misses: ")]
    assert len(said) == 1 and MISSING in said[0] and "% of real, " in said[0], said
    unsure = [c.value for c in at.caption if "samples of llm are too few to vouch for" in c.value]
    assert len(unsure) == 1 and "% at " in unsure[0] and MISSING not in unsure[0], unsure  # named, not unsure
    gaps = next(d.value for d in at.dataframe if "share of real" in d.value.columns)
    assert gaps.astype(str).apply(lambda column: column.str.contains(MISSING)).any(axis=None), gaps


def test_the_map_rings_the_missing_topic(small_workspace) -> None:
    at = opened("pages/embedding_map.py")
    at.toggle(key="map_gaps").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    ringed = next(c.value for c in at.caption if "regions the shown sets miss are ringed" in c.value)
    assert MISSING in ringed and " of real, " in ringed


def test_the_report_names_the_missing_topic(small_workspace) -> None:
    at = opened("pages/monitor.py")
    at.button(key="monitor_report").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    report = at.session_state["monitor_report_html"][1].decode()
    assert MISSING in report and "of real, " in report
    assert "Protects 1 named gap, keeping " in report and "of the mixture" in report  # the recommended mixture


def test_the_recommended_mixture_protects_the_missing_topic(small_workspace) -> None:
    """The card once recommended 70 % llm, a set with no Geography, with no word about it. Now the mixture keeps
    the real data of its set's named gaps that gives each its real share, and says so in the gaps' words."""
    at = opened("pages/comparison.py")
    card = next(m.value for m in at.markdown if m.value.startswith("Protects "))
    assert MISSING in card and "% of real, " in card and "% of the mixture" in card and "without protection" in card
    headline = next(m.value for m in at.markdown if m.value.startswith("Keep **"))
    assert "% with the protected gaps' real rows\\)" in headline, headline


def said_on(at: AppTest) -> str:
    """Every message, caption and text of the page, joined."""
    parts = [
        e.value for kind in ("markdown", "caption", "info", "warning", "error", "success") for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_coverage_is_reported_at_1000_real_and_the_data_page_chooses_its_reference(small_workspace) -> None:
    """Issue 30: with 1,000 real samples the 10 % holdout (100) is below coverage's floor (200). Cross-fitted (the
    default) every real sample serves, so Tail coverage reports coverage with no step; the Data page can choose the
    holdout instead (then nothing is reported) and draw it again at 30 % (as --holdout 0.3), and it is reported."""
    at = opened("pages/tail_coverage.py")
    assert "Coverage is not reported" not in said_on(at)
    assert any("cross-fitted" in c.value and "2 folds of 500" in c.value for c in at.caption)
    at.switch_page("pages/data.py").run()
    assert at.radio(key="data_coverage").value == "crossfit"
    at.radio(key="data_coverage").set_value("holdout").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    at.switch_page("pages/tail_coverage.py").run()
    assert "Coverage is not reported" in said_on(at)
    at.switch_page("pages/data.py").run()
    assert at.radio(key="data_coverage").value == "holdout"  # kept in the workspace
    at.number_input(key="data_holdout_share").set_value(0.3).run()
    at.button(key="data_holdout_apply").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    held = int({m.label: m.value for m in at.metric}["real holdout"].replace(",", ""))
    assert 250 <= held <= 350 and {m.label: m.value for m in at.metric}["samples"] == "1,200"
    at.switch_page("pages/tail_coverage.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "Coverage is not reported" not in said_on(at)
    assert any("real holdout" in c.value for c in at.caption)
    assert any(m.value.startswith("**llm misses: ") and MISSING in m.value for m in at.markdown)
