"""Chart builders without Streamlit: the Vega-Lite spec has the expected layers and encodings, and exports render."""

import numpy as np
import pandas as pd
import pytest

from analysis import charts, explore


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    n = 300
    samples = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "text": [f"<script>alert({i})</script> sample" for i in range(n)],
            "source": ["real"] * 200 + ["synthetic"] * 100,
            "method": ["real"] * 200 + ["llm"] * 100,
            "generation": [0] * 200 + [1] * 100,
            "label": rng.choice(["a", "b"], n),
            "split": "train",
            "parent_id": None,
        }
    )
    return explore.map_points(samples, rng.normal(size=(n, 2)))


def spec(chart) -> dict:
    return chart.to_dict()


def test_embedding_map_layers_density_points_and_marks(points):
    density = explore.density_grid(points, (points["source"] != "real").to_numpy())
    chart = spec(
        charts.embedding_map(
            points, color_by="label", density=density, marked=points.head(3), marked_title="not covered"
        )
    )
    density_layer, dots, marks = chart["layer"]
    assert density_layer["mark"]["type"] == "rect" and density_layer["encoding"]["color"]["field"] == "difference"
    assert dots["mark"]["type"] == "circle"
    (box,) = chart["params"]  # Altair lifts the selection to the top level, bound to the points' view
    assert (
        box["name"] == charts.MAP_SELECTION and box["select"]["type"] == "interval" and box["views"] == [dots["name"]]
    )
    color = dots["encoding"]["color"]
    assert color["condition"]["field"] == "label" and color["value"] == "#d0d0d0"  # unselected points grey
    assert [t["field"] for t in dots["encoding"]["tooltip"]][:3] == ["hover", "set", "label"]
    assert marks["mark"]["type"] == "point" and marks["mark"]["filled"] is False


def test_embedding_map_without_density_has_only_points(points):
    chart = spec(charts.embedding_map(points, color_by="generation"))
    assert len(chart["layer"]) == 1
    assert chart["layer"][0]["encoding"]["color"]["condition"]["type"] == "ordinal"


def test_tail_bars_have_bars_per_set_and_ceiling_ticks():
    bins = pd.DataFrame(
        {
            "set": ["real train"] * 2 + ["llm"] * 2,
            "bin": [0, 1] * 2,
            "rarity_from": 0.1,
            "rarity_to": 0.2,
            "real": 10,
            "covered": [9, 8, 7, 2],
            "coverage": [0.9, 0.8, 0.7, 0.2],
        }
    )
    chart = spec(charts.tail_coverage_bars(bins))
    bars, ticks = chart["layer"]
    assert bars["mark"]["type"] == "bar" and bars["encoding"]["xOffset"]["field"] == "set"
    assert ticks["mark"]["type"] == "tick"
    datasets = chart["datasets"]
    assert sorted(len(rows) for rows in datasets.values()) == [2, 2]  # two bars for llm, two ticks for real train


def test_zipf_curves_are_log_log_and_heatmap_has_text():
    zipf = pd.DataFrame({"set": "llm", "rank": [1, 2, 4], "share": [0.5, 0.3, 0.2]})
    chart = spec(charts.zipf_curves(zipf))
    assert chart["encoding"]["x"]["scale"]["type"] == "log" and chart["encoding"]["y"]["scale"]["type"] == "log"
    labels = pd.DataFrame(
        {"set": ["llm", "llm"], "label": ["a", "b"], "real": 5, "covered": [5, 1], "coverage": [1.0, 0.2]}
    )
    cells, text = spec(charts.label_heatmap(labels))["layer"]
    assert cells["mark"]["type"] == "rect" and text["mark"]["type"] == "text"


def test_metric_multiples_facet_per_metric_with_error_bars():
    table = pd.DataFrame(
        {
            "set": ["real train", "llm"] * 2,
            "metric": ["coverage"] * 2 + ["recall"] * 2,
            "family": "coverage",
            "value": [0.9, 0.5, 0.8, 0.4],
            "ci_low": [0.85, 0.45, np.nan, np.nan],
            "ci_high": [0.95, 0.55, np.nan, np.nan],
            "direction": "higher",
            "reference": "Naeem et al. 2020",
            "n": 100,
        }
    )
    chart = spec(charts.metric_multiples(table))
    assert chart["facet"]["field"] == "panel" and chart["resolve"]["scale"]["x"] == "independent"
    assert [layer["mark"]["type"] for layer in chart["spec"]["layer"]] == ["bar", "errorbar"]
    assert "coverage (higher is better)" in chart["facet"]["sort"]


