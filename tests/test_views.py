"""The logic behind the Embedding map, Tail coverage and Method comparison pages, without Streamlit."""

import numpy as np
import pandas as pd
import pytest

from analysis.judge.compare import (
    BASELINE,
    CompareError,
    cached_compare,
    compare,
    coverage_reference,
    generation_table,
    set_name,
)
from analysis.judge.coverage import tail_report, zipf_points
from analysis.maps import explore
from analysis.metrics.fidelity import covered_by, knn_radii
from analysis.workspace import Workspace, WorkspaceError


def frame(texts, source, method, generation, label=None, split=None):
    n = len(texts)
    return pd.DataFrame(
        {
            "id": [f"{method}-{generation}-{i}" for i in range(n)],
            "text": texts,
            "source": source,
            "method": method,
            "generation": generation,
            "label": label,
            "parent_id": None,
            "split": split,
        }
    )


@pytest.fixture(scope="module")
def dataset():
    """60 real train, 200 real holdout (the coverage floor at k = 5), two synthetic sets (one only near the head)
    and a second generation."""
    rng = np.random.default_rng(0)
    real_x = rng.normal(size=(260, 8))
    real_x[:, 0] *= np.linspace(0.2, 4, 260)  # later rows spread out: the tail
    samples = pd.concat(
        [
            frame(
                [f"real text {i} word{i % 7}" for i in range(60)],
                "real",
                "real",
                0,
                label=["a", "b"] * 30,
                split="train",
            ),
            frame(
                [f"held out {i} word{i % 5}" for i in range(200)],
                "real",
                "real",
                0,
                label=["a", "b"] * 100,
                split="holdout",
            ),
            frame([f"wide {i}" for i in range(30)], "synthetic", "wide", 1, label="a"),
            frame([f"narrow {i % 3}" for i in range(30)], "synthetic", "narrow", 1, label="b"),
            frame([f"narrow again {i % 2}" for i in range(30)], "synthetic", "narrow", 2, label="b"),
        ],
        ignore_index=True,
    )
    head = real_x[np.argsort(np.abs(real_x[:, 0]))[:20]]
    embeddings = np.vstack(
        [
            real_x,
            real_x[rng.choice(260, 30, replace=False)] + rng.normal(scale=0.05, size=(30, 8)),
            head[rng.integers(0, 20, 30)] + rng.normal(scale=0.05, size=(30, 8)),
            head[rng.integers(0, 5, 30)] + rng.normal(scale=0.05, size=(30, 8)),
        ]
    )
    return samples, embeddings


# --- Tail coverage -------------------------------------------------------------------------------


def test_tail_report_bins_agree_with_a_brute_force_count(dataset):
    samples, x = dataset
    report = tail_report(samples, x, bins=4, seed=3, coverage="holdout")
    holdout = np.flatnonzero((samples["split"] == "holdout").to_numpy())
    radii = np.sort(np.linalg.norm(x[holdout][:, None] - x[holdout][None], axis=2), axis=1)[:, 5]
    order = np.argsort(np.argsort(radii, kind="stable"), kind="stable")
    bin_of = order * 4 // len(radii)
    wide = report.bins[report.bins["set"] == "wide"].set_index("bin")
    rows = np.flatnonzero((samples["method"] == "wide").to_numpy())  # 30 rows = the smallest size: all kept
    assert report.size == 30
    dist = np.linalg.norm(x[holdout][:, None] - x[rows][None], axis=2)
    covered = (dist < radii[:, None]).any(axis=1)
    for b in range(4):
        assert wide.at[b, "real"] == (bin_of == b).sum() == 50
        assert wide.at[b, "covered"] == covered[bin_of == b].sum()
    assert set(report.bins["set"]) == {BASELINE, "wide", "narrow", "narrow g2"}


def test_the_head_only_set_misses_the_tail(dataset):
    samples, x = dataset
    bins = tail_report(samples, x, bins=4, seed=0, coverage="holdout").bins.pivot(
        index="bin", columns="set", values="coverage"
    )
    assert bins.loc[3, "narrow"] < bins.loc[3, "wide"]
    assert bins.loc[3, "narrow g2"] <= bins.loc[3, "narrow"]


def test_tail_report_matches_compare_tail_rows(dataset):
    samples, x = dataset
    report = tail_report(samples, x, bins=10, seed=5, coverage="holdout")
    table = compare(samples, embeddings=x, seed=5, with_mauve=False, coverage="holdout")
    for name in ("wide", "narrow"):
        rarest = report.bins[(report.bins["set"] == name) & (report.bins["bin"] == 9)]
        value = table[(table["set"] == name) & (table["metric"] == "tail coverage (rarest 10%)")]["value"].iloc[0]
        assert rarest["coverage"].iloc[0] == pytest.approx(value)


