"""A map you can question (issue 32): a lasso's selection, and the per-set answers on category codes.

The lasso map (analysis/maps/lasso.py) draws the server's image in Plotly; its selection's shapes are applied to every
point (explore.selection_mask). The shares, the highlight and the greying read category codes instead of a million
strings; each is checked here against the string-based computation it replaced.
"""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.maps import explore, lasso, mapview


def random_points(n: int, seed: int = 0, *, categorical: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    points = pd.DataFrame(
        {
            "row": np.arange(n),
            "x": rng.uniform(0, 1, n),
            "y": rng.uniform(0, 1, n),
            "source": np.where(rng.uniform(size=n) < 0.4, "real", "synthetic"),
            "set": rng.choice(["real", "llm", "llm g2", "paraphrase"], n),
            "label": rng.choice(["Arts", "History", "Mathematics", "(no label)"], n),
            "generation": rng.integers(0, 3, n),
        }
    )
    if categorical:  # as explore.map_points(..., hover=False) gives them, with a category no point has
        points["set"] = pd.Categorical(points["set"], categories=["llm", "llm g2", "paraphrase", "real", "unused"])
        points["label"] = pd.Categorical(points["label"])
    return points


def shares_by_strings(points: pd.DataFrame, mask: np.ndarray, by: str) -> pd.DataFrame:
    """The former selection_shares: each row's group as a string, np.unique over them."""
    names, codes = np.unique(points[by].astype(str).to_numpy(), return_inverse=True)
    total = np.bincount(codes, minlength=len(names))
    selected = np.bincount(codes[mask], minlength=len(names))
    table = pd.DataFrame(
        {
            by: names,
            "selected": selected,
            "total": total,
            "share_of_group": selected / np.maximum(total, 1),
            "share_of_selection": selected / max(int(selected.sum()), 1),
        }
    )
    return table.sort_values(["share_of_group", by], ascending=[False, True], ignore_index=True)


@pytest.mark.parametrize("categorical", [True, False])
@pytest.mark.parametrize("by", ["set", "label", "generation"])
def test_selection_shares_on_codes_equal_the_string_computation(by, categorical):
    points = random_points(5_000, seed=1, categorical=categorical)
    mask = explore.in_polygon(points, {"x": [0.1, 0.9, 0.5], "y": [0.1, 0.2, 0.9]})
    got = explore.selection_shares(points, mask, by=by)
    pd.testing.assert_frame_equal(got, shares_by_strings(points, mask, by))
    assert "unused" not in set(got[by]) and got["selected"].sum() == mask.sum()


def test_selection_shares_count_a_missing_value_as_nan_and_merge_values_that_read_the_same():
    # (the string computation fails here: pandas 3's astype(str) keeps a missing value missing, and np.unique
    # cannot sort it among strings; the map's own columns have none: map_points fills a missing label)
    points = pd.DataFrame({"label": pd.Categorical(["a", None, "a", None]), "mixed": [1, "1", 2, None]})
    mask = np.array([True, True, False, False])
    labels = explore.selection_shares(points, mask, by="label").set_index("label")
    assert labels["total"].to_dict() == {"a": 2, "nan": 2} and labels["selected"].to_dict() == {"a": 1, "nan": 1}
    mixed = explore.selection_shares(points, mask, by="mixed").set_index("mixed")
    assert mixed["total"].to_dict() == {"1": 2, "2": 1, "nan": 1} and mixed.loc["1", "selected"] == 2


def test_focus_mask_on_categories_equals_the_string_comparison():
    points = random_points(3_000, seed=2)
    texts = pd.Series(["a text"] * len(points))
    for name in ("llm", "real", "nothing of the kind"):
        expected = (points["set"].astype(str) == name).to_numpy()
        np.testing.assert_array_equal(explore.focus_mask(points, texts, set_name=name), expected)
    both = explore.focus_mask(points, texts, set_name="llm", label="History")
    np.testing.assert_array_equal(both, ((points["set"] == "llm") & (points["label"] == "History")).to_numpy())


def test_a_plotly_selection_joins_its_boxes_and_lassos_over_every_point():
    points = random_points(20_000, seed=3)
    triangle = {"x": [0.1, 0.5, 0.1], "y": [0.1, 0.1, 0.5]}
    box = {"x": [0.9, 0.6], "y": [0.6, 0.9]}  # either way round
    selection = {"points": [{"x": 0.2, "y": 0.2}], "point_indices": [0], "box": [box], "lasso": [triangle]}
    expected = explore.in_polygon(points, triangle) | explore.in_box(points, box)
    np.testing.assert_array_equal(explore.selection_mask(points, selection), expected)
    # the triangle by brute force: below x + y = 0.6, right of x = 0.1, above y = 0.1
    brute = (points["x"] > 0.1) & (points["y"] > 0.1) & (points["x"] + points["y"] < 0.6)
    np.testing.assert_array_equal(explore.in_polygon(points, triangle), brute.to_numpy())
    for empty in (None, {}, {"points": [], "box": [], "lasso": []}):
        assert not explore.selection_mask(points, empty).any()
    assert lasso.selection_extent(selection) == mapview.Extent(0.1, 0.9, 0.1, 0.9)
    assert lasso.selection_extent({"box": [], "lasso": []}) is None


def old_greyed(points: pd.DataFrame, highlight: np.ndarray, color_by: str) -> tuple[pd.Series, dict[str, str]]:
    """The former greying: each point's category as a string, OTHERS where the highlight leaves it out."""
    categories = points[color_by]
    colors = mapview.color_key(categories, color_by)
    greyed = pd.Series(np.where(highlight, categories.astype(str), mapview.OTHERS), index=points.index)
    return greyed, {name: c for name, c in colors.items() if name in set(greyed)} | {mapview.OTHERS: "#d4d4d4"}


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_the_greying_on_codes_draws_the_image_the_strings_drew(share):
    points = random_points(4_000, seed=4)
    highlight = np.random.default_rng(5).uniform(size=len(points)) < share
    extent = mapview.Extent(0, 1, 0, 1)
    png, colors, categories, _ = mapview.map_image(points, extent=extent, layer="difference", highlight=highlight)
    greyed, old_colors = old_greyed(points, highlight, "set")
    assert colors == old_colors
    assert list(np.asarray(categories, dtype=object)) == greyed.tolist()
    real = (points["source"] == "real").to_numpy()
    old_png = mapview.density_image(
        points["x"], points["y"], greyed, old_colors, extent, layer="difference", real=real, synthetic=~real
    )
    assert png == old_png


def test_the_lasso_figure_spans_the_extent_and_sends_a_bounded_sample():
    points = random_points(200_000, seed=6)
    extent = mapview.Extent(0, 1, 0, 1)
    png, colors, _, _ = mapview.map_image(points, extent=extent)
    names = pd.DataFrame({"x": [0.5], "y": [0.5], "name": ["<b>Maths</b> & logic"]})
    figure = lasso.lasso_figure(png, extent, colors, points, names=names, sample=2_000)
    spec = json.loads(figure.to_json())
    samples, *keys = figure.data
    assert len(samples.x) == 2_000 and samples.hoverinfo == "skip" and samples.text is None
    assert set(samples.x) <= set(points["x"]) and spec["layout"]["dragmode"] == "lasso"
    assert [key.name for key in keys] == list(colors)  # the colour key, one empty trace per category
    image = spec["layout"]["images"][0]
    assert image["source"] == mapview.data_uri(png) and (image["x"], image["y"]) == (0, 1)
    assert (image["sizex"], image["sizey"], image["xref"], image["yref"]) == (1, 1, "x", "y")
    assert spec["layout"]["xaxis"]["range"] == [0, 1] and spec["layout"]["yaxis"]["range"] == [0, 1]
    assert spec["layout"]["annotations"][0]["text"] == "&lt;b&gt;Maths&lt;/b&gt; &amp; logic"  # plain text
    # for 5x the points the figure is still its image (base64) and the sample: nothing grows with the points
    more = random_points(1_000_000, seed=7)
    more_png = mapview.map_image(more, extent=extent)[0]
    bigger = lasso.lasso_figure(more_png, extent, colors, more, names=names, sample=2_000)
    # (the JSON escapes the image's "/" as \u002f: at most 1/64 of base64 is "/", 6 bytes each)
    assert lasso.figure_bytes(bigger) < len(mapview.data_uri(more_png)) * (1 + 5 / 32) + 2_000 * 2 * 8 * 4 / 3 + 20_000


def test_the_lasso_figure_draws_only_the_points_in_view():
    points = random_points(1_000, seed=8)
    extent = mapview.Extent(0, 0.5, 0, 0.5)
    png, colors, _, _ = mapview.map_image(points, extent=extent)
    samples = lasso.lasso_figure(png, extent, colors, points).data[0]
    inside = extent.contains(points["x"].to_numpy(), points["y"].to_numpy())
    assert len(samples.x) == inside.sum() and max(samples.x) <= 0.5


def test_shortfall_p_is_the_occupancy_test_and_close_to_fishers_exact_test():
    """The selection's "fewer than real" p-value: the issue's visible hole (14.8 % of 1,000 real, 8.5 % of 200 llm)
    gives p = 0.012 by the closed form, near Fisher's exact one-sided p (0.0096); a set at real's share is far from
    significant, one with nothing in the selection is; real itself gets none."""
    from scipy.stats import fisher_exact, norm

    shares = pd.DataFrame(
        {"set": ["llm", "real", "paraphrase", "empty"], "selected": [17, 148, 30, 0], "total": [200, 1000, 200, 200]}
    )
    p = explore.shortfall_p(shares)
    assert np.isnan(p[1])
    pooled = (148 + 17) / 1200
    z = (0.148 - 17.5 / 200) / np.sqrt(pooled * (1 - pooled) * (1 / 200 + 1 / 1000))
    assert p[0] == pytest.approx(norm.sf(z), rel=1e-12) and p[0] == pytest.approx(0.0117, abs=5e-4)
    for row, (selected, total) in enumerate(zip(shares["selected"], shares["total"])):
        if row != 1:
            exact = fisher_exact([[selected, total - selected], [148, 852]], alternative="less").pvalue
            assert p[row] == pytest.approx(exact, rel=0.5, abs=1e-3)
    assert p[2] > 0.2 and p[3] < 1e-6
    no_real = explore.shortfall_p(shares[shares["set"] != "real"].reset_index(drop=True))
    assert np.isnan(no_real).all()
