"""analysis.maps.project: UMAP maps of embeddings, their cache and their input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.maps import project as project_module
from analysis.maps.project import ProjectionError, cached_projection, project, projection_key

N_PER_CLUSTER, DIM = 70, 16


@pytest.fixture(scope="module")
def clusters() -> tuple[np.ndarray, np.ndarray]:
    """Three well separated gaussian clusters: 210 points × 16 dimensions, and their labels."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(3, DIM)) * 4
    labels = np.repeat(np.arange(3), N_PER_CLUSTER)
    points = centres[labels] + rng.normal(size=(len(labels), DIM))
    return points.astype(np.float32), labels


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One cache for the tests that may reuse the default map (fitting is the slow part)."""
    return tmp_path_factory.mktemp("projections")


def nearest_in_same_cluster(coordinates: np.ndarray, labels: np.ndarray) -> float:
    distances = ((coordinates[:, None, :] - coordinates[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    return float((labels[distances.argmin(1)] == labels).mean())


def test_map_shape_dtype_and_clusters_stay_apart(clusters, shared_cache):
    points, labels = clusters
    coordinates = project(points, metric="euclidean", cache_dir=shared_cache)
    assert coordinates.shape == (len(points), 2)
    assert coordinates.dtype == np.float32
    assert np.isfinite(coordinates).all()
    assert nearest_in_same_cluster(coordinates, labels) > 0.9


def test_second_call_is_read_from_cache_without_fitting(clusters, shared_cache, monkeypatch):
    points, _ = clusters
    first = project(points, metric="euclidean", cache_dir=shared_cache)
    assert len(list(shared_cache.glob("*.npy"))) == 1

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted although the map is cached")

    monkeypatch.setattr(project_module, "_fit", no_fit)
    stages = []
    again = project(points, metric="euclidean", cache_dir=shared_cache, progress=lambda s, f: stages.append((s, f)))
    np.testing.assert_array_equal(again, first)
    assert stages == [("Done", 1.0)]
    np.testing.assert_array_equal(cached_projection(points, metric="euclidean", cache_dir=shared_cache), first)
    assert cached_projection(points, metric="euclidean", seed=1, cache_dir=shared_cache) is None
    # same values in another dtype and memory layout: the same map
    np.testing.assert_array_equal(
        project(np.asfortranarray(points.astype(np.float64)), metric="euclidean", cache_dir=shared_cache), first
    )


def test_key_changes_with_every_input():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(30, 4)).astype(np.float32)
    mask = np.arange(30) < 20
    base = projection_key(points)
    assert base == projection_key(points.astype(np.float64))
    assert len(base) == 64 and int(base, 16) >= 0
    changed = [
        projection_key(points, seed=1),
        projection_key(points, min_dist=0.2),
        projection_key(points, n_neighbors=10),
        projection_key(points, metric="euclidean"),
        projection_key(points, fit_rows=mask),
        projection_key(points, fit_rows=~mask),
        projection_key(points[:29]),
        projection_key(points.reshape(60, 2)),
        projection_key(points + np.float32(1e-3)),
    ]
    assert len({base, *changed}) == len(changed) + 1
    assert projection_key(points, fit_rows=np.ones(30, bool)) == base  # all rows fitted = no mask
    # n_neighbors is reduced to rows - 1, so every larger value is the same map
    small = points[:5]
    assert (
        projection_key(small, n_neighbors=15)
        == projection_key(small, n_neighbors=4)
        != projection_key(small, n_neighbors=3)
    )


def test_fit_rows_places_the_other_rows_in_the_fitted_map(clusters, tmp_path):
    points, labels = clusters
    fit_rows = np.arange(len(points)) % 3 != 0  # two thirds "real"; the rest placed by transform
    stages = []
    coordinates = project(
        points,
        fit_rows=fit_rows,
        metric="euclidean",
        cache_dir=tmp_path,
        progress=lambda stage, fraction: stages.append((stage, fraction)),
    )
    assert coordinates.shape == (len(points), 2) and coordinates.dtype == np.float32
    assert np.isfinite(coordinates[~fit_rows]).all()
    assert nearest_in_same_cluster(coordinates, labels) > 0.9
    # placed rows land beside fitted rows of their own cluster
    placed, fitted = coordinates[~fit_rows], coordinates[fit_rows]
    distances = ((placed[:, None, :] - fitted[None, :, :]) ** 2).sum(-1)
    assert (labels[fit_rows][distances.argmin(1)] == labels[~fit_rows]).mean() > 0.9

    names = [stage for stage, _ in stages]
    assert names[0] == "Finding nearest neighbours" and names[-1] == "Done"
    assert "Laying out" in names and "Placing the other rows in the real map" in names
    assert names.index("Laying out") < names.index("Placing the other rows in the real map")
    fractions = [fraction for _, fraction in stages]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in fractions)


def test_same_seed_same_map(clusters, tmp_path):
    points, _ = clusters
    first = project(points[:60], metric="euclidean", seed=3, cache_dir=tmp_path / "a")
    second = project(points[:60], metric="euclidean", seed=3, cache_dir=tmp_path / "b")
    np.testing.assert_array_equal(first, second)
    assert projection_key(points[:60], seed=3) != projection_key(points[:60])  # unseeded maps are cached apart


def test_damaged_cache_file_is_recomputed(clusters, tmp_path):
    points, _ = clusters
    points = points[:60]
    first = project(points, metric="euclidean", seed=0, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.npy")
    cached.write_bytes(b"not a numpy file")
    assert cached_projection(points, metric="euclidean", seed=0, cache_dir=tmp_path) is None
    again = project(points, metric="euclidean", seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first)  # the same seed gives the same map
    np.testing.assert_array_equal(np.load(cached), first)  # and the file is whole again
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]  # no temporary files left


def test_small_input_reduces_n_neighbors(tmp_path):
    points = np.random.default_rng(1).normal(size=(6, 5))
    coordinates = project(points, n_neighbors=15, cache_dir=tmp_path)
    assert coordinates.shape == (6, 2) and np.isfinite(coordinates).all()


def test_default_cache_dir_is_under_the_embedding_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(tmp_path / "cache"))
    points = np.random.default_rng(2).normal(size=(12, 3))
    project(points)
    assert [p.suffix for p in (tmp_path / "cache" / "projections").iterdir()] == [".npy"]


@pytest.mark.parametrize(
    "embeddings, fit_rows, message",
    [
        (np.zeros(10), None, "2-D array"),
        (np.zeros((10, 0)), None, "2-D array"),
        (np.zeros((2, 4)), None, "Load more samples"),
        (np.full((5, 4), np.nan), None, "NaN"),
        (np.zeros((10, 4)), np.ones(9, bool), "boolean mask"),
        (np.zeros((10, 4)), np.ones(10, int), "boolean mask"),
        (np.zeros((10, 4)), np.arange(10) < 2, "Load more samples"),
    ],
)
def test_bad_input_raises_projection_error(tmp_path, embeddings, fit_rows, message):
    with pytest.raises(ProjectionError, match=message):
        project(embeddings, fit_rows=fit_rows, cache_dir=tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_bad_parameters_raise_projection_error(tmp_path):
    points = np.zeros((10, 4))
    with pytest.raises(ProjectionError, match="n_neighbors"):
        project(points, n_neighbors=1, cache_dir=tmp_path)
    with pytest.raises(ProjectionError, match="min_dist"):
        project(points, min_dist=2.0, cache_dir=tmp_path)
    assert issubclass(ProjectionError, ValueError)


# --- Above fit_limit: a stratified sample is fitted, every other row placed -------------------------------------


def test_stratified_fit_mask_keeps_each_strata_share():
    from analysis.maps.placement import stratified_fit_mask

    strata = np.repeat(["real", "llm", "rare"], [7000, 2990, 10])
    mask = stratified_fit_mask(np.ones(len(strata), bool), strata, 1000, seed=0)
    kept = pd.Series(strata[mask]).value_counts()
    assert kept["real"] == 700 and kept["llm"] == 299 and kept["rare"] == 1  # floor of the share, at least one
    np.testing.assert_array_equal(mask, stratified_fit_mask(np.ones(len(strata), bool), strata, 1000, seed=0))
    pool = np.arange(len(strata)) % 2 == 0  # only rows of the pool are drawn
    assert not stratified_fit_mask(pool, strata, 500)[~pool].any()
    small = np.arange(len(strata)) < 10
    assert stratified_fit_mask(small, strata, 500) is not None and stratified_fit_mask(small, strata, 500).sum() == 10


def test_knn_place_is_the_weighted_mean_of_the_nearest_fitted_rows():
    from analysis.maps.placement import knn_place, nearest_fitted

    rng = np.random.default_rng(3)
    fitted, queries = rng.normal(size=(500, 12)), rng.normal(size=(5000, 12))  # more queries than a block
    fitted_xy = rng.normal(size=(500, 2))
    indices, similarity = nearest_fitted(fitted, queries, 7)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    brute = unit(queries) @ unit(fitted).T
    expected = np.argsort(-brute, axis=1)[:, :7]
    # the same neighbours up to float32 near-ties: the k best similarities, best first, to float32 precision
    np.testing.assert_allclose(similarity, np.take_along_axis(brute, expected, axis=1), atol=1e-5)
    np.testing.assert_allclose(similarity, np.take_along_axis(brute, indices, axis=1), atol=1e-5)
    assert (np.sort(indices, axis=1) == np.sort(expected, axis=1)).all(axis=1).mean() > 0.99
    placed = knn_place(fitted, fitted_xy, queries, k=7)
    expected = indices
    weights = 1 / (1 - np.take_along_axis(brute, expected, axis=1) + 1e-3)
    want = (weights[..., None] * fitted_xy[expected]).sum(1) / weights.sum(1, keepdims=True)
    np.testing.assert_allclose(placed, want, rtol=1e-4, atol=1e-4)
    # a query that repeats a fitted row lands (almost) on it
    np.testing.assert_allclose(knn_place(fitted, fitted_xy, fitted[:3] * 2.0, k=7), fitted_xy[:3], atol=0.05)


@pytest.mark.parametrize("placement", ["knn", "transform"])
@pytest.mark.slow  # no model, but tens of seconds of CPU on 2 cores
def test_above_fit_limit_a_sample_is_fitted_and_the_rest_placed_beside_their_cluster(
    clusters, tmp_path, monkeypatch, placement
):
    points, labels = clusters
    strata = np.where(labels == 0, "real", "llm")
    stages = []
    coordinates = project(
        points,
        metric="euclidean",
        strata=strata,
        fit_limit=60,
        placement=placement,
        cache_dir=tmp_path,
        progress=lambda stage, fraction: stages.append((stage, fraction)),
    )
    assert coordinates.shape == (len(points), 2) and np.isfinite(coordinates).all()
    assert nearest_in_same_cluster(coordinates, labels) > 0.9
    assert "Placing the other rows in the real map" in [stage for stage, _ in stages]
    fractions = [fraction for _, fraction in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # the cache answers the same plan without fitting; another plan is another map
    monkeypatch.setattr(project_module, "_fit", lambda *a, **k: pytest.fail("fitted although cached"))
    again = project(points, metric="euclidean", strata=strata, fit_limit=60, placement=placement, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, coordinates)
    assert cached_projection(points, metric="euclidean", strata=strata, fit_limit=61, cache_dir=tmp_path) is None


def test_key_carries_the_sample_plan_only_when_rows_are_placed():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(40, 4)).astype(np.float32)
    strata = np.repeat(["a", "b"], 20)
    base = projection_key(points)
    assert projection_key(points, fit_limit=None) == base == projection_key(points, fit_limit=40)  # nothing placed
    assert projection_key(points, fit_limit=40, placement="transform") == base
    planned = {
        projection_key(points, fit_limit=20),
        projection_key(points, fit_limit=21),
        projection_key(points, fit_limit=20, placement="transform"),
        projection_key(points, fit_limit=20, strata=strata),
    }
    assert len(planned) == 4 and base not in planned
    mask = np.arange(40) < 30  # fit_rows: the placement is part of the key too
    assert projection_key(points, fit_rows=mask) != projection_key(points, fit_rows=mask, placement="transform")


def test_bad_sampling_parameters_raise_projection_error(tmp_path):
    points = np.zeros((10, 4))
    with pytest.raises(ProjectionError, match="placement"):
        project(points, placement="nearest", cache_dir=tmp_path)
    with pytest.raises(ProjectionError, match="fit_limit"):
        project(points, fit_limit=2, cache_dir=tmp_path)
    with pytest.raises(ProjectionError, match="strata"):
        project(points, strata=np.zeros(9), cache_dir=tmp_path)


def test_the_cell_index_finds_nearly_every_exact_neighbour_and_falls_back_when_cells_are_too_small():
    import torch

    from analysis.maps.placement import knn_place, nearest_fitted

    rng = np.random.default_rng(5)
    centres = rng.normal(size=(40, 24))
    fitted = centres[rng.integers(0, 40, 1000)] + 0.3 * rng.normal(size=(1000, 24))
    queries = centres[rng.integers(0, 40, 1000)] + 0.3 * rng.normal(size=(1000, 24))
    exact, exact_similarity = nearest_fitted(fitted, queries, 10)
    threads = torch.get_num_threads()
    found, similarity = nearest_fitted(fitted, queries, 10, cells=32, probe=8)
    assert torch.get_num_threads() == threads  # the search's one intra-op thread is given back
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found)])
    assert recall > 0.9
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    # the similarities returned are the exact ones of the rows returned, best first
    np.testing.assert_allclose(similarity, (unit(queries)[:, None, :] * unit(fitted)[found]).sum(-1), atol=1e-5)
    assert (np.diff(similarity, axis=1) <= 1e-6).all() and (similarity <= exact_similarity + 1e-6).all()
    # a cell per fitted row and one probed: too few candidates for k = 10, so every row is searched exactly
    few, few_similarity = nearest_fitted(fitted, queries[:50], 10, cells=999, probe=1)
    np.testing.assert_allclose(few_similarity, exact_similarity[:50], atol=1e-5)
    fitted_xy = rng.normal(size=(1000, 2))
    weights = 1 / (1 - few_similarity + 1e-3)
    want = (weights[..., None] * fitted_xy[few]).sum(1) / weights.sum(1, keepdims=True)
    np.testing.assert_allclose(knn_place(fitted, fitted_xy, queries[:50]), want, atol=1e-4)


def test_a_large_placement_searches_cells_and_says_so_in_the_key(monkeypatch):
    from analysis.maps.project import place_cells

    assert place_cells(20_000, 980_000) == 141 and place_cells(20_000, 3_600) is None
    rng = np.random.default_rng(0)
    points = rng.normal(size=(40, 4)).astype(np.float32)
    exact = projection_key(points, fit_limit=20)
    monkeypatch.setattr(project_module, "CELLS_ABOVE", 10)
    assert projection_key(points, fit_limit=20) != exact
    assert projection_key(points) == projection_key(points, fit_limit=None)  # a fully fitted map places nothing


def test_a_read_only_array_is_checked_and_hashed_once_and_a_writeable_one_every_time(monkeypatch):
    rng = np.random.default_rng(0)
    frozen = rng.normal(size=(50, 4)).astype(np.float32)
    frozen.setflags(write=False)
    hashed = []
    real = project_module.bytes_sha256

    def counting(*chunks):
        hashed.append(any(isinstance(chunk, memoryview) and chunk.nbytes == frozen.nbytes for chunk in chunks))
        return real(*chunks)

    monkeypatch.setattr(project_module, "bytes_sha256", counting)
    key = projection_key(frozen)
    assert projection_key(frozen) == key and projection_key(frozen, min_dist=0.2) != key
    assert sum(hashed) == 2  # once per parameters, not once per call
    writeable = frozen.copy()
    assert projection_key(writeable) == key == projection_key(writeable)
    assert sum(hashed) == 4
    writeable[0, 0] += 1.0  # changed in place: another key
    assert projection_key(writeable) != key
    view = writeable[:]  # a read-only view of a writeable array can change: not remembered
    view.setflags(write=False)
    before = projection_key(view)
    writeable[1, 1] += 1.0
    assert projection_key(view) != before
    bad = np.full((5, 4), np.nan, np.float32)
    bad.setflags(write=False)
    for _ in range(2):
        with pytest.raises(ProjectionError, match="NaN"):
            projection_key(bad)


def test_a_progress_callback_that_raises_leaves_no_lock_held_and_the_map_cached(tmp_path):
    """Issue 31: Streamlit stops a closed tab's run by raising from its next progress call. Raised inside UMAP's
    tqdm write it left tqdm's process-wide lock held (tqdm releases it without a ``finally``), and every later
    fit in the server waited on it forever. Now the fit finishes, the map is cached, then the exception is raised;
    another thread takes tqdm's lock at once and gets the map from the cache."""
    import threading

    import tqdm

    class Stopped(Exception):
        pass

    def stop_in_the_layout(stage: str, fraction: float) -> None:
        if stage == "Laying out":
            raise Stopped(stage)

    x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    with pytest.raises(Stopped):
        project(x, cache_dir=tmp_path, progress=stop_in_the_layout)

    free: dict[str, bool] = {}

    def visitor() -> None:
        lock = tqdm.tqdm.get_lock()
        free["tqdm"] = all(part.acquire(timeout=5) for part in lock.locks)
        for part in lock.locks:
            part.release()
        stages: list[str] = []
        project(x, cache_dir=tmp_path, progress=lambda stage, fraction: stages.append(stage))
        free["cached"] = stages == ["Done"]

    thread = threading.Thread(target=visitor)
    thread.start()
    thread.join(timeout=120)
    assert free == {"tqdm": True, "cached": True}


