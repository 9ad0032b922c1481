"""Occupancy of the real data's regions: where a sample is placed, the cross-fitted null, the test.

The statistics behind :mod:`analysis.maps.gaps` (whose docstring states the rule and its references):
a sample goes to the region most of its :data:`PLACE_K` nearest real neighbours belong to (cosine, in
embedding space); the real data, split into :data:`FOLDS` folds each placed among the others, is the
null; a set's share of a region is tested against it one-sided, with Benjamini–Hochberg across regions;
:func:`rule_gaps` applies the rule, and :func:`named_if_absent` is its power against a region a set lacks.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom, norm

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
    "leak_shares",
    "rule_gaps",
    "named_if_absent",
    "size_to_vouch",
    "MAX_RATIO",
    "FLOOR_REAL",
    "FLOOR_EXPECTED",
    "FLOOR_RATIO",
    "VOUCH",
]

#: Family-wise (Benjamini–Hochberg) false-gap rate across the regions of a set.
ALPHA = 0.05
#: Real neighbours whose regions vote for where a sample is placed.
PLACE_K = 10
#: Folds of the real data for the null (each placed among the others).
FOLDS = 5
_BLOCK = 2048
#: A tested gap holds at most this share of the region's real share.
MAX_RATIO = 0.5
#: The floor rule: at least this many real samples in the region, this many samples the set would
#: expect there, and less than this share of the real share held, and the region is a gap.
FLOOR_REAL = 20
FLOOR_EXPECTED = 10.0
FLOOR_RATIO = 0.1
#: A region a set does not name as a gap is vouched for when a set of its size with none of the region would be
#: named at least this often (:func:`named_if_absent`); below it, the set is too small to say the region is held.
VOUCH = 0.9


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


def leak_shares(true_region: np.ndarray, placed: np.ndarray, regions: int) -> np.ndarray:
    """Per region r, the share of the samples of other regions that are placed in r (``true_region`` each sample's
    own region, ``placed`` where it was placed): the share of r that a set with no sample of r still holds, when
    its samples are otherwise drawn as these are (the *leak*, docs/seeing.md). 0 where no sample is outside r."""
    true_region, placed = np.asarray(true_region, dtype=np.int64), np.asarray(placed, dtype=np.int64)
    outside = len(true_region) - np.bincount(true_region, minlength=regions)
    into = np.bincount(placed[placed != true_region], minlength=regions)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(outside > 0, into / np.maximum(outside, 1), 0.0)


def rule_gaps(rejected, counts, size, real_share, region_size) -> tuple[np.ndarray, np.ndarray]:
    """The gap rule (:data:`analysis.maps.gaps.RULE`) on a set's ``counts`` per region, ``rejected`` by the test:
    ``(tested, floor)`` gaps."""
    share = np.asarray(counts) / size
    tested = np.asarray(rejected) & (share <= MAX_RATIO * real_share)
    floor = (region_size >= FLOOR_REAL) & (size * real_share >= FLOOR_EXPECTED) & (share < FLOOR_RATIO * real_share)
    return tested, floor


def named_if_absent(
    real_share: np.ndarray,
    leak: np.ndarray,
    size: int,
    real_placed: int,
    region_size: np.ndarray,
    *,
    dispersion: float = 1.0,
    alpha: float = ALPHA,
    regions: int | None = None,
) -> np.ndarray:
    """Per region, the chance the gap rule (:func:`rule_gaps`) names it for a set of ``size`` samples with none of it.

    Such a set, otherwise drawn as the real data is, still holds Binomial(size, leak) samples in the region
    (:func:`analysis.maps.occupancy.leak_shares`: other regions' texts placed there). The chance is the sum of
    that distribution over the counts the rule names: the test's p-value at most ``alpha`` / regions
    (Benjamini–Hochberg's threshold when the region is the set's only gap, so a lower bound where it has
    more) and at most half the real share, or the floor rule. It is the test's power against a complete
    miss: below :data:`VOUCH`, a region the set does not name may still be missing. ``regions``: how many
    regions the set is tested in (default ``len(real_share)``).
    """
    real_share, leak, region_size = np.asarray(real_share), np.asarray(leak), np.asarray(region_size)
    out = np.zeros(len(real_share))
    threshold = alpha / (regions or len(real_share))
    for r in np.flatnonzero(real_share > 0):
        counts = np.arange(int(MAX_RATIO * real_share[r] * size) + 1)  # no larger count is ever named
        p = occupancy_pvalues(counts, size, np.full(len(counts), real_share[r]), real_placed, dispersion)
        tested, floor = rule_gaps(p <= threshold, counts, size, real_share[r], region_size[r])
        out[r] = float(binom.pmf(counts[tested | floor], size, leak[r]).sum())
    return out


def size_to_vouch(
    real_share: float,
    leak: float,
    size: int,
    real_placed: int,
    region_size: int,
    *,
    regions: int,
    cap: int,
    dispersion: float = 1.0,
    alpha: float = ALPHA,
) -> int | None:
    """The smallest set size above ``size`` (steps of a quarter, at most ``cap``) at which :func:`named_if_absent`
    of one region (among ``regions``) reaches :data:`VOUCH`; None when none does."""
    bigger = size
    while bigger < cap:
        bigger = min(int(np.ceil(bigger * 1.25)), cap)
        power = named_if_absent(
            np.array([real_share]),
            np.array([leak]),
            bigger,
            real_placed,
            np.array([region_size]),
            dispersion=dispersion,
            alpha=alpha,
            regions=regions,
        )
        if power[0] >= VOUCH:
            return bigger
    return None