def test_png_and_svg_export_render_offline(points):
    chart = charts.embedding_map(points, density=explore.density_grid(points, (points["source"] != "real").to_numpy()))
    png = charts.to_png(chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 400 and height > 400
    svg = charts.to_svg(chart)
    assert svg.lstrip().startswith("<svg") and svg.count("<path") > 100
    assert "<script>" not in svg  # sample text never enters the image as markup


def test_a_set_keeps_its_colour_across_charts():
    from analysis.charts import set_colors

    one = set_colors(["llm", "real train", "rule-based"]).to_dict()
    two = set_colors(["rule-based", "llm", "real train", "real holdout"]).to_dict()
    colour = lambda scale, name: scale["range"][scale["domain"].index(name)]  # noqa: E731
    assert colour(one, "llm") == colour(two, "llm") and colour(one, "rule-based") == colour(two, "rule-based")
    assert colour(two, "real holdout") != colour(two, "real train")
    assert len(set(two["range"])) == len(two["range"])


def test_frontier_lines_marks_the_current_share_and_the_guardrails():
    from analysis.charts import frontier_lines

    frontier = pd.DataFrame(
        {
            "real_share": np.linspace(0, 1, 11),
            "current": False,
            "ok": [False] + [True] * 10,
            "reason": "",
            "coverage": np.linspace(0.5, 0.9, 11),
            "vendi": np.linspace(5, 9, 11),
        }
    )
    spec = frontier_lines(frontier, ["coverage", "vendi"], current=0.7).to_dict()
    marks = [
        layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["spec"]["layer"]
    ]
    assert marks == ["rect", "line", "rule"]
    assert spec["facet"]["field"] == "metric" and spec["resolve"]["scale"]["y"] == "independent"
    rule_data = spec["datasets"][spec["spec"]["layer"][2]["data"]["name"]]
    assert rule_data == [{"real_share": 0.7}]
    assert len(spec["datasets"][spec["data"]["name"]]) == 20  # the impossible share is left out


def test_simulation_charts_draw_the_curves_with_the_closed_forms_dashed():
    from analysis.simulate import average_runs, expected_curves, simulate

    curves = average_runs("gaussian", repeats=3, generations=4, n=20)
    spec = charts.simulation_curves(
        curves, expected=expected_curves("gaussian", ["replace"], generations=4, n=20)
    ).to_dict()
    assert spec["facet"]["field"] == "metric" and spec["spec"]["encoding"]["color"]["field"] == "regime"
    kinds = {row["kind"] for row in spec["datasets"][spec["data"]["name"]]}
    assert (
        kinds == {"simulated", "expected (closed form)"} and spec["spec"]["encoding"]["strokeDash"]["field"] == "kind"
    )

    run = simulate("gaussian", generations=2, n=30, seed=1)
    histogram = run.snapshots["histogram"]
    png = charts.to_png(charts.generation_histogram(histogram[histogram["generation"] == 2]))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_ab_differences_draws_each_interval_around_zero():
    table = pd.DataFrame(
        {
            "metric": ["coverage", "distinct-2"],
            "direction": ["higher", "higher"],
            "a": [0.5, 0.6],
            "b": [0.6, 0.6],
            "difference": [0.1, 0.0],
            "ci_low": [0.05, -0.02],
            "ci_high": [0.15, 0.02],
            "p_holm": [0.01, 0.9],
            "significant": [True, False],
            "better": ["B", ""],
        }
    )
    spec = charts.ab_differences(table, names=("A", "B")).to_dict()
    marks = [
        layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["spec"]["layer"]
    ]
    assert marks == ["rule", "errorbar", "point"]
    rows = spec["datasets"][spec["data"]["name"]]
    assert [row["favours"] for row in rows] == ["B", "no clear difference"]
