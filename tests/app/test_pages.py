"""The analysis pages on the demo, driven by AppTest through the real app script.

`make test` builds the demo's vectors, default map and comparison tables first (data/demo/), so
nothing is embedded here; anything else is computed once into the cache the app tests share
(tests/app/conftest.py).
"""

from pathlib import Path

import pandas as pd
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
    rerun_ok(at.multiselect(key="map_sets").set_value(["llm", "llm g2", "llm g3"]))
    rerun_ok(at.selectbox(key="map_density").set_value("real"))
    assert len(charts(at)) == 1

    assert at.text_input(key="map_lookup").value  # a real sample's id, filled in
    nearest = at.dataframe[-1].value
    assert len(nearest) == 5 and nearest["similarity"].is_monotonic_decreasing
    assert set(nearest["method"]) <= {"llm"}  # only the shown sets are searched


def test_the_map_answers_questions_a_set_a_label_words_and_meaning():
    """Issue 32: a click on a set draws it in colour and the rest grey, with each set's share of what is shown;
    a label, a substring and a semantic query (embedded with the dataset's model) narrow it further."""
    at = open_page("pages/embedding_map.py")
    at = rerun_ok(at.button_group(key="map_focus_set").set_value("llm"))
    shares = next(c.value for c in at.caption if "in colour, the rest in grey" in c.value)
    assert "100.0% of llm" in shares and "0.0% of real" in shares
    at = rerun_ok(at.selectbox(key="map_focus_label").set_value(at.selectbox(key="map_focus_label").options[0]))
    at = rerun_ok(at.button_group(key="map_focus_set").set_value(None))
    at = rerun_ok(at.text_input(key="map_search").set_value("river"))
    assert any("in colour, the rest in grey" in c.value for c in at.caption)
    at = rerun_ok(at.text_input(key="map_search").set_value(""))
    at = rerun_ok(at.text_input(key="map_semantic").set_value("football and other team sports"))
    caption = next(c.value for c in at.caption if "in colour, the rest in grey" in c.value)
    assert caption.startswith("200 samples") or int(caption.split()[0].replace(",", "")) <= 200
    assert len(charts(at)) == 1


def test_the_map_selects_with_a_lasso_on_a_plotly_chart():
    """Issue 32: "Select with: lasso" draws the same map image in Plotly, whose selection returns a lasso's path (the
    browser test draws one with the mouse: tests/app/test_browser_first_hour.py)."""
    at = open_page("pages/embedding_map.py")
    at = rerun_ok(at.segmented_control(key="map_select_with").set_value("lasso"))
    assert len(at.get("plotly_chart")) == 1 and not charts(at)
    assert "Draw a lasso" in " ".join(c.value for c in at.caption)


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


def comparison_table(at: AppTest) -> pd.DataFrame:
    """Method comparison's tables, one per family (a tab each), joined into one: sets by metrics."""
    tables = [frame.value for frame in at.dataframe if "collapse risks" in frame.value.columns]
    return pd.concat([tables[0][["collapse risks"]], *(t.drop(columns="collapse risks") for t in tables)], axis=1)


def test_method_comparison_has_a_row_per_demo_set_and_the_risks():
    at = open_page("pages/comparison.py")
    assert not at.error, [e.value for e in at.error]
    assert [tab.label for tab in at.tabs][:3] == ["Diversity", "Fidelity", "Coverage"]
    assert all(len(frame.value.columns) <= 11 for frame in at.dataframe)  # 27 side by side needed a scroll
    table = comparison_table(at)
    assert set(table.index) == DEMO_SETS
    assert "collapse risks" in table.columns and "coverage" in table.columns
    assert table.loc["real train", "collapse risks"] == "(baseline)"
    assert len(charts(at)) >= 2  # the first family's small multiples and the generations chart
    assert at.subheader[-1].value == "Across generations"
    rerun_ok(at.selectbox(key="compare_gen_metric").set_value("coverage"))


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_mixture_designer_updates_the_metrics_and_warns_on_too_little_real_data():
    at = open_page("pages/mixture.py")
    assert not at.error and not at.warning, [e.value for e in at.error]
    assert at.title[0].value == "Mixture designer"
    before = metric_values(at)
    assert {"coverage", "tail coverage (rarest 10%)", "distinct-2", "vendi", "centroid shift"} <= set(before)
    assert len(charts(at)) == 2  # tail bins and the frontier

    rerun_ok(at.slider(key="mix_w:rule-based").set_value(0))
    after = metric_values(at)
    assert after != before  # the same size without rule-based samples: other rows, other values

    at.slider(key="mix_real").set_value(25).run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "25% real data is below the 30%" in at.warning[0].value
    at.slider(key="mix_real").set_value(15).run()
    assert not at.exception and not at.warning
    assert len(at.error) == 1 and "Only 15% real data" in at.error[0].value
    assert at.query_params["real"] == "15" and at.query_params["w:rule-based"] == "0"


