"""The value of each metric on a subset of the A/B pool: the catalogue's one computation on the pool's features.

:func:`value` computes a metric of :mod:`analysis.metrics.catalog` for pool rows ``s`` (of side A
or B) against reference rows ``ref``: :meth:`~analysis.metrics.catalog.Metric.compute` on a
:class:`PoolView`, which reads the :class:`analysis.metrics.formulas.Features` of those rows off an
:class:`analysis.ab.context.ABContext` (n-gram counts, ball memberships, fitted models, computed once
per test), so the computation is the one ``compare`` makes, cheap enough for every resample.
:func:`per_sample` gives the per-row values of the metrics that are means over a set's samples.
"""

from __future__ import annotations

import numpy as np

from analysis.ab.context import ABContext
from analysis.metrics import fidelity
from analysis.metrics.catalog import Metric
from analysis.metrics.formulas import Features

__all__ = ["value", "per_sample", "PoolView", "NEAREST_KINDS", "MEAN_BY_COUNTS_FROM"]

#: The per-sample kinds the exact nearest-real search gives: over the queried rows (all below the cap).
NEAREST_KINDS = frozenset({"nearest-real similarity", "near copy rate"})

#: From this many reference samples on, the resampled reference's mean embedding is a weighted sum (counts of each
#: drawn row times its embedding) instead of the mean of a gathered copy: the same mean up to rounding, without
#: copying the reference (20,000 × 384 floats) in every round.
MEAN_BY_COUNTS_FROM = 5_000


class PoolView(Features):
    """The features (:class:`analysis.metrics.formulas.Features`) of pool rows ``s`` of set ``side`` (0 = A,
    1 = B) against the reference positions ``ref``, read off ``ctx``.

    With ``queried_only`` (the default) the nearest-real features are those of the rows of ``s`` the
    exact search queried; without it, of every row (NaN for the others), as :func:`per_sample` needs.
    """

    def __init__(
        self,
        ctx: ABContext,
        side: int,
        s: np.ndarray,
        ref: np.ndarray,
        *,
        queried_only: bool = True,
        cover_ref: np.ndarray | None = None,
    ) -> None:
        self.ctx, self.side, self.s, self.ref = ctx, side, s, ref
        self.seed, self.k = ctx.seed, ctx.k
        if ctx.cover is None:  # coverage by the reference's own balls
            self.cover_ref = ref
            self.coverage_supported = not fidelity.coverage_unsupported(len(ctx.reference), ctx.k)
        else:  # cross-fitted: coverage's balls are the cover's, resampled by their own draw
            self.cover_ref = np.arange(ctx.cover.size) if cover_ref is None else cover_ref
            self.coverage_supported = not ctx.cover.unsupported
        self._queried = s[ctx.queried[s]] if queried_only and ctx.query_capped else s

    @property
    def size(self) -> int:
        return len(self.s)

    def texts(self) -> list[str]:
        return list(self.ctx.texts[self.s])

    def x(self) -> np.ndarray:
        return self.ctx.x[self.s]

    def ref_x(self) -> np.ndarray:
        return self.ctx.ref_x[self.ref]

    def ngram_counts(self, n: int) -> np.ndarray:
        return self.ctx.ngram_counts(self.s, n)

    def rare_tokens(self) -> tuple[int, int]:
        rare, total = self.ctx.rare_ids
        return (int(np.count_nonzero(self.ngram_counts(1)[rare])) if total else 0), total

    def covered(self) -> np.ndarray:
        return self.ctx.covered(self.s)[self.cover_ref]

    def tail(self, tenths: int) -> np.ndarray:
        return self.ctx.tail_mask(tenths)[self.cover_ref]

    def recalled(self) -> np.ndarray:
        return self.ctx.reached(self.s, recall=True)[self.ref]

    def inside(self) -> np.ndarray:
        return np.asarray(self.balls_holding() > 0, np.float64)

    def memberships(self) -> int:
        return int(self.balls_holding().sum())

    def balls_holding(self) -> np.ndarray:
        return self.ctx.balls_holding[self.s]

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        ctx, ref = self.ctx, self.ref
        if len(ctx.ref_x) < MEAN_BY_COUNTS_FROM:
            return ctx.ref_x[ref].mean(axis=0), ctx.x[self.s].mean(axis=0)
        counts = np.bincount(ref, minlength=len(ctx.ref_x)).astype(np.float64)
        return counts @ ctx.ref_x / len(ref), ctx.x[self.s].mean(axis=0)

    def nearest_train(self) -> np.ndarray:
        return self.ctx.nearest_train[self._queried]

    def nearest_real(self) -> np.ndarray:
        return self.ctx.nearest_real[self._queried]

    def copies(self) -> np.ndarray:
        return self.ctx.copies[self.s]

    def holdout_copies(self) -> np.ndarray:
        return self.ctx.holdout_copies[self.s]

    def distinct_texts(self) -> int:
        return len(np.unique(self.ctx.text_ids[self.s]))

    def label_counts(self) -> tuple[np.ndarray, np.ndarray]:
        ref_codes, codes, count = self.ctx.label_codes
        ref_codes, codes = ref_codes[self.ref], codes[self.s]
        p = np.bincount(ref_codes[ref_codes >= 0], minlength=count).astype(np.float64)
        q = np.bincount(codes[codes >= 0], minlength=count).astype(np.float64)
        return p, q

    def lengths(self) -> tuple[np.ndarray, np.ndarray]:
        return self.ctx.ref_lengths[self.ref], self.ctx.lengths[self.s]

    def log_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        logs, counts = self.ctx.perplexity_parts[self.side]
        return logs[self.ref], counts[self.ref]

    def tstr_codes(self) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The labelled rows among the reference positions ``ref`` (repeats kept), and this side's predictions."""
        true, predicted, labels, kept = self.ctx.tstr_codes
        side_predicted = predicted[self.side]
        if side_predicted is None:
            return None
        position = np.full(len(self.ctx.ref_x), -1)
        position[kept] = np.arange(len(kept))
        chosen = position[self.ref]
        chosen = chosen[chosen >= 0]
        return true[chosen], side_predicted[chosen], labels

    def detection_scores(self) -> tuple[np.ndarray, np.ndarray]:
        result = self.ctx.detection[self.side]
        return result.real_scores[self.ref], result.synthetic_scores[self.s - self.ctx.sides[self.side][0]]


def per_sample(ctx: ABContext, metric: Metric) -> np.ndarray:
    """Per pool row, the value whose mean over a set is ``metric`` (a ``sample`` metric: its units)."""
    pool = np.arange(len(ctx.rows))
    return np.asarray(metric.units(PoolView(ctx, 0, pool, np.arange(len(ctx.ref_x)), queried_only=False)), np.float64)


def value(
    ctx: ABContext, metric: Metric, side: int, s: np.ndarray, ref: np.ndarray, cover_ref: np.ndarray | None = None
) -> float:
    """``metric`` of the pool rows ``s`` (of set ``side``) against the reference rows ``ref`` (positions in it);
    ``cover_ref``: the cross-fitted coverage balls' positions (None: all of them, or ``ref`` for the holdout's)."""
    return metric.compute(PoolView(ctx, side, s, ref, cover_ref=cover_ref))
