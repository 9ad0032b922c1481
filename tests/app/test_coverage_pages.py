"""The coverage floor as a user meets it (issue 17.4): a small real file loaded on the Data page.

600 real texts on six topics and 300 synthetic texts on two of them. Cross-fitted (the default),
all 600 serve; the 10 % holdout is about 60 samples, below the floor of 200, so with the holdout chosen
Tail coverage and Method comparison say that coverage is not reported instead of showing shares. The
embedding model is replaced by deterministic topic vectors (each topic a unit disc in its own plane, as
in tests/test_coverage.py), so no model loads.
"""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.app.test_pages import comparison_table

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TOPICS = ["sports", "tech", "health", "travel", "food", "music"]


def topic_vectors(texts) -> np.ndarray:
    """A point on the disc of the text's topic (its first word), seeded by the text."""
    rows = []
    for text in texts:
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))
        topic = TOPICS.index(text.split()[0])
        radius, angle = np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        row = np.zeros(18)
        row[topic] = 0.6 / np.sqrt(2)
        row[6 + 2 * topic], row[7 + 2 * topic] = radius * np.cos(angle), radius * np.sin(angle)
        rows.append(row)
    return np.array(rows, dtype=np.float32)


def csv(texts, labels) -> bytes:
    return pd.DataFrame({"text": texts, "label": labels}).to_csv(index=False).encode()


def load(at: AppTest, name: str, data: bytes, mode: str) -> None:
    at.file_uploader(key="upload_file").set_value((name, data, "text/csv")).run()
    at.radio(key="upload_mode").set_value(mode)
    at.button(key="upload_add").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]


def test_a_small_real_file_gets_coverage_cross_fitted_and_none_on_its_small_holdout(topic_app):
    """Cross-fitted (the default) all 600 real samples serve, in two folds of 300: coverage is reported, and the
    set with text on two of six topics covers a third. Choosing the 60-sample holdout on the Data page, Tail
    coverage and Method comparison say that coverage is not reported instead of showing shares."""
    at = topic_app()  # the dataset above, loaded on the Data page (tests/app/conftest.py)
    assert {m.label: m.value for m in at.metric}["samples"] == "900"

    at.switch_page("pages/tail_coverage.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert not any("Coverage is not reported" in w.value for w in at.warning)
    assert any("2 folds of 300" in c.value for c in at.caption)
    assert "Most-missed real samples" in [s.value for s in at.subheader]
    at.session_state["compare_mauve"] = False  # MAUVE is beside the point here, and slow
    at.switch_page("pages/comparison.py").run()
    assert not at.exception, [e.value for e in at.exception]  # (st.error boxes here are the risk alarms of the set)
    table = comparison_table(at)
    shares = table["coverage"].astype(float)
    assert len(shares) == 2 and abs(shares.min() - 1 / 3) < 0.02 and shares.max() > 0.9  # llm; real train

    at.switch_page("pages/data.py").run()
    at.radio(key="data_coverage").set_value("holdout").run()
    at.switch_page("pages/tail_coverage.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    warning = " ".join(w.value for w in at.warning)
    assert "Coverage is not reported: the real holdout has" in warning and "at least 200" in warning
    assert len(at.get("vega_lite_chart")) == 2  # Zipf and rare tokens only: no coverage bars, no label heatmap
    assert "Most-missed real samples" not in [s.value for s in at.subheader]

    at.switch_page("pages/comparison.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Coverage is not reported: the real holdout has" in w.value for w in at.warning)
    table = comparison_table(at)
    assert "coverage" not in table.columns or table["coverage"].isna().all()  # no share shown
    assert "recall" in table.columns
