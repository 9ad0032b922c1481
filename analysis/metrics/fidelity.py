"""Fidelity and coverage of a synthetic set against real data, in embedding space.

:func:`prdc`, :func:`knn_radii` and :func:`covered_by` are exact and blockwise (no n × m distance
matrix is ever held in memory); :mod:`analysis.metrics.knn` computes them. :func:`squared_distances`,
:func:`kth_smallest` and :func:`block_rows` are the plain float64 blocks the mixture engine and the A/B
test build on.

Coverage has one definition here (:func:`covered_by`) and one floor (:func:`coverage_unsupported`):
the Embedding map's uncovered marks, the Tail coverage tables and ``compare``'s coverage rows all
use both, with the real holdout as the reference (:func:`analysis.judge.compare.coverage_reference`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from analysis.metrics import knn

__all__ = [
    "prdc",
    "prdc_counts",
    "prepare_reference",
    "PreparedReference",
    "knn_radii",
    "covered_by",
    "coverage_floor",
    "group_floor",
    "coverage_unsupported",
    "nearest_similarity",
    "frechet_distance",
    "mauve_score",
    "block_rows",
    "squared_distances",
    "kth_smallest",
    "BLOCK_BYTES",
    "REFERENCE_PER_K",
    "GROUP_PER_K",
]

#: Bytes of distance matrix held at once by the float64 blockwise computations.
BLOCK_BYTES = 64 * 1024 * 1024


def _as_array(x: np.ndarray, dtype) -> np.ndarray:
    x = np.asarray(x, dtype=dtype)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError("features must be a non-empty (n, d) array")
    return x


def block_rows(columns: int, dtype) -> int:
    """Rows of a block of ``columns`` distances of ``dtype`` that fit in :data:`BLOCK_BYTES` (at least 1)."""
    return max(1, BLOCK_BYTES // (columns * np.dtype(dtype).itemsize))


def squared_distances(a: np.ndarray, a_norms: np.ndarray, b: np.ndarray, b_norms: np.ndarray) -> np.ndarray:
    """``|a_i - b_j|^2`` for a block of rows, through ``|a|^2 - 2 a·b + |b|^2``, clipped at 0."""
    d = (-2.0 * a) @ b.T  # scaling the small block, not the product, saves a pass over the product
    d += a_norms[:, None]
    d += b_norms[None, :]
    np.maximum(d, 0.0, out=d)
    return d


def kth_smallest(d2: np.ndarray, kth: int) -> np.ndarray:
    """Per row, the value a full ``np.partition(d2, kth, axis=1)[:, kth]`` would give, faster.

    The kth smallest of the first few hundred columns bounds the row's kth smallest from above,
    so only the values at or below that bound (a few per cent of the row) need partitioning.
    The result is exact: every value up to the true kth smallest passes the bound.
    """
    rows_n, columns_n = d2.shape
    sample = max(256, 8 * (kth + 1))
    if columns_n <= 2 * sample:
        return np.partition(d2, kth, axis=1)[:, kth]
    bound = np.partition(d2[:, :sample], kth, axis=1)[:, kth]
    rows, columns = np.nonzero(d2 <= bound[:, None])
    counts = np.bincount(rows, minlength=rows_n)
    starts = np.cumsum(counts) - counts
    kept = np.full((rows_n, int(counts.max())), np.inf, dtype=d2.dtype)
    kept[rows, np.arange(len(rows)) - starts[rows]] = d2[rows, columns]
    return np.partition(kept, kth, axis=1)[:, kth]


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Euclidean distance from each row to its k-th nearest other row (the row itself excluded).

    As in Naeem et al.: the (k + 1)-th smallest distance counting the row's zero distance to
    itself, so exact duplicates count as neighbours at distance 0. Exact (equal to a float64
    brute force) and fast: see :mod:`analysis.metrics.knn`.
    """
    x = _as_array(x, np.float64)
    if not 1 <= k < len(x):
        raise ValueError(f"k must be between 1 and n - 1 = {len(x) - 1}, got {k}")
    return np.sqrt(knn.kth_neighbour_sq(x, k))


