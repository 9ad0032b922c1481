"""The dataset's mixture engine: every metric of any mixture of one dataset, exact, in milliseconds.

:class:`MixtureEngine` precomputes, once per dataset, everything that does not depend on the
mixture (neighbourhoods, ball memberships, n-gram counts, per draw order the prefix sums of the
rows and their outer products), so :meth:`MixtureEngine.metrics` costs set unions and sums over the
chosen rows rather than new distance matrices. Every metric it returns equals the from-scratch
computation in :mod:`analysis.metrics` on the same rows (see :data:`analysis.mixture.spec.EXACT` and
:func:`analysis.mixture.reference.metrics_from_scratch`). It also draws the rows
(:meth:`MixtureEngine.rows`, :func:`sample_mixture`) by the strategies of :mod:`analysis.mixture`.
This module decides which rows a mixture holds; :mod:`analysis.mixture.measure` holds the precomputed
state the metrics are read from and reads them.
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd

from analysis.judge.compare import (
    BASELINE,
    DEFAULT_COVERAGE,
    capped,
    coverage_reference,
    reference_sample,
    sets_of,
    subsample_note,
)
from analysis.metrics.catalog import incremental_metrics
from analysis.metrics.fidelity import block_rows, knn_radii, kth_smallest, squared_distances
from analysis.metrics.tails import rarity_bins
from analysis.mixture.kernels import allocate, csr_by_row, kept_first, smallest_per_row, train_ball_members
from analysis.mixture.measure import DrawOrder, Precomputed, fold_holding, nearby_below, ngram_tables
from analysis.mixture.spec import MixtureError, MixtureSpec

__all__ = ["MixtureEngine", "sample_mixture", "POOL_LIMIT", "POOL_SEED", "pool_caps"]

#: Most candidate rows (real train and synthetic, all sets together) the engine precomputes neighbourhoods
#: of: above it each set keeps a seeded subsample (:func:`pool_caps`), so the precomputation is bounded
#: (about POOL_LIMIT² distances) whatever the dataset's size. The demo's 12,657 candidates are all kept.
POOL_LIMIT = 60_000
#: Seed of the candidate subsample (with each set's name): fixed, so an engine always mixes the same rows.
POOL_SEED = 0
#: The nearby holdout samples kept per candidate reach about this many times as far (in candidates) as
#: its neighbour list, so recall rarely computes a row against the whole holdout even in a sparse mixture.
REACH = 4


def pool_caps(sizes: np.ndarray, limit: int) -> np.ndarray:
    """Rows each set keeps so that all sets together keep at most ``limit``: the sizes themselves when
    they fit, else ``min(size, c)`` with the largest common cap ``c`` that fits (small sets keep every row)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() <= limit:
        return sizes.copy()
    remaining, left = int(limit), len(sizes)
    for size in np.sort(sizes):
        if size * left > remaining:
            break
        remaining, left = remaining - int(size), left - 1
    return np.minimum(sizes, remaining // max(left, 1))


class MixtureEngine:
    """The precomputed state that makes every mixture's metrics fast, for one dataset.

    Once per dataset (``samples`` and aligned ``embeddings``) it computes what does not depend on
    the mixture, for every candidate row (the real train split and every synthetic set):

    - the real holdout's k-NN radii and rarity bins (:func:`analysis.metrics.tails.rarity`);
    - which holdout k-NN balls hold each candidate (a sparse matrix, computed in blocks): coverage,
      precision, density and tail coverage of any mixture are unions and counts over its rows;
    - each candidate's nearest candidates, sorted, with their squared distances, and the holdout
      samples within the farthest of them: a mixture sample's k-NN radius *within the mixture* is
      the k-th of its nearest candidates that the mixture holds, so recall is exact (a sample
      whose list holds fewer than k chosen rows is computed directly against the mixture);
    - unigram and bigram counts per candidate over a shared vocabulary (sparse): distinct-n,
      n-gram entropy and rare-token coverage are sums of the chosen rows;
    - per draw order (strategy, seed; built on first use and kept for the last few), prefix sums
      of the rows and of their outer products ``x xᵀ`` at checkpoints: the mixture's d × d Gram
      ``Xᵀ X`` (whose eigenvalues over n are those of the cosine kernel ``X Xᵀ / n``, so Vendi is
      exact) and embedding sum (centroid shift) are a checkpoint plus a few hundred rows.

    Bounded at scale: the candidates are every row of each set up to :data:`POOL_LIMIT` (60,000) in
    all; above it each set keeps a seeded uniform subsample (:func:`pool_caps`: a common per-set cap,
    smaller sets keep all their rows), and the reference is the real holdout capped at
    :data:`analysis.judge.compare.REFERENCE_LIMIT` (the rows of :func:`analysis.judge.compare.reference_sample`,
    those of ``compare`` and Tail coverage). Mixtures are drawn from the candidates, so their metrics
    stay exact for the rows drawn (:func:`analysis.mixture.reference.metrics_from_scratch` on
    :meth:`rows` and :attr:`holdout_rows`); :meth:`describe` says when a cap applies. Precomputing 60,000
    candidates against 20,000 reference rows takes a few minutes on 2 cores (bench_scale).

    Distances, memory and time: :class:`analysis.mixture.measure.Precomputed`.

    Attributes
    ----------
    set_names
        ``"real train"``, then each synthetic set, in the order of :meth:`counts`.
    group_sizes, set_totals
        Per set, the candidate rows the engine mixes, and the rows the set holds (more when capped).
    holdout_rows, holdout_radii, holdout_bins
        The reference of precision, recall and density: its positions in ``samples``, k-NN radii and rarity bins.
    cover
        Coverage's balls (:func:`analysis.judge.reference.coverage_reference`): the holdout's, or cross-fitted
        (a fold counts the synthetic rows and the real recipe drawn outside it: ``covered_with_real``).
    holdout_total
        The real holdout's size (more than ``len(holdout_rows)`` when it is capped).
    last_direct_rows
        How many k-NN radii the last :meth:`metrics` call computed directly (off the lists).

    Parameters
    ----------
    samples
        The sample table (real data with a ``holdout`` split, and synthetic sets).
    embeddings
        Rows aligned with ``samples`` (for example :func:`analysis.vectors.embed.embed` of its texts).
    k, bins
        Neighbours for PRDC and tail coverage; rarity bins of the holdout (head → tail). Same
        meaning and defaults as :func:`analysis.judge.compare.compare`.
    neighbours
        Nearest candidates kept per candidate; default: as many as fit in 192 MiB, between 64
        and 384. More: fewer rows computed directly when a mixture is sparse.
    near
        Cosine similarity at or above which a synthetic row is a near-copy (dedup, tail-aware).
    progress
        ``progress(done, total)`` during the precomputation.
    coverage
        ``crossfit`` (default) or ``holdout``, as :func:`analysis.judge.compare.compare` takes it.

    Raises
    ------
    MixtureError
        Without synthetic sets, or with a real train split of k or fewer samples.
    analysis.judge.compare.CompareError
        When the real holdout has k or fewer samples.
    """

    def __init__(
        self,
        samples: pd.DataFrame,
        embeddings: np.ndarray,
        *,
        k: int = 5,
        bins: int = 10,
        neighbours: int | None = None,
        near: float = 0.95,
        progress: Callable[[int, int], object] | None = None,
        coverage: str = DEFAULT_COVERAGE,
    ) -> None:
        samples = samples.reset_index(drop=True)
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or len(embeddings) != len(samples):
            raise MixtureError(f"{len(embeddings)} embeddings for {len(samples)} samples: embed the same table first.")
        self.samples, self.k, self.bins, self.near = samples, int(k), int(bins), float(near)
        self.holdout_rows, self.holdout_total = reference_sample(samples, "holdout", k=k)
        self.cover = coverage_reference(samples, embeddings, coverage, k=k)  # coverage's balls
        groups = sets_of(samples)
        train = groups.pop(BASELINE)
        if not groups:
            raise MixtureError("There is no synthetic set to mix with the real data. Load or generate one.")
        if len(train) <= k:
            raise MixtureError(f"The real train split has {len(train)} samples; a mixture needs more than k = {k}.")
        self.set_names: list[str] = [BASELINE, *groups]  # group 0: real train
        members = [train, *groups.values()]
        self.set_totals = np.array([len(m) for m in members])
        caps = pool_caps(self.set_totals, POOL_LIMIT)
        members = [
            capped(rows, int(cap), [POOL_SEED, zlib.crc32(name.encode("utf-8"))])
            for rows, cap, name in zip(members, caps, self.set_names)
        ]
        self.pool_rows = np.concatenate(members)  # candidate index -> sample row
        self.group_of = np.repeat(np.arange(len(members)), [len(m) for m in members])
        self.group_starts = np.concatenate([[0], np.cumsum([len(m) for m in members])])
        self.group_sizes = np.array([len(m) for m in members])
        pool = len(self.pool_rows)
        self.neighbours = int(neighbours or min(384, max(64, (192 << 20) // (12 * pool))))
        self.neighbours = min(self.neighbours, pool - 1)

        blocks_pool = -(-pool // block_rows(pool, np.float64))
        blocks_holdout = -(-len(self.holdout_rows) // block_rows(pool, np.float64))
        blocks_cover = -(-self.cover.size // block_rows(pool, np.float64)) if self.cover.fold is not None else 0
        total_steps, done = blocks_pool + blocks_holdout + blocks_cover + 1, 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, total_steps)

        x = embeddings[self.pool_rows].astype(np.float64)
        norms = np.einsum("ij,ij->i", x, x)
        reference = embeddings[self.holdout_rows].astype(np.float64)
        reference_norms = np.einsum("ij,ij->i", reference, reference)
        self.holdout_radii = knn_radii(reference, k)
        self.holdout_bins = rarity_bins(self.holdout_radii, bins)

        # ---- candidates x candidates: neighbour lists, train radii, near-copies, train-ball membership
        train_n = len(members[0])  # the (capped) real train candidates come first
        sample_columns = np.random.default_rng(0).permutation(pool)[: max(4 * self.neighbours, 2048)]
        nbr = np.empty((pool, self.neighbours), dtype=np.int32)
        nbr_d2 = np.empty((pool, self.neighbours), dtype=np.float64)
        train_r2 = np.empty(train_n)
        # the nearby holdout lists reach about REACH × neighbours candidates (estimated on the column sample):
        # recall computes a row against the whole holdout only when its radius in the mixture is beyond that
        reach2 = np.empty(pool)
        reach_rank = min(len(sample_columns), -(-REACH * self.neighbours * len(sample_columns) // pool)) - 1
        self._near_copy = np.zeros(pool, dtype=bool)
        ball_rows, ball_cols = [], []
        step_rows = block_rows(pool, np.float64)
        for start in range(0, pool, step_rows):
            stop = min(pool, start + step_rows)
            d2 = squared_distances(x[start:stop], norms[start:stop], x, norms)
            local = np.arange(stop - start)
            d2[local, start + local] = np.inf  # a row is not its own neighbour
            nbr[start:stop], nbr_d2[start:stop] = smallest_per_row(d2, self.neighbours)
            reach2[start:stop] = np.partition(d2[:, sample_columns], reach_rank, axis=1)[:, reach_rank]
            if start < train_n:  # train rows come first: their radii among train rows
                upto = min(stop, train_n) - start
                train_r2[start : start + upto] = kth_smallest(d2[:upto, :train_n], k - 1)
            if stop > train_n:  # synthetic rows: near-copies of real train, and which train balls hold them
                first = max(start, train_n) - start
                block = d2[first:, :train_n]
                root = np.sqrt(norms[start + first : stop])
                cosine = (norms[start + first : stop, None] + norms[None, :train_n] - block) / (
                    2 * root[:, None] * np.sqrt(norms[None, :train_n])
                )
                self._near_copy[start + first : stop] |= cosine.max(axis=1) >= near
                rows, cols = np.nonzero(block < train_r2[None, :])
                ball_rows.append(rows + start + first)
                ball_cols.append(cols)
            step()
        # every candidate off the list is at least nbr_d2[:, -1] away; every holdout sample nearer than the
        # reach is in the nearby lists
        reach = np.maximum(reach2, nbr_d2[:, -1])
        self._train_r2 = train_r2
        self._train_bins = rarity_bins(np.sqrt(train_r2), bins)
        self._train_balls = csr_by_row(
            np.concatenate(ball_rows) if ball_rows else np.zeros(0, np.int64),
            np.concatenate(ball_cols) if ball_cols else np.zeros(0, np.int64),
            pool,
        )[:2]

        # ---- holdout x candidates: which holdout balls hold each candidate; holdout samples near each candidate
        radii2 = self.holdout_radii**2
        holding_c, holding_j, near_c, near_j, near_d2 = [], [], [], [], []
        for start in range(0, len(reference), step_rows):
            stop = min(len(reference), start + step_rows)
            d2 = squared_distances(reference[start:stop], reference_norms[start:stop], x, norms)
            j, c = np.nonzero(d2 < radii2[start:stop, None])
            holding_c.append(c)
            holding_j.append(j + start)
            j, c = np.nonzero(d2 < reach[None, :])
            near_c.append(c)
            near_j.append(j + start)
            near_d2.append(d2[j, c])
            synthetic = slice(train_n, pool)
            cosine = (reference_norms[start:stop, None] + norms[None, synthetic] - d2[:, synthetic]) / (
                2 * np.sqrt(reference_norms[start:stop, None]) * np.sqrt(norms[None, synthetic])
            )
            self._near_copy[synthetic] |= cosine.max(axis=0) >= near
            step()
        holding = csr_by_row(np.concatenate(holding_c), np.concatenate(holding_j), pool)[:2]
        # each candidate's nearby holdout samples nearest first: those within a radius are a prefix
        nearby = csr_by_row(np.concatenate(near_c), np.concatenate(near_j), pool, np.concatenate(near_d2), by_data=True)
        below = nearby_below(nearby, nbr_d2)
        cover_holding, cover_bins, candidate_fold = holding, self.holdout_bins, None  # the holdout's balls
        if self.cover.fold is not None:  # cross-fitted: each fold's balls, held by candidates from outside it
            candidate_fold = self.cover.fold_of(self.pool_rows)
            cover_holding = fold_holding(
                self.cover.x, self.cover.radii, self.cover.fold, x, norms, candidate_fold, step
            )
            cover_bins = rarity_bins(self.cover.radii, bins)
        self.cover_bins = cover_bins

        # ---- n-gram counts per candidate over one vocabulary (holdout words included, for rare tokens)
        ngrams, rare_tokens = ngram_tables(samples["text"].to_numpy(), self.pool_rows, self.holdout_rows)
        step()
        self._measure = Precomputed(
            k=self.k,
            bins=self.bins,
            x=x,
            norms=norms,
            unit=x / np.sqrt(norms)[:, None],  # as vendi_score normalises
            nbr=nbr,
            nbr_d2=nbr_d2,
            reach=reach,
            holding=holding,
            balls_holding=np.diff(holding[0]),  # density counts; > 0 is precision
            nearby=nearby,
            nearby_below=below,
            cover_holding=cover_holding,
            cover_bins=cover_bins,
            bin_sizes=np.bincount(cover_bins, minlength=bins),
            cover_fold=self.cover.fold,
            candidate_fold=candidate_fold,
            reference_norms=reference_norms,
            reference_scaled=-2.0 * reference,  # as squared_distances scales its first operand
            reference_mean=reference.mean(axis=0),
            ngrams=ngrams,
            rare_tokens=rare_tokens,
        )
        self._orders: OrderedDict[tuple, DrawOrder] = OrderedDict()
        # protected regions: train candidates' regions, balls holding them, orders per region, rows kept first
        self._candidate_region: np.ndarray | None = None
        self._train_members: tuple[np.ndarray, np.ndarray] | None = None
        self._region_orders: dict[tuple[int, int], np.ndarray] = {}
        self._kept: dict[tuple, tuple[int, np.ndarray]] = {}
        self._recent: OrderedDict[MixtureSpec, dict[str, float]] = OrderedDict()  # the last metrics() results
        self.last_direct_rows = 0

    # ------------------------------------------------------------------ draw orders
    def _eligible(self, group: int) -> np.ndarray:
        return np.arange(self.group_starts[group], self.group_starts[group + 1])

    def _dedup(self, order: np.ndarray) -> np.ndarray:
        """``order`` without near-copies of real rows and of rows of the same set kept before them."""
        kept = np.zeros(len(self.pool_rows), dtype=bool)
        out = []
        nbr, nbr_d2, norms = self._measure.nbr, self._measure.nbr_d2, self._measure.norms
        for c in order:
            if self._near_copy[c]:
                continue
            partners = nbr[c]
            same = self.group_of[partners] == self.group_of[c]
            if same.any():
                d2 = nbr_d2[c][same]
                p = partners[same]
                cosine = (norms[c] + norms[p] - d2) / (2 * np.sqrt(norms[c] * norms[p]))
                if kept[p[cosine >= self.near]].any():
                    continue
            kept[c] = True
            out.append(c)
        return np.asarray(out, dtype=np.int64)

    def _tail_order(self, order: np.ndarray, balls_of: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Weighted greedy maximum coverage of train k-NN balls (rarer bins weigh more), lazily evaluated; ``balls_of``
        (CSR: the balls holding each candidate) defaults to the synthetic candidates'."""
        indptr, balls = self._train_balls if balls_of is None else balls_of
        weight = (self._train_bins + 1.0) ** 2
        covered = np.zeros(len(weight), dtype=bool)

        def gain(c: int) -> float:
            targets = balls[indptr[c] : indptr[c + 1]]
            return float(weight[targets[~covered[targets]]].sum())

        heap = [(-gain(c), rank, c) for rank, c in enumerate(order)]
        heapq.heapify(heap)
        chosen, rest = [], []
        while heap:
            negative, rank, c = heapq.heappop(heap)
            if negative == 0:
                rest.append((rank, c))
                continue
            current = gain(c)
            if heap and current < -heap[0][0]:
                heapq.heappush(heap, (-current, rank, c))
                continue
            if current == 0:
                rest.append((rank, c))
                continue
            chosen.append(c)
            targets = balls[indptr[c] : indptr[c + 1]]
            covered[targets] = True
        rest.sort()
        return np.asarray(chosen + [c for _, c in rest], dtype=np.int64)

    # ------------------------------------------------------------------ protected regions
    def use_regions(self, region_of: np.ndarray) -> None:
        """Each row's region (``find_gaps(...).region_of``), as ``MixtureSpec.protect`` numbers them; new ones reset."""
        region_of = np.asarray(region_of)
        if region_of.shape != (len(self.samples),):
            raise MixtureError(f"{len(region_of)} region labels for {len(self.samples)} samples: use the same table.")
        regions = np.asarray(region_of[self.pool_rows[: self.group_sizes[0]]], dtype=np.int64)
        if self._candidate_region is None or not np.array_equal(regions, self._candidate_region):
            self._candidate_region = regions
            self._region_orders.clear()
            self._kept.clear()
            for key in [key for key in self._orders if len(key) > 2]:
                del self._orders[key]

    def _region_order(self, region: int, seed: int) -> np.ndarray:
        """The region's real train candidates, tail-aware: :meth:`_tail_order`'s greedy over the train balls they
        hold (:func:`~analysis.mixture.kernels.train_ball_members`), from the seeded real order."""
        key = (int(region), int(seed))
        if key not in self._region_orders:
            assert self._candidate_region is not None
            if self._train_members is None:
                self._train_members = train_ball_members(self._measure.nbr, self._measure.nbr_d2, self._train_r2)
            rng = np.random.default_rng([int(seed), zlib.crc32(BASELINE.encode("utf-8"))])  # as _order's real
            real = rng.permutation(self._eligible(0))
            inside = real[self._candidate_region[real] == region]
            self._region_orders[key] = self._tail_order(inside, self._train_members)
        return self._region_orders[key]

    def _state(self, spec: MixtureSpec) -> DrawOrder:
        """The draw order of ``spec``: its strategy's, with the protected real rows first where it protects."""
        if not spec.protects:
            return self._order(spec.strategy, spec.seed)
        if self._candidate_region is None:
            raise MixtureError(
                "The mixture protects regions the engine does not know: call engine.use_regions(report.region_of) "
                "with the analysis.maps.gaps.find_gaps report of the same table."
            )
        key = (spec.strategy, int(spec.seed), spec.protect, spec.keep)
        if key in self._orders:
            self._orders.move_to_end(key)
            return self._orders[key]
        base = self._order(spec.strategy, spec.seed)
        orders = [self._region_order(region, spec.seed) for region in spec.protect]
        first = np.concatenate([order[: int(math.floor(spec.keep * len(order) + 0.5))] for order in orders])
        real_order, ranks = kept_first(base.orders[0], first)
        state = self._measure.with_first_order(base, real_order)  # only the real set's order changes
        self._kept[key] = (len(first), ranks)
        self._orders[key] = state
        while len(self._orders) > 3:
            self._kept.pop(self._orders.popitem(last=False)[0], None)
        return state

    def _order(self, strategy: str, seed: int) -> DrawOrder:
        """Each set's draw order and its checkpoints (:meth:`Precomputed.checkpoints`); the last three are kept."""
        key: tuple = (strategy, int(seed))
        if key in self._orders:
            self._orders.move_to_end(key)
            return self._orders[key]
        orders = []
        for group, name in enumerate(self.set_names):
            rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])
            order = rng.permutation(self._eligible(group))
            if group > 0 and strategy in ("dedup", "tail-aware"):
                order = self._dedup(order)
            if group > 0 and strategy == "tail-aware":
                order = self._tail_order(order)
            orders.append(order)
        state = self._measure.checkpoints(orders)
        self._orders[key] = state
        while len(self._orders) > 3:
            self._orders.popitem(last=False)
        return state

    @property
    def capped(self) -> bool:
        """A cap applies: the candidates or the reference are seeded subsamples (see :meth:`describe`)."""
        return bool((self.group_sizes < self.set_totals).any()) or len(self.holdout_rows) < self.holdout_total

    def describe(self) -> str:
        """What the engine mixes and measures against, in words, saying so when a cap applies."""
        pool, total = int(self.group_sizes.sum()), int(self.set_totals.sum())
        mixes = subsample_note(pool, total, f"candidate rows (at most {int(self.group_sizes.max()):,} a set)")
        reference = subsample_note(len(self.holdout_rows), self.holdout_total, "real holdout samples")
        coverage = "" if self.cover.fold is None else f"; coverage by the {self.cover.describe()}"
        return (
            f"Mixtures are drawn from {'a ' + mixes if mixes else f'all {total:,} candidate rows'} and measured "
            f"against {'a ' + reference if reference else f'the {self.holdout_total:,} real holdout samples'}"
            f"{coverage}."
        )

    def _repr_html_(self) -> str:
        """The sets it mixes and the reference, escaped (Jupyter's rich display)."""
        from analysis.display import mixture_engine_html

        return mixture_engine_html(self)

    def prepare(self, strategy: str = "uniform", seed: int = 0) -> None:
        """Build a draw order now (else on first use): dedup and tail-aware take a second or two."""
        self._order(strategy, seed)

    # ------------------------------------------------------------------ sampling
    def available(self, strategy: str = "uniform", seed: int = 0) -> dict[str, int]:
        """Rows each set (real train first) can give under ``strategy``: all of them, or fewer after dedup."""
        return dict(zip(self.set_names, (len(order) for order in self._order(strategy, seed).orders)))

    def counts(self, spec: MixtureSpec) -> dict[str, int]:
        """Rows per set (real train first) that ``spec`` draws; raises :class:`MixtureError` when impossible."""
        return dict(zip(self.set_names, self._counts(spec, self._state(spec)).tolist()))

    def _weights(self, spec: MixtureSpec) -> np.ndarray:
        synthetic = self.set_names[1:]
        unknown = sorted(set(spec.weights) - set(synthetic))
        if unknown:
            raise MixtureError(
                f"No synthetic set named {', '.join(map(repr, unknown))}; "
                f"the sets are {', '.join(map(repr, synthetic))}."
            )
        if not spec.weights:
            return np.ones(len(synthetic))
        return np.array([spec.weights.get(name, 0.0) for name in synthetic])

    def _counts(self, spec: MixtureSpec, state: DrawOrder) -> np.ndarray:
        weights = self._weights(spec)
        capacity = np.array([len(order) for order in state.orders])
        n_real = int(math.floor(spec.real_share * spec.size + 0.5))
        n_synthetic = spec.size - n_real
        if n_real > capacity[0]:
            where = (
                f"the engine's seeded subsample of the real train split holds {capacity[0]:,} (it keeps at most "
                f"{POOL_LIMIT:,} candidate rows in all)"
                if self.group_sizes[0] < self.set_totals[0]
                else f"the real train split has {capacity[0]:,}"
            )
            raise MixtureError(
                f"The mixture needs {n_real:,} real samples but {where}. "
                f"Lower the size to at most {int(capacity[0] / spec.real_share):,} or the real share to at most "
                f"{capacity[0] / spec.size:.0%}, or load more real data."
            )
        if spec.protects:  # the kept rows of the protected regions join the real draw and replace synthetic rows
            self._state(spec)
            first, ranks = self._kept[(spec.strategy, int(spec.seed), spec.protect, spec.keep)]
            n_real = min(spec.size, n_real + first - int(np.searchsorted(ranks, n_real)))
            n_synthetic = spec.size - n_real
        if n_synthetic and weights.sum() <= 0:
            raise MixtureError(
                "Every synthetic weight is 0 but the real share is below 100 %: give a set a weight above 0."
            )
        available = int(capacity[1:][weights > 0].sum())
        if n_synthetic > available:
            after = " after removing near-copies" if spec.strategy != "uniform" else ""
            sets = ", ".join(
                f"{name} {capacity[1 + i]:,}" for i, name in enumerate(self.set_names[1:]) if weights[i] > 0
            )
            largest = int(available / (1 - spec.real_share)) if spec.real_share < 1 else spec.size
            if (self.group_sizes[1:] < self.set_totals[1:]).any():
                after += f" in the engine's seeded subsample ({POOL_LIMIT:,} candidate rows in all)"
            raise MixtureError(
                f"The mixture needs {n_synthetic:,} synthetic samples but the sets with a weight above 0 hold "
                f"{available:,}{after} ({sets}). Lower the size to at most {largest:,}, raise the real share to at "
                f"least {1 - available / spec.size:.0%}, or give weight to more sets."
            )
        if spec.size <= self.k:
            raise MixtureError(
                f"A mixture of {spec.size} samples is too small: k-NN metrics need more than k = {self.k}."
            )
        return np.concatenate([[n_real], allocate(n_synthetic, weights, capacity[1:])])

    def _chosen(self, spec: MixtureSpec) -> tuple[np.ndarray, np.ndarray, DrawOrder]:
        state = self._state(spec)
        counts = self._counts(spec, state)
        chosen = np.concatenate([order[:n] for order, n in zip(state.orders, counts)])
        return chosen, counts, state

    def recipe(self, spec: MixtureSpec) -> tuple[np.ndarray, int, np.ndarray]:
        """The mixture as cross-fitted coverage reads it: real train order (positions), real count, synthetic rows."""
        chosen, counts, state = self._chosen(spec)
        return self.pool_rows[state.orders[0]], int(counts[0]), np.sort(self.pool_rows[chosen[counts[0] :]])

    def rows(self, spec: MixtureSpec) -> np.ndarray:
        """Positions in ``samples`` of the mixture's rows, ascending (see :func:`sample_mixture`)."""
        chosen, _, _ = self._chosen(spec)
        return np.sort(self.pool_rows[chosen])

    # ------------------------------------------------------------------ metrics
    def metrics(self, spec: MixtureSpec) -> dict[str, float]:
        """Every metric of the mixture ``spec`` draws, against the real holdout, in milliseconds.

        Returns
        -------
        dict
            ``coverage``, ``recall``, ``precision``, ``density``, ``tail coverage (rarest 10%)``,
            ``tail coverage (rarest 30%)``, ``coverage bin <b>`` for b = 0 (head) … bins - 1 (tail),
            ``distinct-1``, ``distinct-2``, ``entropy-1``, ``entropy-2``, ``vendi``,
            ``centroid shift`` and ``rare-token coverage``, with the definitions of
            :mod:`analysis.metrics` (see :data:`DEFINITIONS`), computed on the same rows as
            ``samples.iloc[self.rows(spec)]``. All are exact (:data:`EXACT`): they equal
            :func:`analysis.metrics.fidelity.prdc`, :func:`analysis.metrics.fidelity.covered_by` per
            rarity bin, :func:`analysis.metrics.diversity.distinct_n`, ``ngram_entropy``,
            ``vendi_score``, :func:`analysis.metrics.drift.centroid_shift` and
            :func:`analysis.metrics.tails.rare_token_coverage` on those rows, up to the order of
            floating-point sums (differences below 1e-9).
        """
        if spec in self._recent:  # a page asks for the same mixture several times in one rerun
            self._recent.move_to_end(spec)
            return dict(self._recent[spec])
        values = self._compute(spec)
        self._recent[spec] = values
        while len(self._recent) > 32:
            self._recent.popitem(last=False)
        return dict(values)

    def _compute(self, spec: MixtureSpec) -> dict[str, float]:
        chosen, counts, state = self._chosen(spec)
        out, self.last_direct_rows = self._measure.metrics(state, chosen, counts)
        order = [m.name for m in incremental_metrics()] + [f"coverage bin {b}" for b in range(self.bins)]
        return {name: out[name] for name in order}


def sample_mixture(engine: MixtureEngine, spec: MixtureSpec) -> np.ndarray:
    """Positions in ``engine.samples`` of the rows of the mixture ``spec``, ascending.

    ``round(real_share * size)`` rows come from the real train split (never the holdout); the rest
    is split over the synthetic sets by ``weights`` with largest-remainder rounding (the Hamilton
    method), capped at what each set holds after the strategy's filtering; what a capped set cannot
    take goes to the others by weight. Each set contributes the first rows of its draw order for
    (strategy, seed), so the result is deterministic (see :mod:`analysis.mixture` for the strategies).
    Raises :class:`MixtureError`, saying what to change, when the sets cannot supply the rows (too few
    real or synthetic samples, all weights 0, an unknown set name).
    """
    return engine.rows(spec)
