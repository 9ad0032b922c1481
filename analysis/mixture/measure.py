"""How the mixture engine measures a mixture: the precomputed state its metrics read, and the metrics.

:class:`Precomputed` holds what :class:`analysis.mixture.engine.MixtureEngine` computes once per dataset
for the metrics (the candidates' rows, their neighbour lists, which holdout k-NN balls hold each, the
holdout samples near each, their n-gram counts); :meth:`Precomputed.checkpoints` adds, per draw order,
the prefix sums at checkpoints (:class:`DrawOrder`); :meth:`Precomputed.metrics` reads every metric of
the mixture made of the first rows of each set's order off them: set unions and sums over a few hundred
rows, not new distance matrices. The engine decides which rows a mixture holds; this module, what they
measure. Exactness: :data:`analysis.mixture.spec.EXACT`, checked against
:func:`analysis.mixture.reference.metrics_from_scratch` in tests/test_mixture.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from analysis.metrics.catalog import incremental_metrics
from analysis.metrics.fidelity import block_rows, kth_smallest, squared_distances
from analysis.metrics.formulas import Features
from analysis.metrics.kernels import one_blas_thread, vendi_from_gram
from analysis.metrics.ngrams import ngram_count_matrix, rare_token_ids, row_counts, tokenize
from analysis.mixture.kernels import below_per_row, csr_by_row, csr_entries, ranges

__all__ = [
    "Precomputed",
    "DrawOrder",
    "MixtureFeatures",
    "NGRAM_CHECKPOINT_BYTES",
    "ngram_tables",
    "nearby_below",
    "fold_holding",
    "ENGINE_KINDS",
]

#: Most bytes the n-gram count checkpoints of one draw order take: they are taken every 256 rows of each
#: set, or less often when the vocabulary is large, so a slider move counts at most half that many rows.
NGRAM_CHECKPOINT_BYTES = 256 << 20


#: The metric kinds (:attr:`analysis.metrics.catalog.Metric.kind`) the engine computes per mixture; every
#: metric the catalogue marks ``incremental`` must be of one of them.
ENGINE_KINDS = frozenset(
    {
        "coverage",
        "tail coverage",
        "recall",
        "precision",
        "density",
        "distinct",
        "entropy",
        "vendi",
        "centroid shift",
        "rare-token coverage",
    }
)


def ngram_tables(
    texts: np.ndarray, pool_rows: np.ndarray, holdout_rows: np.ndarray
) -> tuple[dict[int, tuple[sparse.csr_matrix, dict[tuple[str, ...], int]]], tuple[np.ndarray, int]]:
    """n-gram count matrices of the candidates (``texts[pool_rows]``) for every n an incremental metric
    needs, over one vocabulary, and the rare tokens of the holdout (``texts[holdout_rows]``) in it."""
    tokens = [tokenize(text) for text in texts[pool_rows]]
    orders = {m.parameter or 1 for m in incremental_metrics() if m.kind in ("distinct", "entropy")} | {1}
    ngrams = {n: ngram_count_matrix(tokens, n) for n in sorted(orders)}
    holdout = (tokenize(text) for text in texts[holdout_rows])
    return ngrams, rare_token_ids(holdout, ngrams[1][1])


def fold_holding(
    centres: np.ndarray,
    radii: np.ndarray,
    fold: np.ndarray,
    x: np.ndarray,
    norms: np.ndarray,
    candidate_fold: np.ndarray,
    step: Callable[[], object] = lambda: None,
) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, ball) of the cross-fitted balls holding each candidate (``x``, squared norms ``norms``):
    ``|c - x|² < radius²`` and the candidate is not of the ball's fold. ``step()`` after each block of balls."""
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    r2 = np.asarray(radii, dtype=np.float64) ** 2
    candidates, balls = [], []
    rows = block_rows(len(x), np.float64)
    for start in range(0, len(centres), rows):
        stop = min(len(centres), start + rows)
        d2 = squared_distances(centres[start:stop], centre_norms[start:stop], x, norms)
        inside = (d2 < r2[start:stop, None]) & (fold[start:stop, None] != candidate_fold[None, :])
        j, c = np.nonzero(inside)
        candidates.append(c)
        balls.append(j + start)
        step()
    empty = np.zeros(0, dtype=np.int64)
    indptr, ball, _ = csr_by_row(
        np.concatenate(candidates) if candidates else empty, np.concatenate(balls) if balls else empty, len(x)
    )
    return indptr, ball


