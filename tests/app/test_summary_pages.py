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
    assert "misses: " in text and "% of real, " in text  # the demo's llm g3 misses a named region, in shares
    assert "**Recommended mixture**" in text and "Keep **30% real**" in text and "| coverage |" in text
    assert set(at.dataframe[0].value.index) == {"real train", *DEMO_SYNTHETIC}  # the metric table follows


def run_button(at: AppTest):
    return next(b for b in at.button if b.label == "Run")


def short_gaussian(at: AppTest) -> None:
    at.slider(key="sim_generations_gaussian").set_value(3)
    at.number_input(key="sim_repeats_gaussian").set_value(3)


def test_simulator_shows_every_regime_and_says_what_to_look_at():
    at = open_page("pages/simulator.py")
    regimes = at.pills(key="sim_regimes_gaussian")
    assert list(regimes.options) == ["replace", "accumulate", "mix"]  # nothing clipped or hidden
    assert list(regimes.value) == ["replace", "accumulate", "mix"]
    text = "\n".join(m.value for m in at.markdown)
    assert "Under *replace* it shrinks" in text and "under *accumulate* it holds" in text
    assert "- **variance**:" in text and not at.expander  # the metric definitions are on the page, not folded
    short_gaussian(at)
    regimes.set_value(["accumulate", "mix"])
    at = run_button(at).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = [r["run"].regimes for r in at.session_state["sim_results"].values()]
    assert ("accumulate", "mix") in shown


def test_switching_model_clears_the_previous_charts_before_the_new_run(monkeypatch):
    import analysis.simulate
    from analysis.simulate import SimulationError

    at = open_page("pages/simulator.py")
    short_gaussian(at)
    at = run_button(at).click().run()
    assert at.get("vega_lite_chart")  # the Gaussian curves

    def stopped(*args, **kwargs):
        raise SimulationError("stopped by the test while the n-gram run starts")

    monkeypatch.setattr(analysis.simulate, "simulate", stopped)
    at = at.segmented_control(key="sim_model").set_value("ngram").run()
    assert not at.exception
    # the run stopped right where it starts: by then the Gaussian charts were already replaced
    assert any("Running the ngram model" in i.value for i in at.info)
    assert not at.get("vega_lite_chart")
    assert any("stopped by the test" in e.value for e in at.error)
    assert "rare words disappear" in "\n".join(m.value for m in at.markdown)
