"""analysis.metrics.knn: exact k-NN radii and ball membership from a low-precision GEMM.

The reference is a float64 brute force with the same per-pair arithmetic (``Σ (a_t - b_t)²``),
so the comparisons are exact equalities: the error bound must send every pair to the side the
brute force puts it, ties and near-ties included.
"""

import numpy as np
import pytest

from analysis.metrics import knn

# bfloat16 has no hardware path on CPUs without AVX-512 BF16: tens of seconds a case, so in the slow lane
KINDS = [pytest.param("bfloat16", marks=pytest.mark.slow), "float32"]


def brute_d2(a, b):
    return np.array([[knn._exact_sq(x, y) for y in b] for x in a])


def datasets():
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(300, 32))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    grid = rng.integers(0, 3, size=(260, 4)).astype(float)  # many exact duplicates and tied distances
    clumped = np.vstack([np.repeat(rng.normal(size=(1, 8)), 40, axis=0), rng.normal(size=(150, 8))])
    offset = rng.normal(size=(200, 16)) * 1e-3 + 50.0  # far from the origin, tiny spread
    return {"gaussian": rng.normal(size=(250, 24)), "unit": unit, "grid": grid, "clumped": clumped, "offset": offset}


@pytest.fixture(scope="module")
def data():
    return datasets()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["gaussian", "unit", "grid", "clumped", "offset"])
@pytest.mark.parametrize("block_bytes", [64 * 1024 * 1024, 3000])
def test_kth_neighbour_equals_brute_force(data, name, kind, block_bytes, monkeypatch):
    monkeypatch.setattr(knn, "BLOCK_BYTES", block_bytes)
    x = data[name]
    p = knn.prepare(x, kind=kind)
    d2 = brute_d2(p.x, p.x)
    for kth in (1, 5, 30):
        expected = np.partition(d2, kth, axis=1)[:, kth]
        assert np.array_equal(knn.kth_neighbour_sq(p, kth), expected), (name, kth)
    # and against numpy's own arithmetic on the uncentred data, to rounding
    raw = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(
        knn.kth_neighbour_sq(x, 5, kind=kind), np.partition(raw, 5, axis=1)[:, 5], rtol=1e-9, atol=1e-9
    )


def test_rows_with_more_ties_than_candidates_fall_back_to_a_full_row(data):
    # 40 identical rows: each has 39 neighbours at distance 0, more than kth + 1 + SLACK candidates
    x = data["clumped"]
    p = knn.prepare(x, kind="bfloat16")
    kth = 5
    n = len(x)
    lows = np.full((n, kth + 1 + knn.SLACK), np.inf)
    index = np.zeros_like(lows, dtype=np.int64)
    worst = np.full(n, np.inf)
    terms = knn._terms(p, p)
    for start, stop, first, g in knn._blocks(p, p, upper=True):
        knn._scan_rows(g, start, first, *terms, lows, index, worst, 2)
        if stop < n:
            knn._scan_columns(g, start, first, stop - start, *terms, lows, index, worst, 2)
    _, certain = knn._finish_kth(p.x, lows, index, worst, kth)
    assert not certain[:40].any() and certain[40:].mean() > 0.5  # rows near the clump may fall back too
    assert np.array_equal(knn.kth_neighbour_sq(p, kth), np.partition(brute_d2(p.x, p.x), kth, axis=1)[:, kth])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["gaussian", "unit", "grid", "offset"])
def test_ball_counts_equal_brute_force_with_radii_on_the_ties(data, name, kind):
    rng = np.random.default_rng(1)
    x = data[name]
    half = len(x) // 2
    a_raw, b_raw = x[:half], x[half:]
    centre = a_raw.mean(axis=0)
    a, b = knn.prepare(a_raw, centre, kind), knn.prepare(b_raw, centre, kind)
    d2 = brute_d2(a.x, b.x)
    # Radii set exactly on a pair's distance: the strict "<" must leave that pair out.
    a_r2 = d2[np.arange(len(d2)), rng.integers(0, d2.shape[1], len(d2))]
    b_r2 = d2[rng.integers(0, d2.shape[0], d2.shape[1]), np.arange(d2.shape[1])]
    held, holding, reached = knn.ball_counts(a, a_r2, b, b_r2)
    inside = d2 < a_r2[:, None]
    assert np.array_equal(held, inside.sum(axis=1))
    assert np.array_equal(holding, inside.any(axis=0))
    assert np.array_equal(reached, (d2 < b_r2[None, :]).any(axis=1))
    held, holding, reached = knn.ball_counts(a_raw, a_r2, b_raw, kind=kind)  # no point balls
    assert not reached.any() and np.array_equal(held, inside.sum(axis=1))


@pytest.mark.parametrize("kind", KINDS)
def test_error_bound_holds(data, kind):
    """Every pair's approximate d2 is within the bound the kernels use, on every dataset."""
    for name, x in data.items():
        p = knn.prepare(x, kind=kind)
        shift, u2, row_e, sq_a, sq_b = knn._terms(p, p)
        ((_, _, _, g),) = knn._blocks(p, p)
        v = (g.astype(np.uint32) << np.uint32(shift)).view(np.float32).astype(np.float64)
        approx = sq_a[:, None] + sq_b[None, :] - 2 * v
        bound = row_e[:, None] + u2 * np.abs(v)
        assert (np.abs(brute_d2(p.x, p.x) - approx) <= bound).all(), name


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e16])
def test_bad_features_are_refused(bad):
    x = np.zeros((5, 3))
    x[2, 1] = bad
    with pytest.raises(ValueError, match="finite numbers below 1e15"):
        knn.prepare(x)


def test_gemm_kind_can_be_forced(monkeypatch):
    knn.gemm_kind.cache_clear()
    monkeypatch.setenv("COLLAPSE_LAB_GEMM", "float32")
    try:
        assert knn.gemm_kind() == "float32"
    finally:
        knn.gemm_kind.cache_clear()