def test_missed_samples_are_covered_by_no_synthetic_set_and_rarest_first(dataset):
    samples, x = dataset
    report = tail_report(samples, x, bins=4, missed=200, coverage="holdout")  # list every missed one
    holdout = np.flatnonzero((samples["split"] == "holdout").to_numpy())
    synthetic = np.flatnonzero((samples["source"] == "synthetic").to_numpy())
    covered = covered_by(x[holdout], x[synthetic], knn_radii(x[holdout], 5))
    uncovered_ids = set(samples["id"].to_numpy()[holdout][~covered])
    assert set(report.missed["id"]) == uncovered_ids  # sets are all at 30 = their full size here
    assert report.missed["rarity"].is_monotonic_decreasing
    assert (report.missed["sets covering"] == 0).all()


def test_label_coverage_and_zipf_points(dataset):
    samples, x = dataset
    report = tail_report(samples, x, bins=4, coverage="holdout")
    assert set(report.labels["label"]) == {"a", "b"}
    assert report.labels["coverage"].between(0, 1).all()
    points = zipf_points(["a a a b b c"] * 2 + ["d"], points=10)
    assert points["rank"].tolist() == [1, 2, 3, 4]
    assert points["share"].tolist() == pytest.approx([6 / 13, 4 / 13, 2 / 13, 1 / 13])


def test_tail_report_without_holdout_says_so(dataset):
    samples, x = dataset
    no_holdout = samples.assign(split=samples["split"].replace("holdout", "train"))
    with pytest.raises(CompareError, match="holdout"):
        tail_report(no_holdout, x)


# --- Method comparison ---------------------------------------------------------------------------


def test_cached_compare_computes_once_and_keys_on_parameters(dataset, tmp_path, monkeypatch):
    samples, x = dataset
    first = cached_compare(samples, x, cache_dir=tmp_path, seed=1, with_mauve=False)
    import analysis.judge.compare as module

    monkeypatch.setattr(module, "compare", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    again = cached_compare(samples, x, cache_dir=tmp_path, seed=1, with_mauve=False)
    pd.testing.assert_frame_equal(first, again)
    with pytest.raises(AssertionError, match="recomputed"):
        cached_compare(samples, x, cache_dir=tmp_path, seed=2, with_mauve=False)


def test_generation_table_starts_at_the_real_baseline(dataset):
    samples, x = dataset
    table = compare(samples, embeddings=x, with_mauve=False)
    lines = generation_table(table, "distinct-1")
    assert lines["method"].unique().tolist() == ["narrow"]  # "wide" has one generation only
    assert lines["generation"].tolist() == [0, 1, 2]
    baseline = table[(table["set"] == BASELINE) & (table["metric"] == "distinct-1")]["value"].iloc[0]
    assert lines["value"].iloc[0] == baseline
    assert set_name("narrow", 2) == "narrow g2" and set_name("narrow", 1) == "narrow"


# --- Embedding map -------------------------------------------------------------------------------


def test_map_points_name_sets_and_shorten_hover_text(dataset):
    samples, _ = dataset
    long = samples.copy()
    long.loc[0, "text"] = "<b>" + "x" * 500
    points = explore.map_points(long, np.zeros((len(long), 2)))
    assert points["set"].value_counts().to_dict() == {"real": 260, "wide": 30, "narrow": 30, "narrow g2": 30}
    assert len(points.at[0, "hover"]) == explore.TOOLTIP_CHARS and points.at[0, "hover"].startswith("<b>")
    with pytest.raises(ValueError, match="positions"):
        explore.map_points(samples, np.zeros((3, 2)))


def test_in_box_selects_the_points_inside_either_way_round():
    points = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, 1.0, 2.0, 3.0]})
    assert explore.in_box(points, {"x": [2.5, 0.5], "y": [0.5, 2.5]}).tolist() == [False, True, True, False]
    assert not explore.in_box(points, None).any() and not explore.in_box(points, {}).any()


