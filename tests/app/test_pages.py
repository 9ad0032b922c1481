"""The analysis pages on the demo, driven by AppTest through the real app script.

The demo's vectors ship with the repository, so nothing is embedded here; the UMAP map and the
comparison are computed once into the cache the app tests share (tests/app/conftest.py).
"""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
DEMO_SETS = {"real train", "rule-based", "paraphrase", "llm", "llm g2", "llm g3"}


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun_ok(changed) -> AppTest:
    """Run the app after a widget change (or plainly) and check that it rendered without error."""
    at = changed.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def charts(at: AppTest) -> list:
    return at.get("vega_lite_chart")


def test_embedding_map_opens_on_the_demo_and_reacts_to_its_controls():
    at = open_page("pages/embedding_map.py")
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Embedding map"
    assert len(charts(at)) == 1
    assert "Drag a box" in " ".join(c.value for c in at.caption)

    rerun_ok(at.selectbox(key="map_color").set_value("label"))
    rerun_ok(at.toggle(key="map_uncovered").set_value(True))
    assert any("are not covered by the shown synthetic sets" in c.value for c in at.caption)
    rerun_ok(at.multiselect(key="map_sets").set_value(["llm", "llm g2", "llm g3"]))
    rerun_ok(at.selectbox(key="map_density").set_value("real"))
    assert len(charts(at)) == 1

    assert at.text_input(key="map_lookup").value  # a real sample's id, filled in
    nearest = at.dataframe[-1].value
    assert len(nearest) == 5 and nearest["similarity"].is_monotonic_decreasing
    assert set(nearest["method"]) <= {"llm"}  # only the shown sets are searched


def test_embedding_map_says_when_an_id_is_unknown():
    at = open_page("pages/embedding_map.py")
    at.text_input(key="map_lookup").set_value("no-such-id").run()
    assert not at.exception
    assert any("No real sample has the id 'no-such-id'" in w.value for w in at.warning)


def test_tail_coverage_opens_on_the_demo_with_every_chart_and_the_missed_table():
    at = open_page("pages/tail_coverage.py")
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Tail coverage"
    assert len(charts(at)) == 4  # bins, Zipf, rare tokens, labels
    missed = at.dataframe[-1].value
    assert {"id", "text", "label", "rarity", "bin", "sets covering"} <= set(missed.columns)
    assert (missed["sets covering"] == 0).all()
    assert missed["bin"].max() == 10  # the most-missed are in the rarest of the 10 default bins
    rerun_ok(at.number_input(key="tail_bins").set_value(5))
    assert at.dataframe[-1].value["bin"].max() == 5
    assert len(charts(at)) == 4


def test_method_comparison_has_a_row_per_demo_set_and_the_risks():
    at = open_page("pages/comparison.py")
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert set(table.index) == DEMO_SETS
    assert "collapse risks" in table.columns and "coverage" in table.columns
    assert table.loc["real train", "collapse risks"] == "(baseline)"
    assert len(charts(at)) >= 2  # the first family's small multiples and the generations chart
    assert at.subheader[-1].value == "Across generations"
    rerun_ok(at.selectbox(key="compare_gen_metric").set_value("coverage"))
