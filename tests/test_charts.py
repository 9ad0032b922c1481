"""Chart builders without Streamlit: the Vega-Lite spec has the expected layers and encodings, and exports render."""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.maps import explore, mapview
from analysis.views import charts


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


def test_the_map_draws_every_point_as_an_image_and_few_as_hoverable_points(points):
    samples_text = pd.Series([f"<script>alert({i})</script> sample" for i in range(len(points))])
    chart = spec(
        mapview.points_map(
            points, samples_text, color_by="label", layer="difference", marked=points.head(3).assign(hover="h")
        )
    )
    image, key, dots, marks = chart["layer"]
    assert image["mark"]["type"] == "image" and key["mark"]["opacity"] == 0
    assert dots["mark"]["type"] == "circle" and marks["mark"]["filled"] is False
    (box,) = chart["params"]
    assert box["name"] == mapview.MAP_SELECTION and box["select"]["type"] == "interval"
    assert [t["field"] for t in dots["encoding"]["tooltip"]][:3] == ["hover", "set", "label"]


def test_the_map_of_a_million_points_is_an_image_and_no_row_limit_applies():
    """Above POINT_LIMIT in view only the image travels: Altair's 5,000-row limit never applies (the
    notebook's MaxRowsError at 11,033 rows), and the spec stays small whatever the number of points."""
    rng = np.random.default_rng(1)
    n = 1_000_000
    points = pd.DataFrame(
        {
            "row": np.arange(n),
            "id": pd.Categorical(np.zeros(n, dtype=int).astype(str)),
            "x": rng.normal(size=n),
            "y": rng.normal(size=n),
            "source": pd.Categorical(np.where(np.arange(n) % 4 == 0, "synthetic", "real")),
            "set": pd.Categorical(np.where(np.arange(n) % 4 == 0, "llm", "real")),
            "label": pd.Categorical(["a"] * n),
            "generation": np.where(np.arange(n) % 4 == 0, 1, 0),
        }
    )
    chart = mapview.points_map(points, pd.Series(["text"] * n))
    text = chart.to_json()  # the default data transformer, with its row limit, runs here
    assert len(text) < 2_000_000 and json.loads(text)["layer"][0]["mark"]["type"] == "image"
    assert len(chart.layer) == 2  # the image and the colour key: no point layer at this size


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
    chart = mapview.points_map(points, pd.Series(["<script>x</script>"] * len(points)), layer="difference")
    png = charts.to_png(chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 400 and height > 400
    svg = charts.to_svg(chart)
    assert svg.lstrip().startswith("<svg") and svg.count("<path") > 100
    assert "<script>" not in svg  # sample text never enters the image as markup


def test_a_set_keeps_its_colour_across_charts():
    from analysis.colors import set_colors

    one = set_colors(["llm", "real train", "rule-based"]).to_dict()
    two = set_colors(["rule-based", "llm", "real train", "real holdout"]).to_dict()
    colour = lambda scale, name: scale["range"][scale["domain"].index(name)]  # noqa: E731
    assert colour(one, "llm") == colour(two, "llm") and colour(one, "rule-based") == colour(two, "rule-based")
    assert colour(two, "real holdout") != colour(two, "real train")
    assert len(set(two["range"])) == len(two["range"])


def test_frontier_lines_marks_the_current_share_and_the_guardrails():
    from analysis.views.charts import frontier_lines

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


def test_a_highlight_greys_the_other_points_and_keeps_them_on_the_map(points):
    texts = pd.Series(["t"] * len(points))
    chosen = (points["set"] == "llm").to_numpy()
    chart = spec(mapview.points_map(points, texts, highlight=chosen))
    key = next(layer for layer in chart["layer"] if layer["mark"].get("opacity") == 0)
    assert key["encoding"]["color"]["scale"]["domain"] == ["llm", mapview.OTHERS]
    dots = next(layer for layer in chart["layer"] if layer["mark"]["type"] == "circle")
    drawn = chart["datasets"][dots["data"]["name"]]
    assert len(drawn) == len(points)  # every point stays, the others in grey
    assert {row["set"] for row in drawn} == {"llm", mapview.OTHERS}


def test_forty_one_labels_get_forty_one_colours():
    colours = mapview.color_key(pd.Series([f"label {i}" for i in range(41)]), "label")
    assert len(set(colours.values())) == 41
    assert all(len(c) == 7 and c.startswith("#") for c in colours.values())


def test_the_regime_legend_lists_only_the_regimes_drawn():
    from analysis.simulate import average_runs

    curves = average_runs("gaussian", ["replace"], repeats=2, generations=3, n=20)
    scale = charts.simulation_curves(curves).to_dict()["spec"]["encoding"]["color"]["scale"]
    assert scale["domain"] == ["replace"] and scale["range"] == ["#d62728"]


def test_the_lessons_projector_mode_scales_the_chart_not_only_the_text():
    from analysis.views.lesson import STEPS, step_chart, step_curves

    curves = step_curves(STEPS[0], 10)
    small, large = step_chart(curves).to_dict(), step_chart(curves, large=True).to_dict()
    assert large["spec"]["width"] >= 2 * small["spec"]["width"] and large["spec"]["height"] > small["spec"]["height"]
    assert large["config"]["axis"]["labelFontSize"] >= 17 and large["config"]["legend"]["labelFontSize"] >= 17
    assert "axis" not in small.get("config", {}) or "labelFontSize" not in small["config"]["axis"]


def test_few_points_are_drawn_three_pixels_wide_and_many_one():
    from io import BytesIO

    from PIL import Image

    colors = {"a": "#1f77b4"}
    extent = mapview.Extent(0.0, 1.0, 0.0, 1.0)

    def lit(n: int) -> int:
        rng = np.random.default_rng(0)
        x, y = rng.uniform(0.1, 0.9, n), rng.uniform(0.1, 0.9, n)
        png = mapview.density_image(x, y, pd.Series(["a"] * n), colors, extent, width=400, height=400)
        return int((np.asarray(Image.open(BytesIO(png)))[..., 3] > 0).sum())

    assert 7 * 20 <= lit(20) <= 9 * 20  # 20 points: about 9 pixels each
    many = mapview.SPREAD_BELOW + 1
    assert lit(many) <= many  # above the bound: one pixel each


def test_fill_map_draws_the_new_samples_last_as_red_crosses():
    points = pd.DataFrame(
        {"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 2.0, 3.0]},
    ).assign(kind=["new", "real elsewhere", "llm before", "real in the region"])
    spec = charts.fill_map(points).to_dict()
    colour = spec["encoding"]["color"]["scale"]
    assert colour["domain"] == ["real elsewhere", "real in the region", "llm before", "new"]
    assert colour["range"][-1] == "#d62728" and colour["range"][0] == "#d9d9d9"
    ranks = dict(zip(points["kind"], pd.DataFrame(spec["datasets"][spec["data"]["name"]])["rank"]))
    assert ranks["new"] == 3 and ranks["real elsewhere"] == 0  # drawn on top of everything else