def test_the_holdout_balls_cover_as_brute_force_says(dataset):
    samples, x = dataset
    holdout = np.flatnonzero((samples["split"] == "holdout").to_numpy())
    synthetic = np.flatnonzero((samples["method"] == "narrow").to_numpy())
    reference = coverage_reference(samples, x)
    assert (
        reference.rows.tolist() == holdout.tolist()
        and reference.describe() == "5-NN balls of the real holdout (200 samples)"
    )
    uncovered = ~reference.covered(x[synthetic])
    radii = np.sort(np.linalg.norm(x[holdout][:, None] - x[holdout][None], axis=2), axis=1)[:, 5]
    brute = ~(np.linalg.norm(x[holdout][:, None] - x[synthetic][None], axis=2) < radii[:, None]).any(axis=1)
    assert uncovered.tolist() == brute.tolist()
    assert not reference.covered(x[np.array([], int)]).any()


def test_nearest_synthetic_is_sorted_by_cosine():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [1.0, 1.0], [-1.0, 0.0]])
    nearest = explore.nearest_synthetic(x, 0, np.array([1, 2, 3, 4]), n=3)
    assert nearest["row"].tolist() == [2, 3, 1]
    assert nearest["similarity"].iloc[0] == pytest.approx(1 / np.hypot(1, 0.1))


# --- Named subsets ---------------------------------------------------------------------------------


def test_subsets_are_kept_replaced_and_deleted(tmp_path):
    ws = Workspace(tmp_path)
    assert ws.subsets() == {}
    ws.save_subset(" sparse ", ["a", "b"])
    ws.save_subset("dense", ["c"])
    ws.save_subset("sparse", ["d"])
    assert Workspace(tmp_path).subsets() == {"sparse": ["d"], "dense": ["c"]}
    ws.delete_subset("sparse")
    assert ws.subsets() == {"dense": ["c"]}
    with pytest.raises(WorkspaceError, match="needs a name"):
        ws.save_subset("  ", ["a"])
    with pytest.raises(WorkspaceError, match="empty"):
        ws.save_subset("x", [])


# --- The map of every point: density image, chart, box selection (analysis.maps.mapview) -----------------------------


def test_map_points_without_hover_is_categorical_and_names_the_same_sets(dataset):
    samples, _ = dataset
    xy = np.random.default_rng(0).normal(size=(len(samples), 2)).astype(np.float32)
    full, lean = explore.map_points(samples, xy), explore.map_points(samples, xy, hover=False)
    assert "hover" not in lean and isinstance(lean["set"].dtype, pd.CategoricalDtype)
    assert lean["set"].astype(str).tolist() == full["set"].tolist()
    assert set(full["set"]) == {"real", *(set_name(m, g) for m, g in zip(samples["method"], samples["generation"]))}


def _pixels(png: bytes) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(png)).convert("RGBA"))


def test_density_image_puts_each_point_at_its_map_position_in_its_colour():
    from analysis.maps import mapview

    extent = mapview.Extent(0.0, 10.0, 0.0, 5.0)
    # a red point near the bottom-left corner, a blue one near the top-right
    x, y = np.array([0.05, 9.95]), np.array([0.05, 4.95])
    sets = pd.Series(["a", "b"])
    png = mapview.density_image(x, y, sets, {"a": "#ff0000", "b": "#0000ff"}, extent, width=100, height=50)
    pixels = _pixels(png)
    assert pixels.shape == (50, 100, 4)
    assert tuple(pixels[-1, 0, :3]) == (255, 0, 0) and pixels[-1, 0, 3] > 0  # bottom row = smallest y
    assert tuple(pixels[0, -1, :3]) == (0, 0, 255) and pixels[0, -1, 3] > 0
    assert (pixels[..., 3] > 0).sum() == 8  # nothing else is drawn: each point 3 × 3 pixels, cut at the corner
    # a point outside the extent is not drawn
    outside = mapview.density_image(np.array([20.0]), np.array([1.0]), sets[:1], {"a": "#ff0000"}, extent)
    assert _pixels(outside)[..., 3].max() == 0


