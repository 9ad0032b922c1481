"""Occupancy of the real data's regions: where a sample is placed, the cross-fitted null, the test.

The statistics behind :mod:`analysis.maps.gaps` (whose docstring states the rule and its references):
a sample goes to the region most of its :data:`PLACE_K` nearest real neighbours belong to (cosine, in
embedding space); the real data, split into :data:`FOLDS` folds each placed among the others, is the
null; a set's share of a region is tested against it one-sided, with Benjamini–Hochberg across regions.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from analysis.maps.regions import unit_rows

__all__ = [
    "ALPHA",
    "PLACE_K",
    "FOLDS",
    "place",
    "fold_split",
    "place_among_folds",
    "cross_fit_places",
    "occupancy_pvalues",
    "bh_reject",
    "fold_dispersion",
]

#: Family-wise (Benjamini–Hochberg) false-gap rate across the regions of a set.
ALPHA = 0.05
#: Real neighbours whose regions vote for where a sample is placed.
PLACE_K = 10
#: Folds of the real data for the null (each placed among the others).
FOLDS = 5
_BLOCK = 2048


def place(
    real_unit: np.ndarray, real_region: np.ndarray, queries: np.ndarray, *, k: int = PLACE_K, regions: int | None = None
) -> np.ndarray:
    """The region of each query: the one most of its ``k`` nearest real samples (cosine) belong to.

    ``real_unit`` are unit-length real embeddings with regions ``real_region``; ``queries`` any
    embeddings (scaled to unit length here). A tie goes to the region whose tied neighbours are
    nearer (votes weighted 1 + 10⁻³ × cosine). Blockwise, so memory is one block of similarities.
    """
    real_region = np.asarray(real_region, dtype=np.int64)
    regions = int(regions if regions is not None else (real_region.max() + 1 if len(real_region) else 0))
    queries = unit_rows(queries)
    k = max(1, min(k, len(real_unit)))
    out = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), _BLOCK):
        block = queries[start : start + _BLOCK] @ real_unit.T
        near = (
            np.argpartition(-block, k - 1, axis=1)[:, :k]
            if k < block.shape[1]
            else np.tile(np.arange(block.shape[1]), (len(block), 1))
        )
        sims = np.take_along_axis(block, near, axis=1)
        votes = np.zeros((len(block), regions))
        np.add.at(
            votes, (np.repeat(np.arange(len(block)), near.shape[1]), real_region[near].ravel()), 1 + 1e-3 * sims.ravel()
        )
        out[start : start + len(block)] = votes.argmax(axis=1)
    return out


def fold_split(n: int, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Each of ``n`` items' fold: a seeded permutation dealt into ``folds`` parts of equal size (± 1)."""
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    return fold_of


def place_among_folds(
    real_unit: np.ndarray,
    real_region: np.ndarray,
    real_fold: np.ndarray,
    queries: np.ndarray,
    query_fold: np.ndarray,
    *,
    k: int = PLACE_K,
    regions: int | None = None,
) -> np.ndarray:
    """:func:`place` each query among the real samples outside its fold (``query_fold``; ``real_fold`` the
    real samples' folds): a synthetic sample is placed among as many real samples as a real one of the null."""
    regions = int(regions if regions is not None else (real_region.max() + 1 if len(real_region) else 0))
    placed = np.empty(len(queries), dtype=np.int64)
    for f in np.unique(query_fold):
        mine = query_fold == f
        others = np.flatnonzero(real_fold != f)
        placed[mine] = place(real_unit[others], real_region[others], queries[mine], k=k, regions=regions)
    return placed


def cross_fit_places(
    real_unit: np.ndarray,
    real_region: np.ndarray,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    k: int = PLACE_K,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Real samples placed as a synthetic sample would be: each fold among the real samples of the other folds.

    Returns ``(placed, fold)``: the region each of ``rows`` (default all real samples) is placed in,
    and the fold it was in. Folds are a seeded split of all real samples into ``folds`` parts (:func:`fold_split`).
    """
    n = len(real_unit)
    fold_of = fold_split(n, folds, seed)
    rows = np.arange(n) if rows is None else np.asarray(rows)
    placed = np.empty(len(rows), dtype=np.int64)
    regions = int(real_region.max()) + 1 if n else 0
    for f in range(folds):
        mine = fold_of[rows] == f
        others = np.flatnonzero(fold_of != f)
        if mine.any():
            placed[mine] = place(real_unit[others], real_region[others], real_unit[rows[mine]], k=k, regions=regions)
    return placed, fold_of[rows]


def occupancy_pvalues(
    counts: np.ndarray, size: int | np.ndarray, real_share: np.ndarray, real_placed: int, dispersion: float = 1.0
) -> np.ndarray:
    """One-sided p-values that a set of ``size`` samples, ``counts`` of them per region, holds less of each
    region than real data does (module docstring: continuity-corrected two-proportion z test, variance
    scaled by ``dispersion``). A region no sample of either holds gets p = 1."""
    counts = np.asarray(counts, dtype=np.float64)
    q = np.asarray(real_share, dtype=np.float64)
    m, n = np.asarray(size, dtype=np.float64), float(real_placed)  # a size per count, or one for all
    pooled = (q * n + counts) / (n + m)
    spread = np.sqrt(max(dispersion, 1.0) * pooled * (1 - pooled) * (1 / m + 1 / n))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (q - (counts + 0.5) / m) / spread
    return np.where(spread > 0, norm.sf(z), 1.0)


def bh_reject(pvalues: np.ndarray, alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini–Hochberg step-up at ``alpha``: which hypotheses are rejected, and the adjusted p-values."""
    p = np.asarray(pvalues, dtype=np.float64)
    r = len(p)
    if r == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    order = np.argsort(p, kind="stable")
    ranked = p[order] * r / np.arange(1, r + 1)
    adjusted_sorted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    adjusted = np.empty(r)
    adjusted[order] = adjusted_sorted
    return adjusted <= alpha, adjusted


def fold_dispersion(placed: np.ndarray, fold: np.ndarray, share: np.ndarray, folds: int) -> float:
    """How much more the folds' shares spread around the real share than binomial sampling says (at least 1)."""
    stats, dof = 0.0, 0
    for r in np.flatnonzero((share > 0) & (share < 1)):
        for f in range(folds):
            n_f = int((fold == f).sum())
            if n_f == 0:
                continue
            s = float(((placed == r) & (fold == f)).sum()) / n_f
            stats += n_f * (s - share[r]) ** 2 / (share[r] * (1 - share[r]))
            dof += 1
    regions = int(((share > 0) & (share < 1)).sum())
    dof -= regions  # one share estimated per region
    return max(1.0, stats / dof) if dof > 0 else 1.0
