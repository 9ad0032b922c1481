"""Mixtures of real and synthetic data: sampling, a fast preview engine, frontier, suggestion, export.

A mixture is ``size`` rows: ``round(real_share * size)`` drawn from the real **train** split and the
rest from the synthetic sets (named as :func:`analysis.compare.sets_of` names them: the method,
with a generation suffix such as ``"llm g2"``), split by weights. The real **holdout** split is the
reference every metric is measured against and is never mixed in.

Sampling is a prefix of a fixed draw order: for a given strategy and seed, each set (real train and
every synthetic set) has one order over its eligible rows, and a mixture takes the first ``n`` rows
of each set's order. The same spec always gives the same rows, a larger share only adds rows, and
a slider move changes a few rows rather than all of them. The strategies:

``uniform``
    Each set's order is a seeded random permutation: simple random sampling without replacement.
``dedup``
    As uniform, after removing near-copies: a synthetic row whose cosine similarity to some real row
    (train or holdout) is at least ``near`` (0.95, the "near copy" of
    :func:`analysis.metrics.novelty.novelty`), and a synthetic row that is a near-copy (cosine >=
    ``near``) of a row of the same set kept earlier in the seeded order (exact repeats included).
``tail-aware``
    Dedup, then each synthetic set is ordered by weighted greedy maximum coverage of the real train
    split: the next row is the one whose position falls inside the most not-yet-covered train k-NN
    balls, a train sample in rarity bin ``b`` (0 = head … ``bins - 1`` = tail, by its k-NN radius among
    the train samples) counting ``(b + 1) ** 2``; rows that cover nothing new follow in seeded order.
    The target is the real *train* split, not the holdout, so the holdout metrics the preview shows
    are not tuned to their own reference (which would overstate them).

:class:`MixturePreview` precomputes, once per dataset, everything that does not depend on the
mixture, so :meth:`MixturePreview.metrics` costs set unions and sums over the chosen rows rather than
new distance matrices. Every metric it returns equals the from-scratch computation in
:mod:`analysis.metrics` on the same rows (see :data:`EXACT`).
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import math
import zlib
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.compare import BASELINE, CompareError, reference_rows, sets_of
from analysis.metrics.diversity import tokenize
from analysis.metrics.fidelity import _block_rows, _kth_smallest, _squared_distances, knn_radii
from analysis.metrics.tails import rarity_bins

__all__ = [
    "MixtureError",
    "MixtureSpec",
    "MixturePreview",
    "STRATEGIES",
    "EXACT",
    "APPROXIMATE",
    "DEFINITIONS",
    "sample_mixture",
    "frontier",
    "suggest",
    "guardrail",
    "export_mixture",
    "rows_from_manifest",
    "samples_sha256",
    "metrics_from_scratch",
    "baseline_spec",
    "review",
    "tail_bins",
    "export_bytes",
    "WARNING_SHARE",
    "ALARM_SHARE",
]

STRATEGIES = ("uniform", "dedup", "tail-aware")
#: Real share below which :func:`guardrail` warns, and below which it raises an alarm.
WARNING_SHARE, ALARM_SHARE = 0.30, 0.20
MANIFEST_VERSION = 1

#: The mixture metrics and what each measures (all against the real holdout).
DEFINITIONS: dict[str, str] = {
    "coverage": "Share of real holdout samples whose k-NN ball holds at least one mixture sample (Naeem et al. 2020).",
    "recall": "Share of real holdout samples inside some mixture sample's k-NN ball within the mixture (Naeem et al. 2020).",
    "precision": "Share of mixture samples inside some real holdout sample's k-NN ball (Naeem et al. 2020).",
    "density": "Mean number of real holdout k-NN balls holding each mixture sample, over k (Naeem et al. 2020).",
    "tail coverage (rarest 10%)": "Coverage of the rarest tenth of the real holdout (largest k-NN radius).",
    "tail coverage (rarest 30%)": "Coverage of the rarest three tenths of the real holdout.",
    "distinct-1": "Share of word unigrams that are unique among all unigrams of the mixture (Li et al. 2016).",
    "distinct-2": "Share of word bigrams that are unique among all bigrams of the mixture (Li et al. 2016).",
    "entropy-1": "Shannon entropy (bits) of the mixture's word distribution (Zhang et al. 2018).",
    "entropy-2": "Shannon entropy (bits) of the mixture's word-bigram distribution (Zhang et al. 2018).",
    "vendi": "Effective number of distinct samples: exp of the entropy of the cosine-kernel eigenvalues (Friedman and Dieng 2023).",
    "centroid shift": "Cosine distance between the mean real holdout and the mean mixture embedding.",
    "rare-token coverage": "Share of the real holdout's rare words (seen at most twice) that the mixture uses.",
}

#: Metrics of :meth:`MixturePreview.metrics` that equal :mod:`analysis.metrics` on the same rows
#: (up to floating-point summation order, below 1e-9), plus ``coverage bin <b>`` for every rarity bin.
EXACT: frozenset[str] = frozenset(DEFINITIONS)
#: Metrics the preview approximates, name -> one sentence for the UI. None: every metric is exact.
APPROXIMATE: dict[str, str] = {}


class MixtureError(CompareError):
    """A mixture cannot be built as asked; the message says what to change."""


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class MixtureSpec:
    """What a mixture is: its size, real share, weights per synthetic set, strategy and seed.

    Parameters
    ----------
    size
        Total rows N of the mixture.
    real_share
        Share of the rows drawn from the real train split, in [0, 1]; ``round(real_share * size)``
        rows (halves round up).
    weights
        Weight per synthetic set name (``"llm"``, ``"llm g2"``, …); sets not named get 0. Empty:
        every synthetic set weighs the same. Only the ratios matter.
    strategy
        ``"uniform"``, ``"dedup"`` or ``"tail-aware"`` (see the module docstring).
    seed
        Seed of every random order; the same spec gives the same rows.
    """

    size: int
    real_share: float = 0.7
    weights: dict[str, float] = field(default_factory=dict)
    strategy: str = "uniform"
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or int(self.size) != self.size or self.size < 1:
            raise MixtureError(f"The mixture size must be a positive whole number, got {self.size!r}.")
        if not (0.0 <= float(self.real_share) <= 1.0) or math.isnan(float(self.real_share)):
            raise MixtureError(f"The real share must be between 0 and 1 (0 % to 100 %), got {self.real_share!r}.")
        if self.strategy not in STRATEGIES:
            raise MixtureError(f"Unknown strategy {self.strategy!r}; use one of {', '.join(STRATEGIES)}.")
        for name, weight in self.weights.items():
            if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
                raise MixtureError(f"The weight of {name!r} must be a number >= 0, got {weight!r}.")
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "real_share", float(self.real_share))
        object.__setattr__(self, "weights", {str(k): float(v) for k, v in self.weights.items()})

    def __hash__(self) -> int:
        return hash((self.size, self.real_share, tuple(sorted(self.weights.items())), self.strategy, self.seed))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the manifest's ``spec``; :meth:`from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MixtureSpec":
        """The spec of a :meth:`to_dict` dict; unknown keys raise :class:`MixtureError`."""
        unknown = set(data) - {"size", "real_share", "weights", "strategy", "seed"}
        if unknown:
            raise MixtureError(f"Unknown mixture settings: {', '.join(sorted(unknown))}.")
        if "size" not in data:
            raise MixtureError("A mixture spec needs a 'size'.")
        return cls(**{**data, "weights": dict(data.get("weights") or {})})


def guardrail(real_share: float) -> tuple[str, str]:
    """The guardrail for a real share: ``("ok" | "warning" | "alarm", one sentence why)``.

    Below :data:`ALARM_SHARE` (20 %) an alarm, below :data:`WARNING_SHARE` (30 %) a warning.
    Rationale: training on mostly model-generated data makes models forget the tails of the real
    distribution, generation after generation (Shumailov et al., "AI models collapse when trained on
    recursively generated data", Nature 2024); keeping a fixed share of real data bounds the damage
    (Gerstgrasser et al., "Is Model Collapse Inevitable?", 2024), and practice keeps it above 20–30 %.
    """
    share = float(real_share)
    if share < ALARM_SHARE:
        return "alarm", (
            f"Only {share:.0%} real data: below {ALARM_SHARE:.0%}, models trained on mostly synthetic text lose the "
            f"rare part of the real distribution, and the loss compounds over generations; raise the real share."
        )
    if share < WARNING_SHARE:
        return "warning", (
            f"{share:.0%} real data is below the {WARNING_SHARE:.0%} that collapse-prevention practice keeps; "
            f"watch tail coverage and diversity, or raise the real share."
        )
    return "ok", f"{share:.0%} real data is within the usual guardrail (at least {WARNING_SHARE:.0%} real)."


# --------------------------------------------------------------------------- helpers


def _limit_threads():
    """One BLAS thread for the small per-call algebra: on 2 busy cores, 2 threads can be 100x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _smallest(d2: np.ndarray, count: int, columns_sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``count`` smallest values and their columns, sorted ascending (exact).

    The ``count``-th smallest of a column sample bounds the row's ``count``-th smallest from above,
    so only the values at or below it are partitioned (as :func:`analysis.metrics.fidelity._kth_smallest`).
    """
    rows_n, columns_n = d2.shape
    if columns_n <= 2 * len(columns_sample):
        columns = np.argpartition(d2, count - 1, axis=1)[:, :count]
    else:
        bound = np.partition(d2[:, columns_sample], count - 1, axis=1)[:, count - 1]
        rows, cols = np.nonzero(d2 <= bound[:, None])
        counts = np.bincount(rows, minlength=rows_n)
        starts = np.cumsum(counts) - counts
        width = int(counts.max())
        kept = np.full((rows_n, width), np.inf)
        kept_cols = np.zeros((rows_n, width), dtype=np.int64)
        slot = np.arange(len(rows)) - starts[rows]
        kept[rows, slot] = d2[rows, cols]
        kept_cols[rows, slot] = cols
        pick = np.argpartition(kept, count - 1, axis=1)[:, :count]
        columns = np.take_along_axis(kept_cols, pick, axis=1)
    values = np.take_along_axis(d2, columns, axis=1)
    order = np.argsort(values, axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1), np.take_along_axis(values, order, axis=1)


def _csr(rows: np.ndarray, cols: np.ndarray, n_rows: int, data: np.ndarray | None = None):
    """(indptr, cols, data) of pairs grouped by row, columns ascending within a row."""
    order = np.lexsort((cols, rows))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    return indptr, cols[order], (data[order] if data is not None else None)


def _gather(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions into a CSR value array of all entries of ``rows``, and the row of each (as an index into ``rows``)."""
    starts, stops = indptr[rows], indptr[rows + 1]
    lengths = stops - starts
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts[owner] + offsets, owner


def _allocate(total: int, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Split ``total`` by ``weights`` with largest-remainder rounding, capped at ``capacity``.

    A set whose share exceeds what it holds gets all it holds and the rest is split over the others
    by weight (water-filling), then the free sets' quotas are rounded by largest remainder (the
    Hamilton method); ties go to the earlier set. The caller checks that the weighted sets can
    hold ``total``.
    """
    weights = np.asarray(weights, dtype=float)
    capacity = np.asarray(capacity, dtype=np.int64)
    active = (weights > 0) & (capacity > 0)
    full = np.zeros(len(weights), dtype=bool)
    while True:
        free = active & ~full
        remaining = int(total) - int(capacity[full].sum())
        if not free.any() or remaining <= 0:
            quota = np.zeros(len(weights))
            break
        quota = np.where(free, remaining * weights / weights[free].sum(), 0.0)
        over = free & (quota >= capacity)
        if not over.any():
            break
        full |= over
    counts = np.where(full, capacity, np.floor(quota).astype(np.int64))
    left = int(total) - int(counts.sum())
    remainder = np.where(active & ~full, quota - np.floor(quota), -1.0)
    for index in np.argsort(-remainder, kind="stable")[: max(left, 0)]:
        counts[index] += 1
    return counts.astype(np.int64)


def _vendi_from_gram(gram: np.ndarray, n: int) -> float:
    eigenvalues = np.clip(np.linalg.eigvalsh(gram / n), 0.0, None)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


def _entropy_bits(counts: np.ndarray) -> float:
    total = counts.sum()
    if not total:
        return 0.0
    p = counts / total
    return float(-(p * np.log2(p)).sum())


# --------------------------------------------------------------------------- the engine


class MixturePreview:
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

    Distances are Euclidean in float64 through ``|a|² - 2 a·b + |b|²``, as
    :func:`analysis.metrics.fidelity.prdc` computes them. The precomputation holds one block of
    about 64 MiB of distances at a time (and a few masks of its size), never a P × P matrix, plus
    ``P × neighbours × 12`` bytes for the lists (P candidates); each of the last three draw orders
    holds about 65 checkpoints of d × d floats (about 75 MiB at d = 384). Measured at 10,000 real
    + 3 × 10,000 synthetic on 2 busy cores: 70 s to precompute, p50 29 ms / p95 41 ms a call
    (``tests/benchmarks/bench_mixture.py``).

    Attributes
    ----------
    set_names
        ``"real train"``, then each synthetic set, in the order of :meth:`counts`.
    holdout_rows, holdout_radii, holdout_bins
        The reference: its positions in ``samples``, k-NN radii and rarity bins.
    last_direct_rows
        How many k-NN radii the last :meth:`metrics` call computed directly (off the lists).

    Parameters
    ----------
    samples
        The sample table (real data with a ``holdout`` split, and synthetic sets).
    embeddings
        Rows aligned with ``samples`` (for example :func:`analysis.embed.embed` of its texts).
    k, bins
        Neighbours for PRDC and tail coverage; rarity bins of the holdout (head → tail). Same
        meaning and defaults as :func:`analysis.compare.compare`.
    neighbours
        Nearest candidates kept per candidate; default: as many as fit in 192 MiB, between 64
        and 384. More: fewer rows computed directly when a mixture is sparse.
    near
        Cosine similarity at or above which a synthetic row is a near-copy (dedup, tail-aware).
    progress
        ``progress(done, total)`` during the precomputation.

    Raises
    ------
    MixtureError
        Without synthetic sets, or with a real train split of k or fewer samples.
    analysis.compare.CompareError
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
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        samples = samples.reset_index(drop=True)
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or len(embeddings) != len(samples):
            raise MixtureError(f"{len(embeddings)} embeddings for {len(samples)} samples: embed the same table first.")
        self.samples, self.k, self.bins, self.near = samples, int(k), int(bins), float(near)
        self.holdout_rows = reference_rows(samples, "holdout", k=k)
        groups = sets_of(samples)
        train = groups.pop(BASELINE)
        if not groups:
            raise MixtureError("There is no synthetic set to mix with the real data. Load or generate one.")
        if len(train) <= k:
            raise MixtureError(f"The real train split has {len(train)} samples; a mixture needs more than k = {k}.")
        self.set_names: list[str] = [BASELINE, *groups]  # group 0: real train
        members = [train, *groups.values()]
        self.pool_rows = np.concatenate(members)  # candidate index -> sample row
        self.group_of = np.repeat(np.arange(len(members)), [len(m) for m in members])
        self.group_starts = np.concatenate([[0], np.cumsum([len(m) for m in members])])
        self.group_sizes = np.array([len(m) for m in members])
        pool = len(self.pool_rows)
        self.neighbours = int(neighbours or min(384, max(64, (192 << 20) // (12 * pool))))
        self.neighbours = min(self.neighbours, pool - 1)

        blocks_pool = -(-pool // _block_rows(pool, np.float64))
        blocks_holdout = -(-len(self.holdout_rows) // _block_rows(pool, np.float64))
        total_steps, done = blocks_pool + blocks_holdout + 1, 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, total_steps)

        x = embeddings[self.pool_rows].astype(np.float64)
        self._x = x
        norms = np.einsum("ij,ij->i", x, x)
        self._norms = norms
        self._unit = x / np.sqrt(norms)[:, None]  # as vendi_score normalises
        reference = embeddings[self.holdout_rows].astype(np.float64)
        self._reference = reference
        self._reference_norms = np.einsum("ij,ij->i", reference, reference)
        self._reference_mean = reference.mean(axis=0)
        self.holdout_radii = knn_radii(reference, k)
        self.holdout_bins = rarity_bins(self.holdout_radii, bins)
        self._bin_sizes = np.bincount(self.holdout_bins, minlength=bins)

        # ---- candidates x candidates: neighbour lists, train radii, near-copies, train-ball membership
        train_n = len(train)
        sample_columns = np.random.default_rng(0).permutation(pool)[: max(4 * self.neighbours, 2048)]
        self._nbr = np.empty((pool, self.neighbours), dtype=np.int32)
        self._nbr_d2 = np.empty((pool, self.neighbours), dtype=np.float64)
        train_r2 = np.empty(train_n)
        self._near_copy = np.zeros(pool, dtype=bool)
        ball_rows, ball_cols = [], []
        step_rows = _block_rows(pool, np.float64)
        for start in range(0, pool, step_rows):
            stop = min(pool, start + step_rows)
            d2 = _squared_distances(x[start:stop], norms[start:stop], x, norms)
            local = np.arange(stop - start)
            d2[local, start + local] = np.inf  # a row is not its own neighbour
            self._nbr[start:stop], self._nbr_d2[start:stop] = _smallest(d2, self.neighbours, sample_columns)
            if start < train_n:  # train rows come first: their radii among train rows
                upto = min(stop, train_n) - start
                train_r2[start : start + upto] = _kth_smallest(d2[:upto, :train_n], k - 1)
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
        self._bound = self._nbr_d2[:, -1]  # every candidate off the list is at least this far
        self._train_bins = rarity_bins(np.sqrt(train_r2), bins)
        self._train_balls = _csr(
            np.concatenate(ball_rows) if ball_rows else np.zeros(0, np.int64),
            np.concatenate(ball_cols) if ball_cols else np.zeros(0, np.int64), pool,
        )[:2]

        # ---- holdout x candidates: which holdout balls hold each candidate; holdout samples near each candidate
        radii2 = self.holdout_radii**2
        holding_c, holding_j, near_c, near_j, near_d2 = [], [], [], [], []
        for start in range(0, len(reference), step_rows):
            stop = min(len(reference), start + step_rows)
            d2 = _squared_distances(reference[start:stop], self._reference_norms[start:stop], x, norms)
            j, c = np.nonzero(d2 < radii2[start:stop, None])
            holding_c.append(c)
            holding_j.append(j + start)
            j, c = np.nonzero(d2 < self._bound[None, :])
            near_c.append(c)
            near_j.append(j + start)
            near_d2.append(d2[j, c])
            synthetic = slice(train_n, pool)
            cosine = (self._reference_norms[start:stop, None] + norms[None, synthetic] - d2[:, synthetic]) / (
                2 * np.sqrt(self._reference_norms[start:stop, None]) * np.sqrt(norms[None, synthetic])
            )
            self._near_copy[synthetic] |= cosine.max(axis=0) >= near
            step()
        self._holding = _csr(np.concatenate(holding_c), np.concatenate(holding_j), pool)[:2]
        self._balls_holding = np.diff(self._holding[0])  # density counts; > 0 is precision
        self._nearby = _csr(np.concatenate(near_c), np.concatenate(near_j), pool, np.concatenate(near_d2))

        # ---- n-gram counts per candidate over one vocabulary (holdout words included, for rare tokens)
        self._build_ngrams(samples["text"].to_numpy())
        step()
        self._orders: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()
        self._recent: OrderedDict[MixtureSpec, dict[str, float]] = OrderedDict()  # the last metrics() results
        self.last_direct_rows = 0

    # ------------------------------------------------------------------ precomputation
    def _build_ngrams(self, texts: np.ndarray) -> None:
        vocabulary: dict[str, int] = {}
        token_ids = []
        for text in texts[self.pool_rows]:
            token_ids.append(np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in tokenize(text)), dtype=np.int64))
        holdout_tokens = [vocabulary.setdefault(t, len(vocabulary)) for text in texts[self.holdout_rows] for t in tokenize(text)]
        size = len(vocabulary)
        lengths = np.array([len(ids) for ids in token_ids])
        flat = np.concatenate(token_ids) if token_ids else np.zeros(0, np.int64)
        owner = np.repeat(np.arange(len(token_ids)), lengths)
        self._unigrams = self._count_matrix(owner, flat, size)
        keep = np.ones(len(flat), dtype=bool)
        keep[np.cumsum(lengths)[lengths > 0] - 1] = False  # a text's last token starts no bigram
        bigram_keys = flat[:-1][keep[:-1]] * size + flat[1:][keep[:-1]] if len(flat) > 1 else np.zeros(0, np.int64)
        bigram_owner = owner[:-1][keep[:-1]] if len(flat) > 1 else np.zeros(0, np.int64)
        vocabulary_bigrams, bigram_ids = np.unique(bigram_keys, return_inverse=True)
        self._bigrams = self._count_matrix(bigram_owner, bigram_ids.ravel(), len(vocabulary_bigrams))
        counts = np.bincount(np.asarray(holdout_tokens, dtype=np.int64), minlength=size)
        self._rare_tokens = np.flatnonzero((counts > 0) & (counts <= 2))

    def _count_matrix(self, owner: np.ndarray, ids: np.ndarray, size: int) -> sparse.csr_matrix:
        matrix = sparse.csr_matrix(
            (np.ones(len(ids), dtype=np.int64), (owner, ids)), shape=(len(self.pool_rows), max(size, 1))
        )
        matrix.sum_duplicates()
        return matrix

    def _eligible(self, group: int) -> np.ndarray:
        return np.arange(self.group_starts[group], self.group_starts[group + 1])

    def _dedup(self, order: np.ndarray) -> np.ndarray:
        """``order`` without near-copies of real rows and of rows of the same set kept before them."""
        kept = np.zeros(len(self.pool_rows), dtype=bool)
        out = []
        for c in order:
            if self._near_copy[c]:
                continue
            partners = self._nbr[c]
            same = self.group_of[partners] == self.group_of[c]
            if same.any():
                d2 = self._nbr_d2[c][same]
                p = partners[same]
                cosine = (self._norms[c] + self._norms[p] - d2) / (2 * np.sqrt(self._norms[c] * self._norms[p]))
                if kept[p[cosine >= self.near]].any():
                    continue
            kept[c] = True
            out.append(c)
        return np.asarray(out, dtype=np.int64)

    def _tail_order(self, order: np.ndarray) -> np.ndarray:
        """Weighted greedy maximum coverage of train k-NN balls (rarer bins weigh more), lazily evaluated."""
        indptr, balls = self._train_balls
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

    def _order(self, strategy: str, seed: int) -> dict[str, Any]:
        """Each set's draw order and its checkpoints (prefix sums of rows and of outer products)."""
        key = (strategy, int(seed))
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
        every = max(256, -(-len(self.pool_rows) // 64))
        grams, sums = [], []
        with _limit_threads():
            for order in orders:
                marks = list(range(0, len(order) + 1, every))
                gram = np.zeros((len(marks), self._unit.shape[1], self._unit.shape[1]))
                total = np.zeros((len(marks), self._x.shape[1]))
                for i in range(1, len(marks)):
                    chunk = order[marks[i - 1] : marks[i]]
                    gram[i] = gram[i - 1] + self._unit[chunk].T @ self._unit[chunk]
                    total[i] = total[i - 1] + self._x[chunk].sum(axis=0)
                grams.append(gram)
                sums.append(total)
        state = {"orders": orders, "every": every, "grams": grams, "sums": sums}
        self._orders[key] = state
        while len(self._orders) > 3:
            self._orders.popitem(last=False)
        return state

    def prepare(self, strategy: str = "uniform", seed: int = 0) -> None:
        """Build a draw order now (else on first use): dedup and tail-aware take a second or two."""
        self._order(strategy, seed)

    # ------------------------------------------------------------------ sampling
    def available(self, strategy: str = "uniform", seed: int = 0) -> dict[str, int]:
        """Rows each set (real train first) can give under ``strategy``: all of them, or fewer after dedup."""
        return dict(zip(self.set_names, (len(order) for order in self._order(strategy, seed)["orders"])))

    def counts(self, spec: MixtureSpec) -> dict[str, int]:
        """Rows per set (real train first) that ``spec`` draws; raises :class:`MixtureError` when impossible."""
        return dict(zip(self.set_names, self._counts(spec, self._order(spec.strategy, spec.seed)).tolist()))

    def _weights(self, spec: MixtureSpec) -> np.ndarray:
        synthetic = self.set_names[1:]
        unknown = sorted(set(spec.weights) - set(synthetic))
        if unknown:
            raise MixtureError(
                f"No synthetic set named {', '.join(map(repr, unknown))}; the sets are {', '.join(map(repr, synthetic))}."
            )
        if not spec.weights:
            return np.ones(len(synthetic))
        return np.array([spec.weights.get(name, 0.0) for name in synthetic])

    def _counts(self, spec: MixtureSpec, state: dict[str, Any]) -> np.ndarray:
        weights = self._weights(spec)
        capacity = np.array([len(order) for order in state["orders"]])
        n_real = int(math.floor(spec.real_share * spec.size + 0.5))
        n_synthetic = spec.size - n_real
        if n_real > capacity[0]:
            raise MixtureError(
                f"The mixture needs {n_real:,} real samples but the real train split has {capacity[0]:,}. "
                f"Lower the size to at most {int(capacity[0] / spec.real_share):,} or the real share to at most "
                f"{capacity[0] / spec.size:.0%}, or load more real data."
            )
        if n_synthetic and weights.sum() <= 0:
            raise MixtureError("Every synthetic weight is 0 but the real share is below 100 %: give a set a weight above 0.")
        available = int(capacity[1:][weights > 0].sum())
        if n_synthetic > available:
            after = " after removing near-copies" if spec.strategy != "uniform" else ""
            sets = ", ".join(f"{name} {capacity[1 + i]:,}" for i, name in enumerate(self.set_names[1:]) if weights[i] > 0)
            largest = int(available / (1 - spec.real_share)) if spec.real_share < 1 else spec.size
            raise MixtureError(
                f"The mixture needs {n_synthetic:,} synthetic samples but the sets with a weight above 0 hold "
                f"{available:,}{after} ({sets}). Lower the size to at most {largest:,}, raise the real share to at "
                f"least {1 - available / spec.size:.0%}, or give weight to more sets."
            )
        if spec.size <= self.k:
            raise MixtureError(f"A mixture of {spec.size} samples is too small: k-NN metrics need more than k = {self.k}.")
        return np.concatenate([[n_real], _allocate(n_synthetic, weights, capacity[1:])])

    def _chosen(self, spec: MixtureSpec) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        state = self._order(spec.strategy, spec.seed)
        counts = self._counts(spec, state)
        chosen = np.concatenate([order[:n] for order, n in zip(state["orders"], counts)])
        return chosen, counts, state

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
        n = len(chosen)
        with _limit_threads():
            out: dict[str, float] = {}
            out.update(self._fidelity(chosen))
            out.update(self._ngram_metrics(chosen))
            gram, total = self._prefix(state, counts)
            out["vendi"] = _vendi_from_gram(gram, n)
            mean = total / n
            a = self._reference_mean
            out["centroid shift"] = float(1 - a @ mean / (np.linalg.norm(a) * np.linalg.norm(mean)))
        order = ["coverage", "recall", "precision", "density", "tail coverage (rarest 10%)", "tail coverage (rarest 30%)"]
        order += [f"coverage bin {b}" for b in range(self.bins)]
        order += ["distinct-1", "distinct-2", "entropy-1", "entropy-2", "vendi", "centroid shift", "rare-token coverage"]
        return {name: out[name] for name in order}

    def _prefix(self, state: dict[str, Any], counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gram ``Σ u uᵀ`` of the unit rows and sum of the rows of each set's first ``counts`` rows."""
        every = state["every"]
        gram = np.zeros_like(state["grams"][0][0])
        total = np.zeros_like(state["sums"][0][0])
        for order, grams, sums, n in zip(state["orders"], state["grams"], state["sums"], counts):
            mark = min(int(round(n / every)), len(grams) - 1)
            gram += grams[mark]
            total += sums[mark]
            at = mark * every
            if n > at:
                chunk = order[at:n]
                gram += self._unit[chunk].T @ self._unit[chunk]
                total += self._x[chunk].sum(axis=0)
            elif n < at:
                chunk = order[n:at]
                gram -= self._unit[chunk].T @ self._unit[chunk]
                total -= self._x[chunk].sum(axis=0)
        return gram, total

    def _fidelity(self, chosen: np.ndarray) -> dict[str, float]:
        k, m, n = self.k, len(self.holdout_rows), len(chosen)
        # coverage and tails: holdout balls holding a chosen row
        indptr, holding = self._holding
        positions, _ = _gather(indptr, chosen)
        covered = np.zeros(m, dtype=bool)
        covered[holding[positions]] = True
        balls = self._balls_holding[chosen]
        out = {
            "coverage": float(covered.mean()),
            "precision": float((balls > 0).mean()),
            "density": float(balls.sum() / (k * n)),
        }
        for share, label in ((1, "tail coverage (rarest 10%)"), (3, "tail coverage (rarest 30%)")):
            in_tail = self.holdout_bins >= self.bins - share * self.bins // 10
            out[label] = float(covered[in_tail].mean())
        per_bin = np.bincount(self.holdout_bins[covered], minlength=self.bins) / np.maximum(self._bin_sizes, 1)
        out.update({f"coverage bin {b}": float(per_bin[b]) for b in range(self.bins)})
        out["recall"] = self._recall(chosen)
        return out

    def _radii2(self, chosen: np.ndarray) -> np.ndarray:
        """Squared k-NN radius of each chosen row within the chosen rows (as knn_radii computes it)."""
        k = self.k
        selected = np.zeros(len(self.pool_rows), dtype=bool)
        selected[chosen] = True
        r2 = np.full(len(chosen), np.nan)
        todo = np.arange(len(chosen))
        width = self.neighbours
        for stop in sorted({min(width, 4 * k), min(width, 32), min(width, 128), width}):
            if not len(todo):
                break
            hit = selected[self._nbr[chosen[todo], :stop]]
            running = np.cumsum(hit, axis=1)
            found = running[:, -1] >= k
            position = np.argmax(running >= k, axis=1)
            rows = todo[found]
            r2[rows] = self._nbr_d2[chosen[rows], position[found]]
            todo = todo[~found]
        if len(todo):  # fewer than k chosen rows among the kept neighbours: compute against the mixture
            x, norms = self._x[chosen], self._norms[chosen]
            step = _block_rows(len(chosen), np.float64)
            for start in range(0, len(todo), step):
                rows = todo[start : start + step]
                d2 = _squared_distances(x[rows], norms[rows], x, norms)
                d2[np.arange(len(rows)), rows] = np.inf
                r2[rows] = _kth_smallest(d2, k - 1)
        self.last_direct_rows = int(len(todo))
        return np.sqrt(r2) ** 2  # the radius, squared, as prdc compares

    def _recall(self, chosen: np.ndarray) -> float:
        r2 = self._radii2(chosen)
        m = len(self.holdout_rows)
        recalled = np.zeros(m, dtype=bool)
        beyond = r2 > self._bound[chosen]  # only rows computed directly can reach past their list
        listed = np.flatnonzero(~beyond)
        indptr, nearby, nearby_d2 = self._nearby
        positions, owner = _gather(indptr, chosen[listed])
        inside = nearby_d2[positions] < r2[listed][owner]
        recalled[nearby[positions[inside]]] = True
        far = np.flatnonzero(beyond)
        if len(far):
            rows = chosen[far]
            d2 = _squared_distances(self._reference, self._reference_norms, self._x[rows], self._norms[rows])
            recalled |= (d2 < r2[far][None, :]).any(axis=1)
        return float(recalled.mean())

    def _ngram_metrics(self, chosen: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for n, matrix in ((1, self._unigrams), (2, self._bigrams)):
            part = matrix[chosen]
            counts = np.bincount(part.indices, weights=part.data, minlength=matrix.shape[1])
            total = counts.sum()
            present = counts[counts > 0]
            out[f"distinct-{n}"] = float(len(present) / total) if total else 0.0
            out[f"entropy-{n}"] = _entropy_bits(present)
            if n == 1:
                used = counts[self._rare_tokens] > 0
                out["rare-token coverage"] = float(used.mean()) if len(self._rare_tokens) else float("nan")
        return out


def sample_mixture(pool: MixturePreview, spec: MixtureSpec) -> np.ndarray:
    """Positions in ``pool.samples`` of the rows of the mixture ``spec``, ascending.

    ``round(real_share * size)`` rows come from the real train split (never the holdout); the rest
    is split over the synthetic sets by ``weights`` with largest-remainder rounding (the Hamilton
    method), capped at what each set holds after the strategy's filtering; what a capped set cannot
    take goes to the others by weight. Each set contributes the first rows of its draw order for
    (strategy, seed), so the result is deterministic (see the module docstring for the strategies).

    Raises
    ------
    MixtureError
        When the sets cannot supply the rows (too few real or synthetic samples, all weights 0, an
        unknown set name), with what to change.
    """
    return pool.rows(spec)


# --------------------------------------------------------------------------- frontier and suggestion


def frontier(preview: MixturePreview, spec: MixtureSpec, shares: Sequence[float] | None = None) -> pd.DataFrame:
    """Each metric as a function of the real share, for the current size, weights, strategy and seed.

    Parameters
    ----------
    preview, spec
        The engine and the current mixture; ``spec.real_share`` is added to ``shares`` if missing.
    shares
        Real shares to evaluate (default 0, 0.1, …, 1).

    Returns
    -------
    DataFrame
        One row per share, ascending: ``real_share``, ``current`` (True at the spec's share), ``ok``
        (False where the mixture is impossible, with the reason in ``reason`` and NaN metrics), then
        every metric of :meth:`MixturePreview.metrics`.
    """
    shares = np.linspace(0, 1, 11) if shares is None else np.asarray(shares, dtype=float)
    shares = np.unique(np.round(np.append(shares, spec.real_share), 10))
    rows = []
    for share in shares:
        row: dict[str, Any] = {"real_share": float(share), "current": bool(np.isclose(share, spec.real_share)), "ok": True, "reason": ""}
        try:
            row.update(preview.metrics(replace(spec, real_share=float(share))))
        except MixtureError as exc:
            row.update(ok=False, reason=str(exc))
        rows.append(row)
    return pd.DataFrame(rows)


def _simplex(sets: int, steps: int) -> list[tuple[int, ...]]:
    if sets == 1:
        return [(steps,)]
    return [(first, *rest) for first in range(steps + 1) for rest in _simplex(sets - 1, steps - first)]


def suggest(
    preview: MixturePreview,
    size: int,
    min_real_share: float,
    *,
    seed: int = 0,
    strategies: Sequence[str] = STRATEGIES,
    steps: int | None = None,
    max_points: int = 40,
) -> tuple[MixtureSpec, str]:
    """The weights and strategy with the best tail coverage at ``size`` and the lowest allowed real share.

    Searches a grid on the weight simplex (weights in multiples of ``1 / steps``; default: the finest
    grid with at most ``max_points`` points) times ``strategies``, at ``real_share = min_real_share``:
    the most synthetic data the team allows, which is where the choice of weights matters most.
    Candidates are ranked by tail coverage of the rarest 10 % of the real holdout, then of the rarest
    30 %, then by Vendi score (diversity) and distinct-2. Impossible mixtures (a set too small) are
    skipped.

    The ranking is measured on the real holdout, the same data the preview reports, so the chosen
    mixture's numbers are slightly optimistic (selection among a few dozen candidates).

    Returns
    -------
    (MixtureSpec, str)
        The best spec and an explanation in words.

    Raises
    ------
    MixtureError
        When no candidate mixture is possible (the message of the last failure says why).
    """
    names = preview.set_names[1:]
    if steps is None:
        steps = 1
        while len(_simplex(len(names), steps + 1)) <= max_points and steps < 10:
            steps += 1
    grid = [point for point in _simplex(len(names), steps) if any(point)]
    results, last_error = [], None
    for strategy in strategies:
        for point in grid:
            spec = MixtureSpec(size=size, real_share=min_real_share, seed=seed, strategy=strategy,
                               weights={name: w / steps for name, w in zip(names, point)})
            try:
                values = preview.metrics(spec)
            except MixtureError as exc:
                last_error = exc
                continue
            key = (round(values["tail coverage (rarest 10%)"], 9), round(values["tail coverage (rarest 30%)"], 9),
                   values["vendi"], values["distinct-2"])
            results.append((key, spec, values))
    if not results:
        raise MixtureError(f"No mixture of this size and real share is possible. {last_error}")
    results.sort(key=lambda item: item[0], reverse=True)
    best_key, best, values = results[0]
    uniform_equal = MixtureSpec(size=size, real_share=min_real_share, seed=seed)
    try:
        reference = preview.metrics(uniform_equal)
    except MixtureError:
        reference = None
    ties = sum(1 for key, _, _ in results if key[:2] == best_key[:2])
    weights = ", ".join(f"{name} {w:.0%}" for name, w in best.weights.items() if w > 0)
    text = (
        f"At {size:,} samples with {min_real_share:.0%} real data, {weights} with the {best.strategy} strategy covers "
        f"{values['tail coverage (rarest 10%)']:.1%} of the rarest tenth of the real holdout and "
        f"{values['tail coverage (rarest 30%)']:.1%} of the rarest three tenths"
    )
    if reference is not None:
        text += (
            f" (equal weights, uniform: {reference['tail coverage (rarest 10%)']:.1%} and "
            f"{reference['tail coverage (rarest 30%)']:.1%})"
        )
    text += f"; {len(results)} possible mixtures compared (of {len(grid)} weightings × {len(strategies)} strategies)."
    if ties > 1:
        text += f" {ties} tie on tail coverage; the most diverse (Vendi {values['vendi']:.1f}) was chosen."
    text += " Measured on the real holdout, so slightly optimistic."
    return best, text


# --------------------------------------------------------------------------- export


_HASH_COLUMNS = ["id", "text", "source", "method", "generation", "label", "split"]


def samples_sha256(samples: pd.DataFrame) -> str:
    """SHA-256 of the sample table's data-model columns, row by row in order (stable across pandas versions)."""
    digest = hashlib.sha256()
    columns = [c for c in _HASH_COLUMNS if c in samples.columns]
    for row in samples[columns].itertuples(index=False, name=None):
        digest.update(json.dumps([None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in row],
                                 ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _package_version() -> str:
    try:
        import importlib.metadata

        return importlib.metadata.version("collapse-lab")
    except Exception:  # not installed: the source tree's version
        from analysis import __version__

        return __version__


def export_mixture(
    samples: pd.DataFrame,
    rows: np.ndarray,
    spec: MixtureSpec,
    path: str | Path,
    format: str | None = None,
    *,
    metrics: dict[str, float] | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the mixture's rows and ``<path>.manifest.json``, both atomically; return the manifest.

    Parameters
    ----------
    samples
        The sample table the rows index (positions, as :func:`sample_mixture` returns them).
    rows, spec
        The mixture's rows and the spec that drew them.
    path
        The rows file; its extension is the format unless ``format`` says otherwise.
    format
        ``"csv"``, ``"jsonl"`` or ``"parquet"``; default from the extension of ``path``.
    metrics
        The mixture's metric values (for example :meth:`MixturePreview.metrics`), recorded as they are.
    inputs
        Extra facts about the inputs (file names and their hashes), recorded under ``inputs``.

    Returns
    -------
    dict
        The manifest: ``inputs`` (``samples_sha256`` of the whole table and its row count),
        ``spec``, ``counts`` per source, method and set, ``rows`` (count and the ids in order),
        ``metrics``, ``file`` and its ``sha256``, ``package_version``. :func:`rows_from_manifest`
        rebuilds the rows from it.
    """
    from analysis.corpus import write_samples
    from analysis.workspace import atomic_write_bytes

    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    format = (format or suffix).lower()
    if format not in ("csv", "jsonl", "parquet"):
        raise MixtureError(f"Cannot write the mixture as {format!r}: use csv, jsonl or parquet.")
    if suffix != format:
        path = path.with_name(path.name + "." + format)
    samples = samples.reset_index(drop=True)
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(samples)):
        raise MixtureError("The mixture's rows do not belong to this sample table: draw them again.")
    mixture = samples.iloc[rows].reset_index(drop=True)
    write_samples(mixture, path)
    set_names = [BASELINE if s == "real" else (m if int(g) <= 1 else f"{m} g{int(g)}")
                 for s, m, g in zip(mixture["source"], mixture["method"], mixture["generation"])]
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "package": "collapse-lab",
        "package_version": _package_version(),
        "inputs": {"samples_sha256": samples_sha256(samples), "samples": len(samples), **(inputs or {})},
        "spec": spec.to_dict(),
        "counts": {
            "source": {str(k): int(v) for k, v in mixture["source"].value_counts().sort_index().items()},
            "method": {str(k): int(v) for k, v in mixture["method"].value_counts().sort_index().items()},
            "set": {str(k): int(v) for k, v in pd.Series(set_names).value_counts().sort_index().items()},
        },
        "guardrail": dict(zip(("level", "reason"), guardrail(spec.real_share))),
        "metrics": {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in (metrics or {}).items()},
        "rows": {"count": len(mixture), "ids": mixture["id"].astype(str).tolist()},
        "file": path.name,
        "format": format,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    atomic_write_bytes(path.with_name(path.name + ".manifest.json"),
                       json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
    return manifest


def rows_from_manifest(samples: pd.DataFrame, manifest: dict[str, Any] | str | Path) -> np.ndarray:
    """The positions in ``samples`` of a manifest's rows, in the order they were written.

    ``manifest`` is the dict :func:`export_mixture` returned, or the path of its ``.manifest.json``.
    Raises :class:`MixtureError` when ``samples`` is not the table the mixture was drawn from
    (its :func:`samples_sha256` differs) or when the manifest is damaged.
    """
    if not isinstance(manifest, dict):
        try:
            manifest = json.loads(Path(manifest).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MixtureError(f"Cannot read the mixture manifest {manifest}: {exc}.") from None
    try:
        expected, ids = manifest["inputs"]["samples_sha256"], manifest["rows"]["ids"]
    except (KeyError, TypeError):
        raise MixtureError("The mixture manifest lacks inputs.samples_sha256 or rows.ids: it is damaged or not a mixture manifest.") from None
    samples = samples.reset_index(drop=True)
    actual = samples_sha256(samples)
    if actual != expected:
        raise MixtureError(
            f"These samples are not the ones the mixture was drawn from (sha256 {actual[:12]}… vs {expected[:12]}… in "
            f"the manifest). Load the same files, with the same holdout share, in the same order."
        )
    position = pd.Series(np.arange(len(samples)), index=samples["id"].astype(str))
    missing = [i for i in ids if i not in position.index]
    if missing:
        raise MixtureError(f"{len(missing)} ids of the manifest are not in the samples (first: {missing[0]!r}).")
    return position.loc[ids].to_numpy()


def metrics_from_scratch(samples: pd.DataFrame, embeddings: np.ndarray, reference_rows: np.ndarray, rows: np.ndarray,
                         *, k: int = 5, bins: int = 10) -> dict[str, float]:
    """Every metric of :meth:`MixturePreview.metrics` computed directly with :mod:`analysis.metrics` on ``rows``.

    The reference the preview engine is checked against (tests) and timed against (benchmark):
    no precomputation, new distance matrices for every call.
    """
    from analysis.metrics import diversity, drift, fidelity, tails

    ref_x, x = embeddings[reference_rows].astype(np.float64), embeddings[rows].astype(np.float64)
    texts = list(samples["text"].to_numpy()[rows])
    out = dict(fidelity.prdc(ref_x, x, k=k))
    radii = tails.rarity(ref_x, k=k)
    bin_of = tails.rarity_bins(radii, bins)
    covered = fidelity.covered_by(ref_x, x, radii)
    out["tail coverage (rarest 10%)"] = covered[bin_of >= bins - 1].mean()
    out["tail coverage (rarest 30%)"] = covered[bin_of >= bins - 3].mean()
    table = tails.tail_coverage(ref_x, x, k=k, bins=bins)
    out.update({f"coverage bin {b}": c for b, c in zip(table["bin"], table["coverage"])})
    for n in (1, 2):
        out[f"distinct-{n}"] = diversity.distinct_n(texts, n)
        out[f"entropy-{n}"] = diversity.ngram_entropy(texts, n)
    out["vendi"] = diversity.vendi_score(x)
    out["centroid shift"] = drift.centroid_shift(ref_x, x)
    out["rare-token coverage"] = tails.rare_token_coverage(samples["text"].to_numpy()[reference_rows], texts)
    return out


# ---------------------------------------------------------------------- views for the designer page

def baseline_spec(preview: MixturePreview, spec: MixtureSpec) -> MixtureSpec:
    """All real train data at the spec's size (or all of the train split if it is smaller): the yardstick
    the designer measures a mixture against, as real train is in :func:`analysis.compare.compare`."""
    train = preview.available(spec.strategy, spec.seed)[BASELINE]
    return replace(spec, size=min(spec.size, train), real_share=1.0)


def review(preview: MixturePreview, spec: MixtureSpec, rules=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mixture's metrics beside the all-real baseline, and the collapse-risk rules that fire.

    Returns
    -------
    (table, fired)
        ``table``: one row per metric of :data:`DEFINITIONS`: ``metric, family, direction, value,
        baseline, definition``. ``fired``: :func:`analysis.risks.risks` on the mixture (set
        ``"mixture"``) against the baseline (set ``"real train"``); rules on metrics the preview does
        not compute (MAUVE, perplexity, novelty) do not fire here.
    """
    from analysis.compare import METRICS
    from analysis.risks import risks

    values = preview.metrics(spec)
    base = preview.metrics(baseline_spec(preview, spec))
    table = pd.DataFrame({
        "metric": list(DEFINITIONS),
        "family": [METRICS[m][0] for m in DEFINITIONS],
        "direction": [METRICS[m][1] for m in DEFINITIONS],
        "value": [values[m] for m in DEFINITIONS],
        "baseline": [base[m] for m in DEFINITIONS],
        "definition": list(DEFINITIONS.values()),
    })
    tidy = pd.concat([
        table.assign(set="mixture")[["set", "metric", "value"]],
        table.assign(set=BASELINE, value=table["baseline"])[["set", "metric", "value"]],
    ], ignore_index=True)
    return table, risks(tidy, rules)


def tail_bins(preview: MixturePreview, spec: MixtureSpec) -> pd.DataFrame:
    """Coverage per rarity bin of the mixture and of the all-real baseline, in the shape of
    :attr:`analysis.coverage.TailReport.bins` (``set, bin, coverage, covered, real, rarity_from,
    rarity_to``), for :func:`analysis.charts.tail_coverage_bars`."""
    frames = []
    bins = np.arange(preview.bins)
    real = np.bincount(preview.holdout_bins, minlength=preview.bins)
    low = [float(preview.holdout_radii[preview.holdout_bins == b].min()) if real[b] else math.nan for b in bins]
    high = [float(preview.holdout_radii[preview.holdout_bins == b].max()) if real[b] else math.nan for b in bins]
    for name, which in (("mixture", spec), (BASELINE, baseline_spec(preview, spec))):
        values = preview.metrics(which)
        coverage = np.array([values[f"coverage bin {b}"] for b in bins])
        frames.append(pd.DataFrame({"set": name, "bin": bins, "coverage": coverage, "covered": np.rint(coverage * real).astype(int),
                                    "real": real, "rarity_from": low, "rarity_to": high}))
    return pd.concat(frames, ignore_index=True)


def export_bytes(samples: pd.DataFrame, rows: np.ndarray, spec: MixtureSpec, format: str, *,
                 metrics: dict[str, float] | None = None, name: str = "mixture") -> tuple[str, bytes, bytes]:
    """:func:`export_mixture` into memory: ``(file name, rows file bytes, manifest bytes)`` for a download."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        manifest = export_mixture(samples, rows, spec, Path(folder) / f"{name}.{format}", format, metrics=metrics)
        path = Path(folder) / manifest["file"]
        return manifest["file"], path.read_bytes(), path.with_name(path.name + ".manifest.json").read_bytes()