def test_difference_layer_is_red_where_synthetic_piles_up_and_blue_where_only_real_lives():
    from analysis.maps import mapview

    rng = np.random.default_rng(0)
    extent = mapview.Extent(0.0, 2.0, 0.0, 1.0)
    real_xy = rng.uniform([0.05, 0.05], [0.95, 0.95], size=(4000, 2))  # left half
    synthetic_xy = rng.uniform([1.05, 0.05], [1.95, 0.95], size=(4000, 2))  # right half
    xy = np.vstack([real_xy, synthetic_xy])
    real = np.arange(8000) < 4000
    sets = pd.Series(np.where(real, "real", "llm"))
    colors = {"llm": "#808080", "real": "#808080"}
    plain = _pixels(mapview.density_image(xy[:, 0], xy[:, 1], sets, colors, extent, width=200, height=100))
    layered = _pixels(
        mapview.density_image(
            xy[:, 0],
            xy[:, 1],
            sets,
            colors,
            extent,
            layer="difference",
            real=real,
            synthetic=~real,
            width=200,
            height=100,
        )
    )
    left, right = layered[20:80, 20:80, :3].astype(int), layered[20:80, 120:180, :3].astype(int)
    assert (left[..., 2] - left[..., 0]).mean() > 20  # bluer than red on the real side
    assert (right[..., 0] - right[..., 2]).mean() > 20  # redder than blue on the synthetic side
    assert np.abs(plain[20:80, 20:80, 0].astype(int) - plain[20:80, 20:80, 2]).max() == 0  # grey without the layer


def test_map_chart_spans_the_extent_and_its_payload_does_not_grow_with_the_points():
    from analysis.maps import mapview

    rng = np.random.default_rng(1)
    sizes = {}
    for n in (1_000, 300_000):
        x, y = rng.normal(size=n), rng.normal(size=n)
        sets = pd.Series(pd.Categorical(rng.choice(["real", "llm"], n)))
        colors = mapview.color_key(sets, "set")
        extent = mapview.Extent.of(x, y)
        png = mapview.density_image(x, y, sets, colors, extent)
        chart = mapview.map_chart(png, extent, color_by="set", colors=colors)
        sizes[n] = mapview.payload_bytes(chart)
    spec = chart.to_dict()
    image = spec["layer"][0]
    assert image["mark"]["type"] == "image"
    assert image["encoding"]["x"]["scale"]["domain"] == [extent.x0, extent.x1]
    assert image["encoding"]["y"]["scale"]["domain"] == [extent.y0, extent.y1]
    params = spec.get("params", []) + image.get("params", [])  # Altair lifts a layer's params to the top
    assert mapview.MAP_SELECTION in {param["name"] for param in params}
    datasets = spec["datasets"].values()
    assert any(str(row.get("url", "")).startswith("data:image/png;base64,") for rows in datasets for row in rows)
    bound = mapview.IMAGE_WIDTH * mapview.IMAGE_HEIGHT * 4 * 4 / 3 + 100_000  # an incompressible PNG in base64
    assert sizes[300_000] < bound and sizes[1_000] < bound
    assert sizes[300_000] < 300_000 * 8  # less than 8 bytes a point: far below sending them as marks


def test_a_box_holds_every_point_inside_it_either_way_round():
    from analysis.maps import explore, mapview

    rng = np.random.default_rng(2)
    points = pd.DataFrame(
        {
            "x": rng.uniform(0, 1, 50_000),
            "y": rng.uniform(0, 1, 50_000),
            "set": rng.choice(["real", "llm", "g2"], 50_000),
        }
    )
    box = {"x": [0.6, 0.2], "y": [0.1, 0.5]}  # either way round, as Vega-Lite sends it
    inside = (points["x"].between(0.2, 0.6)) & (points["y"].between(0.1, 0.5))
    np.testing.assert_array_equal(explore.in_box(points, box), inside.to_numpy())
    assert not explore.in_box(points, None).any()
    assert mapview.Extent.of_box({"x": [0.2, 0.6], "y": [0.1, 0.5]}) == mapview.Extent(0.2, 0.6, 0.1, 0.5)


def test_in_polygon_is_the_even_odd_rule_over_every_point():
    points = pd.DataFrame({"x": [0.5, 1.2, 2.5, 0.5, 1.0], "y": [0.5, 0.5, 0.5, 1.2, 1.5]})
    triangle = {"x": [0.0, 2.0, 0.0], "y": [0.0, 0.0, 2.0]}  # below the line x + y = 2
    assert explore.in_polygon(points, triangle).tolist() == [True, True, False, True, False]
    assert (
        not explore.in_polygon(points, None).any() and not explore.in_polygon(points, {"x": [0, 1], "y": [0, 1]}).any()
    )
    # against brute force on random points and a random star-shaped polygon
    rng = np.random.default_rng(3)
    many = pd.DataFrame({"x": rng.uniform(-2, 2, 2000), "y": rng.uniform(-2, 2, 2000)})
    angles = np.sort(rng.uniform(0, 2 * np.pi, 12))
    radii = rng.uniform(0.5, 1.5, 12)
    star = {"x": (radii * np.cos(angles)).tolist(), "y": (radii * np.sin(angles)).tolist()}
    corners = list(zip(star["x"], star["y"]))

    def winding(x: float, y: float) -> int:  # the winding number, a different algorithm from ray casting
        total = 0.0
        for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]):
            total += np.arctan2((x0 - x) * (y1 - y) - (y0 - y) * (x1 - x), (x0 - x) * (x1 - x) + (y0 - y) * (y1 - y))
        return round(total / (2 * np.pi))

    expected = np.array([winding(x, y) != 0 for x, y in zip(many["x"], many["y"])])
    assert (explore.in_polygon(many, star) == expected).all() and 0 < expected.sum() < len(many)