def test_mixture_designer_opens_the_mixture_a_link_names():
    at = AppTest.from_file(APP, default_timeout=600)
    for name, value in {"size": "800", "real": "40", "strategy": "tail-aware", "w:llm": "0", "seed": "-3"}.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("pages/mixture.py").run()
    assert not at.exception
    assert at.number_input(key="mix_size").value == 800 and at.slider(key="mix_real").value == 40
    assert at.selectbox(key="mix_strategy").value == "tail-aware" and at.slider(key="mix_w:llm").value == 0
    assert at.number_input(key="mix_seed").value == 0  # out of range in the link: ignored, and said
    assert any("seed=-3" in toast.value for toast in at.toast)
    assert "800 rows:" in " ".join(c.value for c in at.caption) and " llm," not in " ".join(c.value for c in at.caption)


def test_mixture_designer_suggests_weights_and_applies_them():
    at = open_page("pages/mixture.py")
    rerun_ok(at.button(key="mix_suggest").click())
    assert "possible mixtures compared" in at.info[-1].value
    rerun_ok(at.button(key="mix_apply").click())
    weights = [at.slider(key=f"mix_w:{name}").value for name in ("llm", "llm g2", "llm g3", "paraphrase", "rule-based")]
    assert max(weights) == 100 and at.slider(key="mix_real").value == 70


def test_mixture_designer_says_how_to_fix_an_impossible_mixture():
    at = open_page("pages/mixture.py")
    at.number_input(key="mix_size").set_value(50_000).run()
    assert not at.exception
    assert "Lower the size" in at.error[0].value


def run_button(at: AppTest):
    return next(b for b in at.button if b.label == "Run")


@pytest.mark.parametrize("model, n", [("gaussian", 20), ("regression", 40), ("ngram", 120), ("embedding", 120)])
def test_collapse_simulator_runs_a_short_simulation_of_each_model(model, n):
    at = open_page("pages/simulator.py")
    if model != "gaussian":
        rerun_ok(at.segmented_control(key="sim_model").set_value(model))
    at.slider(key=f"sim_generations_{model}").set_value(3)
    at.number_input(key=f"sim_n_{model}").set_value(n)
    if model in ("gaussian", "regression"):
        at.number_input(key=f"sim_repeats_{model}").set_value(5)
    rerun_ok(run_button(at).click())
    assert at.title[0].value == "Collapse simulator"
    curves = charts(at)
    assert len(curves) >= 1
    caption = " ".join(c.value for c in at.caption)
    assert f"n = {n:,} per generation" in caption
    rerun_ok(at.slider(key="sim_generation").set_value(1))
    if model == "ngram":
        assert len(at.dataframe[-1].value) == 9  # 3 sampled texts per regime