FIT_IN_A_NEW_PROCESS = """
import numpy as np
from analysis.maps.project import umap_module
umap = umap_module()
x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
umap.UMAP(n_neighbors=5, random_state=0, n_epochs=20).fit_transform(x)
print(sum(umap.umap_.smooth_knn_dist.stats.cache_hits.values()), umap.umap_.smooth_knn_dist.stats.cache_path)
"""


def test_umaps_compiled_functions_are_cached_on_disk_for_the_next_process():
    """umap-learn compiles without numba's cache, so each process paid about 13 s before its first map; with
    ``umap_module`` the second process loads the compiled functions instead of compiling them again."""
    import subprocess
    import sys

    runs = [
        subprocess.run([sys.executable, "-c", FIT_IN_A_NEW_PROCESS], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    hits, cache_path = runs[1].stdout.split(maxsplit=1)
    assert int(hits) >= 1 and cache_path.strip() != "None", runs[1].stdout


def test_from_4096_rows_umap_gets_the_exact_neighbours_and_never_runs_nndescent(tmp_path, monkeypatch):
    """pynndescent compiles in every process (about 25 s before a first 10,000-point map), so a cosine map of 4,096
    fitted rows or more hands UMAP the exact neighbours (``_exact_neighbours``): the brute-force ones; no NNDescent."""
    import umap.umap_
    from pynndescent import NNDescent

    class Refused(NNDescent):
        def __init__(self, *args, **kwargs):
            raise AssertionError("NNDescent ran although the exact neighbours were given")

    monkeypatch.setattr(umap.umap_, "NNDescent", Refused)
    x = np.random.default_rng(0).normal(size=(4096, 16)).astype(np.float32)
    indices, distances = project_module._exact_neighbours(x, 15)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    brute = 1.0 - unit.astype(np.float64) @ unit.T.astype(np.float64)
    # no nearer row is left out: each row's 15 are distinct and none is farther than the float64 15th nearest (up to
    # float32's rounding: in this draw the 15th and 16th nearest of one row are 2e-6 apart, a tie for float32 kernels)
    fifteenth = np.sort(brute, axis=1)[:, 14]
    got = np.take_along_axis(brute, indices, axis=1)
    assert (np.sort(indices, axis=1)[:, 1:] != np.sort(indices, axis=1)[:, :-1]).all()
    assert (got <= fifteenth[:, None] + 1e-5).all() and (indices[:, 0] == np.arange(4096)).all()
    np.testing.assert_allclose(distances, got, atol=1e-5)
    coordinates = project(x, seed=0, cache_dir=tmp_path)
    assert coordinates.shape == (4096, 2) and np.isfinite(coordinates).all()