def nearby_below(nearby: tuple[np.ndarray, np.ndarray, np.ndarray], nbr_d2: np.ndarray) -> np.ndarray:
    """Per candidate and neighbour, how many nearby holdout samples lie within that neighbour's distance."""
    pool, neighbours = nbr_d2.shape
    below = np.empty((pool, neighbours), dtype=np.int32)
    radius2 = np.sqrt(nbr_d2) ** 2  # as Precomputed._radii2 squares a radius
    for start in range(0, pool, 4096):
        rows = np.arange(start, min(pool, start + 4096))
        ends = below_per_row(nearby[0], nearby[2], np.repeat(rows, neighbours), radius2[rows].ravel())
        below[rows] = (ends - np.repeat(nearby[0][rows], neighbours)).reshape(len(rows), -1)
    return below


@dataclass(frozen=True, eq=False)
class DrawOrder:
    """One draw order (strategy, seed): each set's order over its candidates and the checkpoints along it.

    ``grams[s][i]``, ``sums[s][i]`` and ``hits[s][i]`` are the Gram ``Σ u uᵀ`` of the unit rows, the sum
    of the rows and the holdout balls' hit counts of set ``s``'s first ``i * every`` rows;
    ``ngrams[n][s][i]``, the n-gram counts of its first ``i * ngram_every`` rows.
    """

    orders: list[np.ndarray]
    every: int
    grams: list[np.ndarray]
    sums: list[np.ndarray]
    hits: list[np.ndarray]
    ngram_every: int
    ngrams: dict[int, list[np.ndarray]]
    #: cross-fitted coverage: per fold, the real order's prefix lengths that hold 1, 2, … rows from outside it
    real_ends: list[np.ndarray] | None = None

    def real_prefix(self, fold: int, count: int) -> int:
        """How many of the real order's first rows hold ``count`` rows from outside ``fold`` (all, when fewer)."""
        assert self.real_ends is not None
        ends = self.real_ends[fold]
        return 0 if count <= 0 else int(ends[count - 1]) if count <= len(ends) else len(self.orders[0])


