"""The review summary on the Method comparison page, and the Collapse simulator's fixes (issue 20), by AppTest."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
DEMO_SYNTHETIC = ("rule-based", "paraphrase", "llm", "llm g2", "llm g3")


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=600).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_method_comparison_opens_with_the_review_summary():
    at = open_page("pages/comparison.py")
    assert not at.error, [e.value for e in at.error]
    assert at.subheader[0].value == "At a glance"  # before the table's risks and charts
    text = "\n".join(m.value for m in at.markdown)
    assert "Overall: **:" in text
    for name in DEMO_SYNTHETIC:  # a verdict per set, in words
        assert f"- **{name}** · :" in text, name
    assert "misses: **" in text  # the demo's LLM sets miss named regions
    assert "**Recommended mixture**" in text and "Keep **30% real**" in text and "| coverage |" in text
    assert set(at.dataframe[0].value.index) == {"real train", *DEMO_SYNTHETIC}  # the metric table follows