def test_selection_shares_say_each_sets_share_of_itself_and_of_the_selection():
    points = pd.DataFrame({"set": ["real"] * 100 + ["llm"] * 50, "label": ["a"] * 150})
    mask = np.zeros(150, dtype=bool)
    mask[:20] = True  # 20 % of real
    mask[100:105] = True  # 10 % of llm
    table = explore.selection_shares(points, mask).set_index("set")
    assert table.loc["real", "share_of_group"] == 0.2 and table.loc["llm", "share_of_group"] == 0.1
    assert table.loc["real", "share_of_selection"] == 0.8 and table.loc["llm", "selected"] == 5
    assert list(table.index) == ["real", "llm"]  # largest share of its own first
    assert explore.selection_shares(points, mask, by="label")["selected"].tolist() == [25]


def test_text_search_is_a_plain_case_insensitive_substring():
    texts = pd.Series(["The River Nile", "a river", "(river)", "lake"])
    assert explore.text_matches(texts, "RIVER").tolist() == [True, True, True, False]
    assert explore.text_matches(texts, "(river").tolist() == [False, False, True, False]  # not a pattern
    assert not explore.text_matches(texts, "  ").any()


def test_semantic_search_ranks_rows_by_cosine_to_the_query():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 16)).astype(np.float32)
    query = vectors[42] * 3 + 0.01 * rng.normal(size=16).astype(np.float32)
    found = explore.nearest_rows(vectors, query, n=5)
    cosine = (vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    assert found["row"].tolist() == np.argsort(-cosine, kind="stable")[:5].tolist() and found["row"].iloc[0] == 42
    restricted = explore.nearest_rows(vectors, query, rows=np.arange(100, 200), n=3)
    assert restricted["row"].between(100, 199).all()


def test_focus_mask_asks_every_question_at_once():
    points = pd.DataFrame({"row": [0, 1, 2, 3], "set": ["real", "llm", "llm", "real"], "label": ["a", "a", "b", "a"]})
    texts = pd.Series(["the river", "a River bank", "river", "lake"])
    assert explore.focus_mask(points, texts) is None
    assert explore.focus_mask(points, texts, set_name="llm").tolist() == [False, True, True, False]
    assert explore.focus_mask(points, texts, set_name="llm", label="a").tolist() == [False, True, False, False]
    assert explore.focus_mask(points, texts, words="river", rows=[0, 2, 3]).tolist() == [True, False, True, False]


def test_gap_names_on_the_report_map_run_from_their_ring_towards_the_middle():
    """A gap near the map's right edge was named with centred text that ran out of the map ("Physical sciences:
    chemical…" on the demo's report); near an edge the name now starts or ends at its ring."""
    from types import SimpleNamespace

    from analysis.views.review import gap_map

    samples = pd.DataFrame({"source": ["real"] * 3 + ["synthetic"], "method": ["real"] * 3 + ["llm"]})
    samples["generation"] = np.where(samples["source"] == "real", 0, 1)
    xy = np.array([[0.0, 0.0], [10.0, 5.0], [5.0, 2.0], [5.0, 3.0]])
    region = lambda id_, x: SimpleNamespace(id=id_, x=x, y=2.5, size=20, name=f"region {id_}")  # noqa: E731
    regions = [region(0, 0.5), region(1, 5.0), region(2, 9.5)]
    summary = SimpleNamespace(
        gap_report=SimpleNamespace(regions=regions), gaps={"llm": [SimpleNamespace(region=r.id) for r in regions]}
    )
    spec = gap_map(samples, xy, summary).to_dict()
    texts = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    aligned = {
        layer["mark"]["align"]: [row["label"] for row in spec["datasets"][layer["data"]["name"]]] for layer in texts
    }
    assert aligned == {"left": ["region 0"], "center": ["region 1"], "right": ["region 2"]}