def test_monitor_shows_the_demo_generations_with_warnings_and_builds_the_report():
    at = open_page("pages/monitor.py")
    assert not at.error, [e.value for e in at.error]
    assert len(charts(at)) == 1
    fired = at.dataframe[0].value
    assert set(fired["series"]) == {"llm"} and "llm g3" in set(fired["snapshot"])
    assert {"warning", "alarm"} & set(fired["severity"])
    lost = fired[fired["rule"].isin(["region lost half its share", "region under the gap rule"])]
    assert len(lost) and lost["message"].str.startswith("region '").all()  # the ledger of loss (issue 33)
    rerun_ok(at.button(key="monitor_report").click())
    assert at.get("download_button")  # the report is ready to download
    report = at.session_state["monitor_report_html"][1].decode()
    assert report.startswith("<!DOCTYPE html>") and "llm g3" in report
    assert ">What each generation lost first</h2>" in report


def test_monitor_adds_a_saved_snapshot():
    at = open_page("pages/monitor.py")
    rerun_ok(at.segmented_control(key="monitor_source").set_value("saved snapshots"))
    at.selectbox(key="monitor_set").set_value("llm g2")
    at.text_input(key="monitor_name").set_value("nightly 1")
    rerun_ok(next(b for b in at.button if b.label == "Score and add").click())
    at = rerun_ok(at)
    listed = at.dataframe[0].value
    assert list(listed["snapshot"]) == ["nightly 1"] and len(charts(at)) == 1


def test_ab_page_compares_llm_and_paraphrase_on_the_demo():
    at = open_page("pages/ab_test.py")
    assert not at.error and at.selectbox(key="ab_a").value == "llm" and at.selectbox(key="ab_b").value == "paraphrase"
    at.number_input(key="ab_rounds").set_value(99)
    rerun_ok(next(b for b in at.button if b.label == "Run the test").click())
    table = at.dataframe[0].value
    assert len(table) == 30 and {"difference", "ci_low", "ci_high", "verdict"} <= set(table.columns)
    assert (table["ci_low"] <= table["difference"] + 1e-12).all()
    assert len(charts(at)) == 1
    assert "recall (real train)" in at.dataframe[1].value.columns  # TSTR per topic, with the ceiling


def test_mixture_designer_downstream_check():
    at = open_page("pages/mixture.py")
    rerun_ok(at.button(key="mix_downstream").click())
    labels = [m.label for m in at.metric]
    assert "TSTR accuracy" in labels and "TSTR macro-f1" in labels


def test_a_kept_mixture_can_be_picked_on_the_ab_page():
    at = open_page("pages/mixture.py")
    form_input = next(t for t in at.text_input if t.label == "Keep this mixture as a named subset")
    form_input.set_value("seventy real")
    rerun_ok(next(b for b in at.button if b.label == "Keep the mixture").click())
    assert any("Kept 976 rows as subset 'seventy real'" in s.value for s in at.success)
    at.switch_page("pages/ab_test.py").run()
    assert "subset: seventy real" in at.selectbox(key="ab_a").options
    at.switch_page("pages/tail_coverage.py").run()
    rerun_ok(at.selectbox(key="tail_subset").set_value("seventy real"))
    assert any("measured against all" in c.value for c in at.caption) and len(charts(at)) == 4


def test_mixture_designer_keeps_its_settings_when_the_user_comes_back():
    at = open_page("pages/mixture.py")
    rerun_ok(at.slider(key="mix_real").set_value(40))
    at.switch_page("pages/data.py").run()
    at.switch_page("pages/mixture.py").run()
    assert not at.exception and not at.error
    assert at.slider(key="mix_real").value == 40 and at.query_params["real"] == "40"


def test_the_report_reuses_the_comparison_the_pages_cached(monkeypatch):
    """Issue 32: the report recomputed the comparison (67 s on the demo). Built from the Monitor page it reads the
    table Method comparison uses (at that page's defaults, kept on disk), so compare itself never runs."""
    import analysis.judge.compare

    at = open_page("pages/comparison.py")
    assert not at.error, [e.value for e in at.error]

    def no_second_compare(*args, **kwargs):
        raise AssertionError("the report computed the comparison again")

    monkeypatch.setattr(analysis.judge.compare, "compare", no_second_compare)
    at = open_page("pages/monitor.py")
    rerun_ok(at.button(key="monitor_report").click())
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["monitor_report_html"][1].decode().startswith("<!DOCTYPE html>")
