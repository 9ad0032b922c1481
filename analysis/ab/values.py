"""The value of each metric on a subset of the A/B pool, dispatched on the catalogue record's kind.

:func:`value` computes a metric of :mod:`analysis.metrics.catalog` for pool rows ``s`` (of side A
or B) against reference rows ``ref``, from the features of an :class:`analysis.ab.context.ABContext`;
the A/B test calls it for the observed sets and for every resample. :data:`VALUES` holds one function
per kind (:attr:`analysis.metrics.catalog.Metric.kind`) and :data:`PER_SAMPLE` the per-row values of
the metrics that are means over a set's samples, so a new metric of an existing kind needs only its
catalogue record.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from analysis.ab.context import ABContext
from analysis.metrics import diversity, drift, fidelity, kernels, utility
from analysis.metrics.catalog import Metric

__all__ = ["value", "per_sample", "VALUES", "PER_SAMPLE", "NEAREST_KINDS"]

#: kind -> the per-pool-row values whose mean over a set is the metric (the ``sample`` metrics).
PER_SAMPLE: dict[str, Callable[[ABContext], np.ndarray]] = {
    "precision": lambda ctx: np.asarray(ctx.balls_holding > 0, np.float64),
    "density": lambda ctx: ctx.balls_holding / ctx.k,
    "nearest-real similarity": lambda ctx: ctx.nearest_train,
    "exact copy rate": lambda ctx: ctx.copies,
    "near copy rate": lambda ctx: (ctx.nearest_real >= 0.95).astype(np.float64),
    "holdout copy rate": lambda ctx: ctx.holdout_copies,
}


def per_sample(ctx: ABContext, metric: Metric) -> np.ndarray:
    """Per pool row, the value whose mean over a set is ``metric`` (a metric of :data:`PER_SAMPLE`'s kinds)."""
    return PER_SAMPLE[metric.kind](ctx)


_Value = Callable[[ABContext, Metric, int, np.ndarray, np.ndarray], float]

#: The per-sample kinds the exact nearest-real search gives: over the queried rows (all below the cap).
NEAREST_KINDS = frozenset({"nearest-real similarity", "near copy rate"})


def _mean(ctx: ABContext, metric: Metric, s: np.ndarray) -> float:
    """The mean of ``metric``'s per-row values over ``s`` (its queried rows for the nearest-real kinds)."""
    if ctx.query_capped and metric.kind in NEAREST_KINDS:
        s = s[ctx.queried[s]]
    return float(per_sample(ctx, metric)[s].mean())


def _distinct(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    counts = ctx.ngram_counts(s, metric.parameter or 1)
    total = counts.sum()
    return float(np.count_nonzero(counts) / total) if total else 0.0


def _coverage(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    """Coverage, or tail coverage of the rarest ``metric.parameter`` tenths."""
    if fidelity.coverage_unsupported(len(ctx.reference), ctx.k):
        return float("nan")  # below the coverage floor, as in compare: no number rather than an inflated one
    covered = ctx.reached(s)[ref]
    if metric.kind == "tail coverage":
        covered = covered[ctx.tail_mask(metric.parameter or 1)[ref]]
    return float(covered.mean()) if covered.size else float("nan")


def _recall(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    return float(ctx.reached(s, recall=True)[ref].mean())


def _rare_tokens(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    rare, total = ctx.rare_ids
    if not total:
        return float("nan")
    return float(np.count_nonzero(ctx.ngram_counts(s, 1)[rare]) / total)


#: From this many reference samples on, the resampled reference's mean embedding is a weighted sum (counts of each
#: drawn row times its embedding) instead of the mean of a gathered copy: the same mean up to rounding, without
#: copying the reference (20,000 × 384 floats) in every round.
MEAN_BY_COUNTS_FROM = 5_000


def _centroid_shift(ctx: ABContext, s: np.ndarray, ref: np.ndarray) -> float:
    if len(ctx.ref_x) < MEAN_BY_COUNTS_FROM:
        return drift.centroid_shift(ctx.ref_x[ref], ctx.x[s])
    counts = np.bincount(ref, minlength=len(ctx.ref_x)).astype(np.float64)
    a, b = counts @ ctx.ref_x / len(ref), ctx.x[s].mean(axis=0)
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _label_divergence(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    ref_codes, codes, count = ctx.label_codes
    p = np.bincount(ref_codes[ref][ref_codes[ref] >= 0], minlength=count).astype(np.float64)
    q = np.bincount(codes[s][codes[s] >= 0], minlength=count).astype(np.float64)
    return kernels.jensen_shannon(p, q)


def _perplexity(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    logs, counts = ctx.perplexity_parts[side]
    return float(math.exp(-logs[ref].sum() / counts[ref].sum()))


def _tstr(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    """TSTR macro-F1 or accuracy of side's classifier on the reference rows ``ref`` that have a label."""
    true, predicted, labels, kept = ctx.tstr_codes
    side_predicted = predicted[side]
    if side_predicted is None:
        return float("nan")
    position = np.full(len(ctx.ref_x), -1)
    position[kept] = np.arange(len(kept))
    chosen = position[ref]
    chosen = chosen[chosen >= 0]
    if metric.kind == "TSTR accuracy":
        return float((true[chosen] == side_predicted[chosen]).mean())
    return kernels.macro_f1(true[chosen], side_predicted[chosen], labels)


def _detection(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    result = ctx.detection[side]
    real = result.real_scores[ref]
    synthetic = result.synthetic_scores[s - ctx.sides[side][0]]
    return utility.roc_auc(real[~np.isnan(real)], synthetic[~np.isnan(synthetic)])


#: kind -> the metric of pool rows ``s`` (of side 0 = A or 1 = B) against reference positions ``ref``.
VALUES: dict[str, _Value] = {
    "distinct": _distinct,
    "entropy": lambda ctx, m, side, s, ref: kernels.entropy_bits(ctx.ngram_counts(s, m.parameter or 1)),
    "mean pairwise distance": lambda ctx, m, side, s, ref: diversity.mean_pairwise_distance(ctx.x[s]),
    **{kind: lambda ctx, m, side, s, ref: _mean(ctx, m, s) for kind in PER_SAMPLE},
    "coverage": _coverage,
    "tail coverage": _coverage,
    "recall": _recall,
    "rare-token coverage": _rare_tokens,
    "duplicate rate": lambda ctx, m, side, s, ref: float(1 - len(np.unique(ctx.text_ids[s])) / len(s)),
    "centroid shift": lambda ctx, m, side, s, ref: _centroid_shift(ctx, s, ref),
    "label divergence": _label_divergence,
    "length KS": lambda ctx, m, side, s, ref: kernels.ks_statistic(ctx.ref_lengths[ref], ctx.lengths[s]),
    "compression ratio": lambda ctx, m, side, s, ref: diversity.compression_ratio(list(ctx.texts[s])),
    "self-BLEU": lambda ctx, m, side, s, ref: diversity.self_bleu(list(ctx.texts[s]), sample_size=500, seed=ctx.seed),
    "vendi": lambda ctx, m, side, s, ref: diversity.vendi_score(ctx.x[s]),
    "frechet distance": lambda ctx, m, side, s, ref: fidelity.frechet_distance(ctx.ref_x[ref], ctx.x[s]),
    "mauve": lambda ctx, m, side, s, ref: fidelity.mauve_score(ctx.ref_x[ref], ctx.x[s], ctx.seed),
    "perplexity on real": _perplexity,
    "TSTR macro-F1": _tstr,
    "TSTR accuracy": _tstr,
    "detection AUC": _detection,
}


def value(ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    """``metric`` of the pool rows ``s`` (of set ``side``) against the reference rows ``ref`` (positions in it)."""
    return VALUES[metric.kind](ctx, metric, side, s, ref)