@dataclass(frozen=True, eq=False)
class Precomputed:
    """What every metric of any mixture is read from, computed once per dataset by the engine.

    Candidates are the rows the engine mixes (``P`` of them, indexed 0 … P - 1); the reference is the
    real holdout (``M`` samples). Built by :class:`analysis.mixture.engine.MixtureEngine`; never changed.

    Distances are Euclidean in float64 through ``|a|² - 2 a·b + |b|²``, as
    :func:`analysis.metrics.fidelity.prdc` computes them. The precomputation holds one block of about 64 MiB
    of distances at a time (and a few masks of its size), never a P × P matrix, plus ``P × neighbours × 16``
    bytes for the lists (P candidates) and 16 bytes per nearby holdout sample (those within about
    :data:`analysis.mixture.engine.REACH` × neighbours candidates of each: 21 million, 340 MB, at 60,000
    candidates and 20,000 holdout rows); each of the last three draw orders holds a checkpoint of d × d
    floats every 256 rows (P / 256 × 1.2 MB at d = 384: about 280 MB for 60,000 candidates), of the coverage
    balls' hit counts (P / 256 × 4 bytes per ball) and of the n-gram counts (at most
    :data:`analysis.mixture.measure.NGRAM_CHECKPOINT_BYTES`), so a slider move counts a few hundred rows per
    set, not the mixture. Measured at 10,000 real + 3 × 10,000 synthetic on 2 busy cores (before those
    checkpoints): 70 s to precompute, p50 29 ms / p95 41 ms a call (``tests/benchmarks/bench_mixture.py``).
    """

    k: int
    bins: int
    #: the candidates' embeddings (float64), their squared norms, and the rows scaled to unit length
    x: np.ndarray
    norms: np.ndarray
    unit: np.ndarray
    #: each candidate's nearest candidates, sorted, and their squared distances (P × neighbours)
    nbr: np.ndarray
    nbr_d2: np.ndarray
    #: per candidate, the squared distance within which every holdout sample is in its nearby list
    reach: np.ndarray
    #: CSR (indptr, holdout sample) of the holdout k-NN balls holding each candidate, and their count
    holding: tuple[np.ndarray, np.ndarray]
    balls_holding: np.ndarray
    #: CSR (indptr, holdout sample, squared distance) of the holdout samples near each candidate, nearest first
    nearby: tuple[np.ndarray, np.ndarray, np.ndarray]
    #: per candidate and neighbour, how many of its nearby holdout samples lie within that neighbour's distance
    nearby_below: np.ndarray
    #: coverage's balls (the holdout's, or cross-fitted: :class:`analysis.judge.reference.CoverageReference`):
    #: CSR (indptr, ball) of those holding each candidate, their rarity bins (head → tail), how many each bin holds
    cover_holding: tuple[np.ndarray, np.ndarray]
    cover_bins: np.ndarray
    bin_sizes: np.ndarray
    #: cross-fitted: each ball's fold and each candidate's (-1 outside the reference); None for the holdout
    cover_fold: np.ndarray | None
    candidate_fold: np.ndarray | None
    #: the reference's squared norms, its rows times -2 (as squared_distances scales them) and its mean
    reference_norms: np.ndarray
    reference_scaled: np.ndarray
    reference_mean: np.ndarray
    #: per n, the candidates' n-gram count matrix and vocabulary (:func:`ngram_tables`), and the rare tokens
    ngrams: dict[int, tuple[sparse.csr_matrix, dict[tuple[str, ...], int]]]
    rare_tokens: tuple[np.ndarray, int]

    # ------------------------------------------------------------------ per draw order
    def checkpoints(self, orders: list[np.ndarray]) -> DrawOrder:
        """Each set's ``orders`` with their checkpoints (prefix sums of rows, outer products, hits, n-grams)."""
        every = 256  # checkpoints: a mixture adds or removes at most 128 rows per set to the nearest one
        grams, sums, hits = [], [], []
        with one_blas_thread():
            for order in orders:
                marks = list(range(0, len(order) + 1, every))
                gram = np.zeros((len(marks), self.unit.shape[1], self.unit.shape[1]))
                total = np.zeros((len(marks), self.x.shape[1]))
                hit = np.zeros((len(marks), len(self.cover_bins)), dtype=np.int32)
                for i in range(1, len(marks)):
                    chunk = order[marks[i - 1] : marks[i]]
                    gram[i] = gram[i - 1] + self.unit[chunk].T @ self.unit[chunk]
                    total[i] = total[i - 1] + self.x[chunk].sum(axis=0)
                    hit[i] = hit[i - 1] + self.hits(chunk)
                grams.append(gram)
                sums.append(total)
                hits.append(hit)
        # n-gram counts (integers, so exact in any order) every ngram_every rows, a few hundred MB at most
        width = sum(matrix.shape[1] for matrix, _ in self.ngrams.values())
        ngram_every = every * max(1, -(-len(self.x) * width * 4 // (every * NGRAM_CHECKPOINT_BYTES)))
        ngram_counts: dict[int, list[np.ndarray]] = {}
        for n, (matrix, _) in self.ngrams.items():
            ngram_counts[n] = []
            for order in orders:
                marks = list(range(0, len(order) + 1, ngram_every))
                table = np.zeros((len(marks), matrix.shape[1]), dtype=np.int32)
                for i in range(1, len(marks)):
                    table[i] = table[i - 1] + row_counts(matrix, order[marks[i - 1] : marks[i]]).astype(np.int32)
                ngram_counts[n].append(table)
        return DrawOrder(orders, every, grams, sums, hits, ngram_every, ngram_counts, self._real_ends(orders[0]))

    def _real_ends(self, real_order: np.ndarray) -> list[np.ndarray] | None:
        """Per fold, the prefix lengths of ``real_order`` at its 1st, 2nd, … row from outside the fold."""
        if self.cover_fold is None or self.candidate_fold is None:
            return None
        folds = int(self.cover_fold.max()) + 1
        return [np.flatnonzero(self.candidate_fold[real_order] != f) + 1 for f in range(folds)]

    def with_first_order(self, base: DrawOrder, order: np.ndarray) -> DrawOrder:
        """``base`` with the first set's (real train's) order replaced by ``order`` and checkpointed anew; the
        other sets' orders and checkpoints are shared, not copied (protected regions change only the real order)."""
        own = self.checkpoints([order])
        return DrawOrder(
            [order, *base.orders[1:]],
            base.every,
            [own.grams[0], *base.grams[1:]],
            [own.sums[0], *base.sums[1:]],
            [own.hits[0], *base.hits[1:]],
            base.ngram_every,
            {n: [own.ngrams[n][0], *tables[1:]] for n, tables in base.ngrams.items()},
            own.real_ends,
        )

    # ------------------------------------------------------------------ per mixture
    def metrics(self, draw: DrawOrder, chosen: np.ndarray, counts: np.ndarray) -> tuple[dict[str, float], int]:
        """Every metric of the mixture ``chosen``, each set's first ``counts`` rows of ``draw``, by name
        (unordered), and how many k-NN radii it computed directly (off the neighbour lists).

        Each is the catalogue's computation (:meth:`analysis.metrics.catalog.Metric.compute`) on the
        mixture's features read off the precomputed state (:class:`MixtureFeatures`), but Vendi, which is
        incremental itself: the eigenvalues of the Gram matrix of prefix sums (the oracle test checks it)."""
        n = len(chosen)
        with one_blas_thread():
            hits = self._cover_hits(draw, counts)
            recalled, direct = self._recall(chosen)
            ngram_counts = {
                order: self._checkpointed(
                    draw, counts, tables, draw.ngram_every, functools.partial(self._ngram_rows, order)
                )
                for order, tables in draw.ngrams.items()
            }
            gram, total = self._prefix(draw, counts)
            features = MixtureFeatures(self, chosen, hits > 0, recalled, ngram_counts, total / n)
            out = {
                metric.name: vendi_from_gram(gram, n) if metric.kind == "vendi" else metric.compute(features)
                for metric in incremental_metrics()
            }
            per_bin = np.bincount(self.cover_bins[hits > 0], minlength=self.bins) / np.maximum(self.bin_sizes, 1)
            out.update({f"coverage bin {b}": float(per_bin[b]) for b in range(self.bins)})
        return out, direct

    def hits(self, rows: np.ndarray) -> np.ndarray:
        """Per coverage ball, how many of ``rows`` it holds (cross-fitted: rows of its own fold never count)."""
        indptr, holding = self.cover_holding
        return np.bincount(holding[csr_entries(indptr, rows)[0]], minlength=len(self.cover_bins))

    def _cover_hits(self, draw: DrawOrder, counts: np.ndarray) -> np.ndarray:
        """Per coverage ball, the mixture's rows it holds. Cross-fitted, each fold's balls count the synthetic rows
        and the first ``counts[0]`` real rows from outside it (:meth:`analysis.judge.reference.CoverageReference.
        covered_with_real`: the same recipe drawn without the fold)."""
        if self.cover_fold is None:
            return self._checkpointed(draw, counts, draw.hits, draw.every, self.hits)
        synthetic = counts.copy()
        synthetic[0] = 0
        out = self._checkpointed(draw, synthetic, draw.hits, draw.every, self.hits)  # the synthetic rows, once
        for f in range(int(self.cover_fold.max()) + 1):
            real = np.zeros_like(counts)  # per fold, the real prefix alone
            real[0] = draw.real_prefix(f, int(counts[0]))
            mine = self.cover_fold == f
            out[mine] += self._checkpointed(draw, real, draw.hits, draw.every, self.hits)[mine]
        return out

    def _ngram_rows(self, n: int, rows: np.ndarray) -> np.ndarray:
        """The n-gram counts of ``rows`` (int64)."""
        return row_counts(self.ngrams[n][0], rows).astype(np.int64)

    @staticmethod
    def _checkpointed(
        draw: DrawOrder,
        counts: np.ndarray,
        tables: list[np.ndarray],
        every: int,
        of_rows: Callable[[np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """An integer sum over each set's first ``counts`` rows: its checkpoint (``tables``, every ``every``
        rows of the draw order) nearest that count, plus ``of_rows`` of the rows past it, less of those before."""
        total = np.zeros(tables[0].shape[1], dtype=np.int64)
        plus, minus = [], []
        for order, table, n in zip(draw.orders, tables, counts):
            mark = min(int(round(n / every)), len(table) - 1)
            total += table[mark]
            at = mark * every
            if n > at:
                plus.append(order[at:n])
            elif n < at:
                minus.append(order[n:at])
        if plus:
            total += of_rows(np.concatenate(plus))
        if minus:
            total -= of_rows(np.concatenate(minus))
        return total

    def _prefix(self, draw: DrawOrder, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gram ``Σ u uᵀ`` of the unit rows and sum of the rows of each set's first ``counts`` rows."""
        every = draw.every
        gram = np.zeros_like(draw.grams[0][0])
        total = np.zeros_like(draw.sums[0][0])
        for order, grams, sums, n in zip(draw.orders, draw.grams, draw.sums, counts):
            mark = min(int(round(n / every)), len(grams) - 1)
            gram += grams[mark]
            total += sums[mark]
            at = mark * every
            if n > at:
                chunk = order[at:n]
                gram += self.unit[chunk].T @ self.unit[chunk]
                total += self.x[chunk].sum(axis=0)
            elif n < at:
                chunk = order[n:at]
                gram -= self.unit[chunk].T @ self.unit[chunk]
                total -= self.x[chunk].sum(axis=0)
        return gram, total

    def _radii2(self, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Squared k-NN radius of each chosen row within the chosen rows (as knn_radii computes it), the
        place in its neighbour list it was read at (-1 where computed directly), and how many were."""
        k = self.k
        selected = np.zeros(len(self.x), dtype=bool)
        selected[chosen] = True
        r2 = np.full(len(chosen), np.nan)
        slot = np.full(len(chosen), -1, dtype=np.int64)
        todo = np.arange(len(chosen))
        width = self.nbr.shape[1]
        for stop in sorted({min(width, 4 * k), min(width, 32), min(width, 128), width}):
            if not len(todo):
                break
            hit = selected[self.nbr[chosen[todo], :stop]]
            running = np.cumsum(hit, axis=1, dtype=np.int16)  # at most 384 neighbours
            found = running[:, -1] >= k
            position = np.argmax(running >= k, axis=1)
            rows = todo[found]
            r2[rows] = self.nbr_d2[chosen[rows], position[found]]
            slot[rows] = position[found]
            todo = todo[~found]
        if len(todo):  # fewer than k chosen rows among the kept neighbours: compute against the mixture
            x, norms = self.x[chosen], self.norms[chosen]
            step = block_rows(len(chosen), np.float64)
            for start in range(0, len(todo), step):
                rows = todo[start : start + step]
                d2 = squared_distances(x[rows], norms[rows], x, norms)
                d2[np.arange(len(rows)), rows] = np.inf
                r2[rows] = kth_smallest(d2, k - 1)
        return np.sqrt(r2) ** 2, slot, int(len(todo))  # the radius, squared, as prdc compares

    def _recall(self, chosen: np.ndarray) -> tuple[np.ndarray, int]:
        """Per holdout sample: does it lie within some chosen row's k-NN radius in the mixture; and how many of
        those radii were computed directly."""
        r2, slot, direct_rows = self._radii2(chosen)
        m = len(self.reference_norms)
        recalled = np.zeros(m, dtype=bool)
        beyond = r2 > self.reach[chosen]  # only rows computed directly can reach past their nearby list
        listed = np.flatnonzero(~beyond)
        indptr, nearby, nearby_d2 = self.nearby  # nearest first within each row
        rows = chosen[listed]
        stops = indptr[rows] + self.nearby_below[rows, slot[listed]]  # radii read off the neighbour list
        direct = slot[listed] < 0
        stops[direct] = below_per_row(indptr, nearby_d2, rows[direct], r2[listed][direct])
        recalled[nearby[ranges(indptr[rows], stops)]] = True
        far = np.flatnonzero(beyond)
        if len(far):
            rows = chosen[far]
            # squared_distances(reference, …) without scaling the whole reference on every call
            d2 = self.reference_scaled @ self.x[rows].T
            d2 += self.reference_norms[:, None]
            d2 += self.norms[rows][None, :]
            np.maximum(d2, 0.0, out=d2)
            recalled |= (d2 < r2[far][None, :]).any(axis=1)
        return recalled, direct_rows


class MixtureFeatures(Features):
    """The features (:class:`analysis.metrics.formulas.Features`) of the mixture ``chosen`` that its incremental
    metrics read, off :class:`Precomputed`: the holdout balls it reaches (``covered``: their hit counts above 0),
    the holdout samples within its rows' k-NN radii (``recalled``), its n-gram counts and its mean embedding."""

    coverage_supported = True  # the engine measures coverage at any holdout size (the page says when it is small)

    def __init__(
        self,
        state: Precomputed,
        chosen: np.ndarray,
        covered: np.ndarray,
        recalled: np.ndarray,
        ngram_counts: dict[int, np.ndarray],
        mean: np.ndarray,
    ) -> None:
        self.state, self.chosen, self._covered, self._recalled = state, chosen, covered, recalled
        self._ngram_counts, self._mean = ngram_counts, mean
        self.k, self.seed = state.k, 0

    @property
    def size(self) -> int:
        return len(self.chosen)

    def covered(self) -> np.ndarray:
        return self._covered

    def tail(self, tenths: int) -> np.ndarray:
        bins = self.state.bins
        return self.state.cover_bins >= bins - tenths * bins // 10

    def recalled(self) -> np.ndarray:
        return self._recalled

    def inside(self) -> np.ndarray:
        return self.state.balls_holding[self.chosen] > 0

    def memberships(self) -> int:
        return int(self.state.balls_holding[self.chosen].sum())

    def ngram_counts(self, n: int) -> np.ndarray:
        return self._ngram_counts[n]

    def rare_tokens(self) -> tuple[int, int]:
        rare, total = self.state.rare_tokens
        return int(np.count_nonzero(self._ngram_counts[1][rare])), total

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        return self.state.reference_mean, self._mean