def covered_by(real: np.ndarray, synthetic: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """For each reference row: does its k-NN ball hold at least one synthetic row? The per-sample coverage.

    Definition (Naeem, Oh, Uh, Choi and Yoo, "Reliable Fidelity and Diversity Metrics for
    Generative Models", ICML 2020): a reference sample ``r`` is *covered* by a synthetic set ``S``
    when some ``s`` in ``S`` has ``|s - r| < radius(r)``, where ``radius(r)`` (``radii``, from
    :func:`knn_radii`) is the distance from ``r`` to its k-th nearest other *reference* sample.
    Coverage of a group of reference samples (all of them, a rarity bin, a label) is the share of
    it that is covered: range [0, 1], higher is better. ``prdc``'s coverage is its mean.

    The balls are only as fine as the reference is large: each one holds k of the n reference
    samples, so it spans about k / n of the real data. Coverage is therefore reported only above a
    floor (:func:`coverage_unsupported`): n >= 40 k for the reference (200 at k = 5), and >= 4 k
    reference samples in any group whose share is reported.
    """
    real = _as_array(real, np.float64)
    synthetic = _as_array(synthetic, np.float64)
    held, _, _ = knn.ball_counts(real, np.asarray(radii, dtype=np.float64) ** 2, synthetic)
    return held > 0


#: A coverage share is reported for a group of reference samples (a rarity bin, a label) only when
#: the group holds at least ``GROUP_PER_K × k`` of them: each k-NN ball then spans at most a quarter of it.
GROUP_PER_K = 4
#: The reference must resolve groups of a tenth of it (a rarity bin of ten, a topic of ten): at least
#: ``REFERENCE_PER_K × k`` = ``10 × GROUP_PER_K × k`` samples, 200 at k = 5.
REFERENCE_PER_K = 10 * GROUP_PER_K


def coverage_floor(k: int) -> int:
    """Fewest reference samples whose k-NN balls support a coverage number: ``40 k`` (200 at k = 5)."""
    return REFERENCE_PER_K * k


def group_floor(k: int) -> int:
    """Fewest reference samples a group (rarity bin, label) needs for its coverage share: ``4 k`` (20 at k = 5)."""
    return GROUP_PER_K * k


def coverage_unsupported(n: int, k: int, *, reference: str = "real reference", held_out: bool = True) -> str:
    """Why ``n`` reference samples cannot support a coverage number at ``k``; ``""`` when they can.

    The rule: a reference sample's k-NN ball holds k of the n reference samples, so it spans about
    k / n of the real data, and every synthetic sample anywhere inside it counts as covering. At
    n = 60 and k = 5 one ball spans 8 % of the data, as much as half of a topic when there are six.
    Measured on MiniLM embeddings of short sentences on six topics, a set with text on two of them
    was credited with 10-60 % of each of the other four at n = 60, at most 3 % at n = 198 and none
    at n = 300. With
    n >= 40 k (:func:`coverage_floor`) a ball spans at most 2.5 %, a quarter of a tenth, so the ten
    rarity bins, or ten topics, each hold at least 4 k reference samples (:func:`group_floor`) and a
    set gets credit only near text it has. Below the floor the number is not reported (NaN, with
    this reason) rather than shown as a plain, inflated share. ``held_out`` False: the reference is
    all the real data (cross-fitted), so the advice is only to load more.
    """
    floor = coverage_floor(k)
    if n >= floor:
        return ""
    return (
        f"Coverage is not reported: the {reference} has {n:,} samples, and coverage with k = {k} neighbours "
        f"needs at least {floor:,} (40 × k). Among {n:,} samples each sample's {k}-NN ball spans about "
        f"{k / max(n, 1):.0%} of the real data, wide enough to credit a set with regions it has no text in. "
        + (
            "Load more real data, or judge coverage by all of it, cross-fitted (the coverage reference on the "
            "Data page, or --coverage crossfit on the command line), or hold out a larger share of it (10 % by "
            "default: --holdout 0.3). Named gaps need no holdout."
            if held_out
            else "Load more real data."
        )
    )


def nearest_similarity(queries: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the cosine similarity to its nearest pool row and that row's index (blockwise).

    The nearest row is found with float32 products (fast); its similarity is then computed again in
    float64 from the two rows alone, so the value does not depend on the BLAS kernel's rounding.
    """
    queries_32 = _as_array(queries, np.float32)
    pool_32 = _as_array(pool, np.float32)
    queries_32 = queries_32 / np.linalg.norm(queries_32, axis=1, keepdims=True)
    pool_32 = pool_32 / np.linalg.norm(pool_32, axis=1, keepdims=True)
    index = np.empty(len(queries_32), dtype=np.int64)
    step = block_rows(len(pool_32), np.float32)
    if step < min(TILE_ROWS, len(queries_32)):  # a large pool: tiles, so the pool is read once per TILE_ROWS queries
        index = _nearest_tiled(queries_32, pool_32)[1]
    else:
        for start in range(0, len(queries_32), step):
            index[start : start + step] = (queries_32[start : start + step] @ pool_32.T).argmax(axis=1)
    return _pair_cosines(queries, pool, index), index


def _pair_cosines(queries: np.ndarray, pool: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Cosine of each query row with pool row ``index[i]``, in float64 (elementwise: no BLAS kernel involved)."""
    best = np.empty(len(index), dtype=np.float64)
    for start in range(0, len(index), 65_536):  # blocks: never a float64 copy of every query at once
        q = np.asarray(queries[start : start + 65_536], dtype=np.float64)
        p = np.asarray(pool[index[start : start + 65_536]], dtype=np.float64)
        norms = np.sqrt((q * q).sum(axis=1) * (p * p).sum(axis=1))
        best[start : start + len(q)] = (q * p).sum(axis=1) / np.where(norms > 0, norms, 1.0)
    return best


@dataclass(frozen=True)
class PreparedReference:
    """A real set prepared once for :func:`prdc` against many synthetic sets: its centre (its mean), its
    rounded rows and its squared k-NN radii, exactly what :func:`prdc` would compute for it on each call."""

    centre: np.ndarray
    prepared: knn.Prepared
    r2: np.ndarray
    k: int


def prepare_reference(real: np.ndarray, k: int = 5) -> PreparedReference:
    """``real`` prepared for repeated :func:`prdc` calls (the same numbers, the reference's radii computed once)."""
    real = _as_array(real, np.float64)
    if not 1 <= k < len(real):
        raise ValueError(f"k must be between 1 and the real set's size - 1 = {len(real) - 1}, got {k}")
    centre = real.mean(axis=0)
    prepared = knn.prepare(real, centre)
    return PreparedReference(centre=centre, prepared=prepared, r2=knn.kth_neighbour_sq(prepared, k), k=k)


#: Query rows per tile of :func:`nearest_similarity` when a row block would hold fewer (a pool above ~65,000 rows).
TILE_ROWS = 1024


def _nearest_tiled(queries: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`nearest_similarity` of unit rows in tiles of TILE_ROWS queries × a pool slice (64 MB each): the
    first largest similarity of each query, as the one-block argmax gives it."""
    best = np.full(len(queries), -np.inf)
    index = np.zeros(len(queries), dtype=np.int64)
    width = max(1, BLOCK_BYTES // (TILE_ROWS * 4))
    for start in range(0, len(queries), TILE_ROWS):
        rows = slice(start, start + TILE_ROWS)
        for first in range(0, len(pool), width):
            similarity = queries[rows] @ pool[first : first + width].T
            at = similarity.argmax(axis=1)
            value = similarity[np.arange(len(similarity)), at].astype(np.float64)
            better = value > best[rows]  # strictly: on a tie the earlier column stays, as argmax keeps it
            best[rows] = np.where(better, value, best[rows])
            index[rows] = np.where(better, at + first, index[rows])
    return best, index


def prdc_counts(
    real: np.ndarray, synthetic: np.ndarray, *, k: int = 5, reference: PreparedReference | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The counts :func:`prdc` is made of: per real k-NN ball, how many synthetic samples it holds; per synthetic
    sample, whether some real ball holds it; per real sample, whether it lies in some synthetic sample's ball."""
    real = _as_array(real, np.float64)
    synthetic = _as_array(synthetic, np.float64)
    if real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"real and synthetic have different dimensions: {real.shape[1]} vs {synthetic.shape[1]}")
    for name, x in (("real", real), ("synthetic", synthetic)):
        if not 1 <= k < len(x):
            raise ValueError(f"k must be between 1 and the {name} set's size - 1 = {len(x) - 1}, got {k}")
    if reference is None or reference.k != k:
        reference = prepare_reference(real, k)
    real_prepared, real_r2 = reference.prepared, reference.r2
    synthetic_prepared = knn.prepare(synthetic, reference.centre)
    synthetic_r2 = knn.kth_neighbour_sq(synthetic_prepared, k)
    return knn.ball_counts(real_prepared, real_r2, synthetic_prepared, synthetic_r2)


def prdc(
    real: np.ndarray, synthetic: np.ndarray, *, k: int = 5, reference: PreparedReference | None = None
) -> dict[str, float]:
    """Precision, recall, density and coverage of ``synthetic`` against ``real`` (Naeem et al. 2020).

    With ``B(x, r)`` the ball around x whose radius r is the distance to its k-th nearest
    neighbour within its own set, ``R`` the real and ``S`` the synthetic features:

    - precision = share of synthetic samples inside some real ball (fidelity);
    - recall = share of real samples inside some synthetic ball (diversity);
    - density = (1 / k) × mean over synthetic samples of the number of real balls holding them
      (fidelity that rewards dense regions; can exceed 1);
    - coverage = share of real balls that hold at least one synthetic sample.

    Reference: Naeem, Oh, Uh, Choi and Yoo, "Reliable Fidelity and Diversity Metrics for
    Generative Models", ICML 2020; the ``prdc`` package is its reference implementation and gives
    the same values. Ranges [0, 1] (density [0, n/k]); higher is better for all four.

    Exact, as a float64 brute force; computed by :mod:`analysis.metrics.knn` (a low-precision
    GEMM whose per-pair error bound decides almost every comparison, float64 for the rest), one
    row block of about 64 MB at a time, so memory stays O(block × max(n, m)). ``reference``
    (:func:`prepare_reference` of ``real`` at the same ``k``) skips preparing ``real`` and its radii
    again when one real set judges many synthetic sets; the numbers are the same.
    """
    held, holding, recalled = prdc_counts(real, synthetic, k=k, reference=reference)
    return {
        "precision": float(holding.mean()),
        "recall": float(recalled.mean()),
        "density": float(held.sum() / (k * len(holding))),
        "coverage": float((held > 0).mean()),
    }


def frechet_distance(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings.

    ``FD = |μ_r - μ_s|^2 + Tr(Σ_r + Σ_s - 2 (Σ_r Σ_s)^{1/2})`` (Heusel et al., "GANs Trained by a Two
    Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017; on sentence
    embeddings as in Semeniuta et al. 2018). Range [0, ∞); lower is better. Needs more samples
    than dimensions for a stable covariance.

    The trace term is computed with symmetric eigendecompositions only: with ``A = Σ_r^{1/2}``,
    ``Σ_r Σ_s = A (A Σ_s A) A^{-1}`` has the eigenvalues of the symmetric ``A Σ_s A``, so
    ``Tr (Σ_r Σ_s)^{1/2}`` is the sum of their square roots. It equals the general matrix square
    root (``scipy.linalg.sqrtm``, as pytorch-fid computes it) where that one is accurate, needs no
    offset for singular covariances (fewer samples than dimensions), and is stable across BLAS and
    LAPACK kernels: eigenvalues below ``dimension × machine epsilon`` of the largest, rounding noise
    whose square root would be far above it, count as zero.
    """
    real = _as_array(real, np.float64)
    synthetic = _as_array(synthetic, np.float64)
    mu_r, mu_s = real.mean(axis=0), synthetic.mean(axis=0)
    sigma_r = np.atleast_2d(np.cov(real, rowvar=False))
    sigma_s = np.atleast_2d(np.cov(synthetic, rowvar=False))
    values_r, vectors_r = _psd_eigh(sigma_r)
    root_r = (vectors_r * np.sqrt(values_r)) @ vectors_r.T
    product = root_r @ sigma_s @ root_r
    trace_root = float(np.sqrt(_psd_eigh((product + product.T) / 2)[0]).sum())
    return float(((mu_r - mu_s) ** 2).sum() + np.trace(sigma_r) + np.trace(sigma_s) - 2 * trace_root)


def _psd_eigh(symmetric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of a symmetric positive semi-definite matrix; eigenvalues within
    rounding of zero (below ``dimension × machine epsilon`` of the largest) set to 0."""
    values, vectors = linalg.eigh(symmetric)
    floor = len(values) * np.finfo(np.float64).eps * max(float(values.max(initial=0.0)), 0.0)
    return np.where(values > floor, values, 0.0), vectors


def mauve_score(reference: np.ndarray, candidate: np.ndarray, seed: int) -> float:
    """MAUVE of ``candidate`` against ``reference`` embeddings, through the ``mauve-text`` package.

    The area under the divergence frontier of the two sets quantised by k-means (Pillutla et al.,
    "MAUVE: Measuring the Gap Between Neural Text and Human Text", NeurIPS 2021); range (0, 1],
    higher is closer. The k-means is seeded with ``seed + 25`` (as ``compare`` always seeded it), with
    mauve-text's automatic number of buckets. A few seconds a set.
    """
    import mauve

    result = mauve.compute_mauve(
        p_features=reference, q_features=candidate, seed=seed + 25, verbose=False, num_buckets="auto"
    )
    return float(result.mauve)
