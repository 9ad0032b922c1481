"""A/B tests: is set (or mixture) B really better than A, metric by metric, with statistics a reviewer can trust?

:func:`ab_test` takes two row sets of one sample table (two synthetic sets, two generations, two
mixtures' rows from :meth:`analysis.mixture.MixtureEngine.rows`), subsamples both to the same size,
and for every metric of :func:`analysis.compare.compare` plus ``TSTR accuracy`` reports A, B, the
difference B − A, a 95 % bootstrap interval of the difference, a p-value, the Holm-adjusted p-value
across metrics and a verdict in words.

How the uncertainty is measured
-------------------------------
Each bootstrap round (Efron 1979) draws **one** resample of the real reference (holdout, with
replacement) that A and B share — the pairing: both sets are judged against the same real samples
in every round — and an independent resample of each set:

- metrics that are means over a set's own samples (precision, density, nearest-real similarity,
  exact, near and holdout copy rates) resample the set's samples with replacement: the plain bootstrap of a
  mean;
- metrics of the whole set (distinct-n, entropy, coverage, recall, tail coverage, duplicate rate,
  rare-token coverage, centroid shift, label divergence, length KS, mean pairwise distance) are
  recomputed on a half of each set drawn without replacement ("half-sampling", McCarthy 1969): a
  resample with replacement repeats about a third of the samples, which these metrics would count as
  duplicates; a half drawn without replacement has, for a mean, the variance of the full-size
  estimate (the finite-population factor (n − m)/(n − 1) halves it back);
- fitted metrics (TSTR, detection AUC, perplexity on real) are fitted once per set; the rounds
  resample the real samples they are scored on (paired) and, for detection, the set's out-of-fold
  scores. This is the test-set bootstrap of Koehn ("Statistical Significance Tests for Machine
  Translation Evaluation", 2004): it holds the fitted model fixed;
- slow metrics (compression ratio, self-BLEU, Vendi, Fréchet distance, MAUVE) are recomputed on
  ``slow_rounds`` half-samples and get a normal interval ``d ± 1.96 sd``.

Intervals are the bootstrap distribution's 2.5 and 97.5 percentiles, shifted so that its mean sits
on the observed difference (resamples move the level of size-sensitive metrics, not their spread).

The **permutation test** (Fisher 1935; Good, "Permutation Tests", 2000) applies where the metric
is a function of the set alone given the fixed real data, so that under H0 "A and B come from the
same source" the pooled samples are exchangeable: A and B are pooled, split at random into two sets
of the original sizes ``permutations`` times, and ``p = (1 + #{|d_perm| >= |d|}) / (1 + permutations)``
(Phipson and Smyth 2010). The others get the bootstrap p-value ``(1 + #{|d* - mean d*| >= |d|}) /
(1 + rounds)`` (the resampled differences centred on 0, a null distribution; Hall and Wilson 1991).
The p-values are adjusted with Holm's step-down method (Holm 1979), which controls the family-wise
error rate at ``alpha`` across all metrics.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
from scipy import sparse, stats

from analysis.compare import BASELINE, DEFINITIONS, METRICS, CompareError, equal_size, reference_rows, sets_of
from analysis.metrics import diversity, drift, fidelity, kernels, lm, tails, utility

__all__ = [
    "ab_test",
    "ab_sets",
    "ab_files",
    "holm",
    "ABResult",
    "AB_METRICS",
    "AB_DEFINITIONS",
    "COLUMNS",
    "format_table",
    "run_cli",
    "ABError",
]

#: metric -> (family, better direction, reference): every metric of compare, plus TSTR accuracy.
AB_METRICS: dict[str, tuple[str, str, str]] = {
    **METRICS,
    "TSTR accuracy": ("utility", "higher", "train on synthetic, test on real (Esteban et al. 2017)"),
}
#: metric -> one sentence (compare's definitions, plus TSTR accuracy).
AB_DEFINITIONS: dict[str, str] = {
    **DEFINITIONS,
    "TSTR accuracy": "Accuracy on the real holdout's labels of a logistic-regression topic classifier trained on the set's embeddings.",
    # compare counts holdout copies over the whole set; the A/B test, like its other metrics, on the equal-size rows
    "holdout copy rate": "Share of the set's samples (the equal-size rows tested) whose text equals a text of the real holdout.",
}
#: Columns of :attr:`ABResult.table`.
COLUMNS = [
    "metric",
    "family",
    "direction",
    "a",
    "b",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "test",
    "p_holm",
    "significant",
    "better",
    "verdict",
    "definition",
    "reference",
    "n",
]

# How each metric is resampled (see the module docstring).
_SAMPLE = {"precision", "density", "nearest-real similarity", "exact copy rate", "near copy rate", "holdout copy rate"}
_SET = {
    "distinct-1",
    "distinct-2",
    "distinct-3",
    "distinct-4",
    "entropy-1",
    "entropy-2",
    "mean pairwise distance",
    "recall",
    "coverage",
    "tail coverage (rarest 10%)",
    "tail coverage (rarest 30%)",
    "rare-token coverage",
    "duplicate rate",
    "centroid shift",
    "label divergence",
    "length KS",
}
_FITTED = {"perplexity on real", "TSTR macro-F1", "TSTR accuracy", "detection AUC"}
_SLOW = {"compression ratio", "self-BLEU", "vendi", "frechet distance", "mauve"}
#: Whole-set metrics that are not permutation-tested: recall uses each sample's k-NN radius within its own set.
_NOT_PERMUTED = {"recall"}

_PHRASES: dict[str, tuple[str, str]] = {
    "diversity": ("is more diverse", "is less diverse"),
    "fidelity": ("is closer to real data", "is further from real data"),
    "coverage": ("covers more of the real data", "covers less of the real data"),
    "tails": ("keeps more of the tail", "keeps less of the tail"),
    "novelty": ("copies less", "copies more"),
    "drift": ("drifts less from real data", "drifts more from real data"),
    "model health": ("trains a better language model of real text", "trains a worse language model of real text"),
    "utility": ("trains a better classifier for real data", "trains a worse classifier for real data"),
    "detection AUC": ("is harder to tell from real data", "is easier to tell from real data"),
}


class ABError(CompareError):
    """Two sets cannot be A/B tested as given; the message says what to change."""


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN stays NaN and is not counted.

    With the m finite p-values sorted ascending, ``p_holm_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``;
    rejecting where ``p_holm < alpha`` controls the family-wise error rate at ``alpha`` under any
    dependence between the tests. Reference: Holm, "A Simple Sequentially Rejective Multiple Test
    Procedure", Scandinavian Journal of Statistics, 1979.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    if finite.size == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


class _Context:
    """Everything the A/B metrics read, computed once: the pool (A's rows, then B's) and the real reference.

    Pool positions ``0 .. n_a - 1`` are A, ``n_a .. n_a + n_b - 1`` are B. Features are computed on
    first use, so a test of a few metrics costs only what they need.
    """

    def __init__(
        self,
        samples: pd.DataFrame,
        embeddings: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        reference: np.ndarray,
        train: np.ndarray,
        *,
        k: int,
        bins: int,
        seed: int,
    ) -> None:
        self.samples, self.k, self.bins, self.seed = samples, k, bins, seed
        self.rows = np.concatenate([a, b])
        self.sides = (np.arange(len(a)), np.arange(len(a), len(a) + len(b)))
        self.reference, self.train = reference, train
        self.x = np.asarray(embeddings[self.rows], np.float64)
        self.ref_x = np.asarray(embeddings[reference], np.float64)
        self.train_x = np.asarray(embeddings[train], np.float64)
        real = (samples["source"] == "real").to_numpy()
        self.other_real_x = np.asarray(embeddings[np.setdiff1d(np.flatnonzero(real), train)], np.float64)
        self.real_texts = set(samples["text"].to_numpy()[real])
        texts = samples["text"].to_numpy()
        self.texts, self.ref_texts = texts[self.rows], texts[reference]
        labels = samples["label"].to_numpy()
        self.labels, self.ref_labels = labels[self.rows], labels[reference]

    # ------------------------------------------------------------------ text features
    @cached_property
    def tokens(self) -> list[list[str]]:
        return [diversity.tokenize(t) for t in self.texts]

    def ngram_matrix(self, n: int) -> sparse.csr_matrix:
        """Counts of every n-gram per pool row (pool × vocabulary), over a vocabulary of the pool's n-grams."""
        cache = self.__dict__.setdefault("_ngram", {})
        if n not in cache:
            vocabulary: dict[tuple[str, ...], int] = {}
            indptr, indices = [0], []
            for tokens in self.tokens:
                ids = [vocabulary.setdefault(g, len(vocabulary)) for g in diversity.ngrams(tokens, n)]
                indices.extend(ids)
                indptr.append(len(indices))
            data = np.ones(len(indices), np.float64)
            matrix = sparse.csr_matrix(
                (data, np.asarray(indices, np.int64), np.asarray(indptr)),
                shape=(len(self.tokens), max(len(vocabulary), 1)),
            )
            matrix.sum_duplicates()
            cache[n] = (matrix, vocabulary)
        return cache[n][0]

    def ngram_counts(self, s: np.ndarray, n: int) -> np.ndarray:
        matrix = self.ngram_matrix(n)
        rows = matrix[s]
        return np.bincount(rows.indices, weights=rows.data, minlength=matrix.shape[1])

    @cached_property
    def rare_ids(self) -> tuple[np.ndarray, int]:
        """Pool unigram ids of the reference's rare tokens (seen at most twice in it), and how many rare tokens there are."""
        from collections import Counter

        counts = Counter(token for text in self.ref_texts for token in diversity.tokenize(text))
        rare = [token for token, count in counts.items() if count <= 2]
        self.ngram_matrix(1)
        vocabulary = self.__dict__["_ngram"][1][1]
        return np.array([vocabulary[(t,)] for t in rare if (t,) in vocabulary], np.int64), len(rare)

    @cached_property
    def label_codes(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Integer codes of the reference's and the pool's labels (-1: no label), and how many labels."""
        values = pd.Series(np.concatenate([self.ref_labels, self.labels]), dtype=object)
        given = utility._present(values)
        codes = np.full(len(values), -1)
        codes[given], uniques = pd.factorize(values[given].astype(str))
        return codes[: len(self.ref_labels)], codes[len(self.ref_labels) :], max(len(uniques), 1)

    @cached_property
    def text_ids(self) -> np.ndarray:
        return pd.factorize(pd.Series(self.texts))[0]

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.array([len(t.split()) for t in self.texts])

    @cached_property
    def ref_lengths(self) -> np.ndarray:
        return np.array([len(t.split()) for t in self.ref_texts])

    # ------------------------------------------------------------------ embedding features
    @cached_property
    def ref_radii(self) -> np.ndarray:
        return tails.rarity(self.ref_x, k=self.k)

    @cached_property
    def tail_masks(self) -> dict[str, np.ndarray]:
        bin_of = tails.rarity_bins(self.ref_radii, self.bins)
        return {
            "tail coverage (rarest 10%)": bin_of >= self.bins - 1 * self.bins // 10,
            "tail coverage (rarest 30%)": bin_of >= self.bins - 3 * self.bins // 10,
        }

    @cached_property
    def distances(self) -> np.ndarray:
        """Euclidean distances reference × pool, as :mod:`analysis.metrics.fidelity` computes them."""
        ref_norms = np.einsum("ij,ij->i", self.ref_x, self.ref_x)
        norms = np.einsum("ij,ij->i", self.x, self.x)
        return np.sqrt(fidelity._squared_distances(self.ref_x, ref_norms, self.x, norms))

    @cached_property
    def inside(self) -> np.ndarray:
        """inside[i, j]: pool row j lies in reference sample i's k-NN ball."""
        return self.distances <= self.ref_radii[:, None]

    @cached_property
    def own_radii(self) -> np.ndarray:
        """Each pool row's k-NN radius within its own set (A or B), for recall."""
        radii = np.empty(len(self.rows))
        for side in self.sides:
            radii[side] = fidelity.knn_radii(self.x[side], self.k)
        return radii

    @cached_property
    def nearest_train(self) -> np.ndarray:
        return fidelity.nearest_similarity(self.x, self.train_x)[0]

    @cached_property
    def nearest_real(self) -> np.ndarray:
        """Cosine to the nearest real sample, train or holdout (near copies)."""
        if not len(self.other_real_x):
            return self.nearest_train
        return np.maximum(self.nearest_train, fidelity.nearest_similarity(self.x, self.other_real_x)[0])

    @cached_property
    def copies(self) -> np.ndarray:
        """1 where the text equals a real text, train or holdout (as compare counts copies)."""
        return np.array([t in self.real_texts for t in self.texts], np.float64)

    @cached_property
    def holdout_copies(self) -> np.ndarray:
        reference_texts = set(self.ref_texts)
        return np.array([t in reference_texts for t in self.texts], np.float64)

    def per_sample(self, metric: str) -> np.ndarray:
        """Per pool row, the value whose mean over a set is ``metric`` (the ``_SAMPLE`` metrics)."""
        if metric == "precision":
            return self.inside.any(axis=0).astype(np.float64)
        if metric == "density":
            return self.inside.sum(axis=0) / self.k
        if metric == "nearest-real similarity":
            return self.nearest_train
        if metric == "exact copy rate":
            return self.copies
        if metric == "near copy rate":
            return (self.nearest_real >= 0.95).astype(np.float64)
        if metric == "holdout copy rate":
            return self.holdout_copies
        raise KeyError(metric)

    # ------------------------------------------------------------------ fitted per side
    @cached_property
    def labelled(self) -> bool:
        return utility.has_labels(self.ref_labels)

    @cached_property
    def tstr(self) -> list[utility.TSTRResult | None]:
        out = []
        for side in self.sides:
            try:
                out.append(utility.tstr(self.x[side], self.labels[side], self.ref_x, self.ref_labels, seed=self.seed))
            except utility.UtilityError:
                out.append(None)
        return out

    @cached_property
    def tstr_codes(self) -> tuple[np.ndarray, list[np.ndarray | None], int, np.ndarray]:
        """Integer codes of the labelled reference rows' true labels and of each side's predictions."""
        keep = utility._present(self.ref_labels)
        true = self.ref_labels[keep].astype(str)
        names = sorted(set(true) | {p for r in self.tstr if r is not None for p in r.predicted})
        code = {name: i for i, name in enumerate(names)}
        true_codes = np.array([code[t] for t in true])
        predicted = [None if r is None else np.array([code[p] for p in r.predicted]) for r in self.tstr]
        return true_codes, predicted, len(names), np.flatnonzero(keep)

    @cached_property
    def detection(self) -> list[utility.DetectionResult]:
        return [utility.detection(self.ref_x, self.x[side], seed=self.seed) for side in self.sides]

    @cached_property
    def perplexity_parts(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per side, per reference text: the sum of log-probabilities and the number of scored tokens."""
        out = []
        ref_tokens = [diversity.tokenize(t) for t in self.ref_texts]
        counts = np.array([len(t) + 1 for t in ref_tokens], np.float64)
        for side in self.sides:
            model = lm.KneserNeyLM(3).fit(self.tokens[i] for i in side)
            logs = np.array([-c * math.log(model.perplexity_tokens([t])) for t, c in zip(ref_tokens, counts)])
            out.append((logs, counts))
        return out


def _value(ctx: _Context, metric: str, side: int, s: np.ndarray, ref: np.ndarray) -> float:
    """``metric`` of the pool rows ``s`` (of set ``side``) against the reference rows ``ref`` (positions in it)."""
    if metric.startswith("distinct-"):
        counts = ctx.ngram_counts(s, int(metric[-1]))
        total = counts.sum()
        return float(np.count_nonzero(counts) / total) if total else 0.0
    if metric.startswith("entropy-"):
        return kernels.entropy_bits(ctx.ngram_counts(s, int(metric[-1])))
    if metric == "mean pairwise distance":
        return diversity.mean_pairwise_distance(ctx.x[s])
    if metric in _SAMPLE:
        return float(ctx.per_sample(metric)[s].mean())
    if metric == "coverage" or metric.startswith("tail coverage"):
        if fidelity.coverage_unsupported(len(ctx.reference), ctx.k):
            return float("nan")  # below the coverage floor, as in compare: no number rather than an inflated one
        covered = ctx.inside[:, np.unique(s)].any(axis=1)[ref]
        if metric != "coverage":
            covered = covered[ctx.tail_masks[metric][ref]]
        return float(covered.mean()) if covered.size else float("nan")
    if metric == "recall":
        unique = np.unique(s)
        return float((ctx.distances[:, unique] <= ctx.own_radii[unique][None, :]).any(axis=1)[ref].mean())
    if metric == "rare-token coverage":
        rare, total = ctx.rare_ids
        if not total:
            return float("nan")
        return float(np.count_nonzero(ctx.ngram_counts(s, 1)[rare]) / total)
    if metric == "duplicate rate":
        return float(1 - len(np.unique(ctx.text_ids[s])) / len(s))
    if metric == "centroid shift":
        return drift.centroid_shift(ctx.ref_x[ref], ctx.x[s])
    if metric == "label divergence":
        ref_codes, codes, count = ctx.label_codes
        p = np.bincount(ref_codes[ref][ref_codes[ref] >= 0], minlength=count).astype(np.float64)
        q = np.bincount(codes[s][codes[s] >= 0], minlength=count).astype(np.float64)
        return kernels.jensen_shannon(p, q)
    if metric == "length KS":
        return kernels.ks_statistic(ctx.ref_lengths[ref], ctx.lengths[s])
    if metric == "compression ratio":
        return diversity.compression_ratio(list(ctx.texts[s]))
    if metric == "self-BLEU":
        return diversity.self_bleu(list(ctx.texts[s]), sample_size=500, seed=ctx.seed)
    if metric == "vendi":
        return diversity.vendi_score(ctx.x[s])
    if metric == "frechet distance":
        return fidelity.frechet_distance(ctx.ref_x[ref], ctx.x[s])
    if metric == "mauve":
        from analysis.compare import _mauve

        return _mauve(ctx.ref_x[ref], ctx.x[s], ctx.seed)
    if metric == "perplexity on real":
        logs, counts = ctx.perplexity_parts[side]
        return float(math.exp(-logs[ref].sum() / counts[ref].sum()))
    if metric in ("TSTR macro-F1", "TSTR accuracy"):
        true, predicted, labels, kept = ctx.tstr_codes
        if predicted[side] is None:
            return float("nan")
        position = np.full(len(ctx.ref_x), -1)
        position[kept] = np.arange(len(kept))
        chosen = position[ref]
        chosen = chosen[chosen >= 0]
        if metric == "TSTR accuracy":
            return float((true[chosen] == predicted[side][chosen]).mean())
        return kernels.macro_f1(true[chosen], predicted[side][chosen], labels)
    if metric == "detection AUC":
        result = ctx.detection[side]
        real = result.real_scores[ref]
        synthetic = result.synthetic_scores[s - ctx.sides[side][0]]
        return utility._auc(real[~np.isnan(real)], synthetic[~np.isnan(synthetic)])
    raise KeyError(metric)


@dataclass(frozen=True)
class ABResult:
    """What :func:`ab_test` found.

    Attributes
    ----------
    table
        One row per metric, columns :data:`COLUMNS`: ``metric, family, direction, a, b, difference``
        (B − A), ``ci_low, ci_high`` (95 % interval of the difference, or ``1 - alpha``), ``p_value``,
        ``test`` (``permutation``, ``bootstrap``, ``bootstrap (normal)``; empty when untested),
        ``p_holm``, ``significant`` (``p_holm < alpha`` and the interval excludes 0: both must agree),
        ``better`` (the name of the set the metric
        favours when significant, else empty), ``verdict`` (one sentence), ``definition``, ``reference``, ``n``.
    names
        (name of A, name of B).
    per_label
        TSTR per real label: ``label, support, recall_a, recall_b, recall_real, train_a, train_b``
        (``recall_real``: a classifier trained on real train data of the same size, the ceiling); empty
        without labels.
    ceiling
        ``TSTR macro-F1`` and ``TSTR accuracy`` of real train data at the same size (NaN without labels).
    most_synthetic
        Per name, the samples the detector finds most "synthetic": ``position, score, text, row``
        (``row``: position in the sample table).
    settings
        Sizes, seeds, rounds, permutations, alpha, seconds.
    """

    table: pd.DataFrame
    names: tuple[str, str]
    per_label: pd.DataFrame
    ceiling: dict[str, float]
    most_synthetic: dict[str, pd.DataFrame]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``python -m analysis ab --format json`` prints)."""
        return {
            "names": list(self.names),
            "settings": self.settings,
            "metrics": self.table.to_dict("records"),
            "ceiling": self.ceiling,
            "per_label": self.per_label.to_dict("records"),
            "most_synthetic": {name: frame.to_dict("records") for name, frame in self.most_synthetic.items()},
        }


def _number(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "n/a"


def _verdict(
    metric: str,
    family: str,
    direction: str,
    names: tuple[str, str],
    difference: float,
    low: float,
    high: float,
    p_holm: float,
    significant: bool,
    level: float,
) -> tuple[str, str]:
    """The verdict sentence and the name of the set the metric favours ("" when none)."""
    interval = f"{level:.0%} CI [{_number(low)}, {_number(high)}]".replace("%", " %")
    if not math.isfinite(difference):
        return f"{metric} could not be computed for both sets.", ""
    if not math.isfinite(p_holm):
        return f"{metric}: {difference:+.3g} (B − A), {interval}; not tested.", ""
    if not significant:
        return f"No clear difference in {metric}: {difference:+.3g}, {interval}, Holm p = {_number(p_holm)}.", ""
    b_better = (difference > 0) == (direction == "higher")
    better, worse = _PHRASES.get(metric, _PHRASES.get(family, ("scores better", "scores worse")))
    sentence = (
        f"{names[1]} {better if b_better else worse} than {names[0]}: {difference:+.3g} {metric}, "
        f"{interval}, Holm p = {_number(p_holm)}."
    )
    return sentence, names[1] if b_better else names[0]


def ab_test(
    samples: pd.DataFrame,
    a_rows: Sequence[int] | np.ndarray,
    b_rows: Sequence[int] | np.ndarray,
    *,
    names: tuple[str, str] = ("A", "B"),
    embeddings: np.ndarray | None = None,
    reference: str = "holdout",
    size: int | None = None,
    metrics: Sequence[str] | None = None,
    rounds: int = 999,
    permutations: int = 999,
    slow_rounds: int = 20,
    alpha: float = 0.05,
    seed: int = 0,
    k: int = 5,
    bins: int = 10,
    with_mauve: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ABResult:
    """A/B test two row sets of ``samples`` on every metric: difference, interval, p-value, Holm, verdict.

    For each metric m (those of :func:`analysis.compare.compare`, plus ``TSTR accuracy``), with A and
    B subsampled (seeded) to the same size n and judged against the real ``reference`` split:
    ``difference = m(B) - m(A)``; a paired bootstrap interval of it (Efron, "Bootstrap Methods: Another
    Look at the Jackknife", 1979; pairing and resampling per metric as in the module docstring); a
    permutation p-value where the metric is a function of the set alone, otherwise a bootstrap
    p-value; Holm-adjusted p-values across the tested metrics (Holm 1979); and a verdict such as
    "paraphrase keeps more of the tail than llm: +0.08 tail coverage (rarest 10%), 95 % CI [0.05, 0.11],
    Holm p = 0.002."

    Parameters
    ----------
    samples
        The sample table, with real data holding a ``reference`` split (and a ``train`` split, the
        base of the novelty metrics).
    a_rows, b_rows
        Positions (``iloc``) of A's and B's rows: a synthetic set (:func:`ab_sets`), a mixture's rows
        (:meth:`analysis.mixture.MixtureEngine.rows`), any rows. They may overlap (two mixtures share real rows).
    names
        What to call A and B in the verdicts.
    embeddings
        Rows aligned with ``samples``; default :func:`analysis.embed.embed` (cached).
    size
        Rows per set; default the smaller set. Both are subsampled to it with ``seed``.
    metrics
        Only these metrics (default: all of :data:`AB_METRICS`, MAUVE only ``with_mauve``).
    rounds, permutations, slow_rounds
        Bootstrap rounds, permutations, half-sample rounds of the slow metrics. With m tested
        metrics, the smallest p-value, ``1 / (permutations + 1)``, must be below ``alpha / m`` for Holm
        to ever reject: keep 999 for a full test.
    alpha
        Family-wise error rate of the verdicts; intervals are at level ``1 - alpha``.
    seed, k, bins
        Seed of the subsampling and of every resampling; neighbours and rarity bins as in compare.
    with_mauve
        Add MAUVE (seconds per computation; its interval uses ``slow_rounds`` half-samples).
    progress
        ``progress(done, total)`` per metric.

    Returns
    -------
    ABResult
        ``table`` with :data:`COLUMNS`, the TSTR per-label recalls, the real-train ceiling and the
        most "synthetic"-looking samples of each set.

    Raises
    ------
    ABError
        When a set has k or fewer rows, the names are equal, or a metric is unknown.
    CompareError
        When the real reference split has k or fewer samples.
    """
    with kernels.one_blas_thread():
        return _ab_test(
            samples,
            a_rows,
            b_rows,
            names=names,
            embeddings=embeddings,
            reference=reference,
            size=size,
            metrics=metrics,
            rounds=rounds,
            permutations=permutations,
            slow_rounds=slow_rounds,
            alpha=alpha,
            seed=seed,
            k=k,
            bins=bins,
            with_mauve=with_mauve,
            progress=progress,
        )


def _ab_test(
    samples,
    a_rows,
    b_rows,
    *,
    names,
    embeddings,
    reference,
    size,
    metrics,
    rounds,
    permutations,
    slow_rounds,
    alpha,
    seed,
    k,
    bins,
    with_mauve,
    progress,
) -> ABResult:
    start = time.perf_counter()
    if names[0] == names[1]:
        raise ABError(f"A and B are both called {names[0]!r}; give them different names.")
    samples = samples.reset_index(drop=True)
    a_rows, b_rows = np.asarray(a_rows, dtype=np.int64), np.asarray(b_rows, dtype=np.int64)
    for name, rows in zip(names, (a_rows, b_rows)):
        if len(rows) <= k:
            raise ABError(f"{name} has {len(rows)} samples; an A/B test needs at least {k + 1} (k + 1) in each set.")
        if rows.min() < 0 or rows.max() >= len(samples):
            raise ABError(f"{name}'s rows are not positions of the sample table (0 .. {len(samples) - 1}).")
    chosen = metrics or [m for m in AB_METRICS if with_mauve or m != "mauve"]
    unknown = [m for m in chosen if m not in AB_METRICS]
    if unknown:
        raise ABError(f"Unknown metric(s) {', '.join(map(repr, unknown))}; known: {', '.join(AB_METRICS)}.")
    if embeddings is None:
        from analysis.embed import embed

        embeddings = embed(samples["text"])
    embeddings = np.asarray(embeddings)
    if len(embeddings) != len(samples):
        raise ABError(f"{len(embeddings)} embeddings for {len(samples)} samples: embed the same table first.")
    reference_positions = reference_rows(samples, reference, k=k)
    train = sets_of(samples)[BASELINE]
    subsampled = equal_size({"a": a_rows, "b": b_rows}, size, seed)
    ctx = _Context(
        samples, embeddings, subsampled["a"], subsampled["b"], reference_positions, train, k=k, bins=bins, seed=seed
    )
    n, n_ref = len(subsampled["a"]), len(reference_positions)
    full_ref = np.arange(n_ref)
    side_a, side_b = ctx.sides
    rng = np.random.default_rng([seed, 2])
    # One draw per round, shared by every metric: the pairing holds across metrics too.
    draws_n = max(rounds, slow_rounds)
    ref_draws = rng.integers(0, n_ref, size=(draws_n, n_ref))
    boot = [side[rng.integers(0, len(side), size=(draws_n, len(side)))][:rounds] for side in ctx.sides]
    half = [
        np.sort(np.argsort(rng.random((draws_n, len(side))), axis=1)[:, : len(side) // 2], axis=1) + side[0]
        for side in ctx.sides
    ]
    slow_half = [h[:slow_rounds] for h in half]
    pooled = np.concatenate(ctx.sides)
    perms = np.argsort(rng.random((permutations, len(pooled))), axis=1)
    perm_a, perm_b = pooled[perms[:, : len(side_a)]], pooled[perms[:, len(side_a) :]]
    z = stats.norm.ppf(1 - alpha / 2)

    records = []
    for done, metric in enumerate(chosen, start=1):
        family, direction, citation = AB_METRICS[metric]
        a = _value(ctx, metric, 0, side_a, full_ref)
        b = _value(ctx, metric, 1, side_b, full_ref)
        difference = b - a
        low = high = p = float("nan")
        test = ""
        if math.isfinite(difference):
            if metric in _SLOW:
                draws = np.array(
                    [
                        _value(ctx, metric, 1, slow_half[1][r], ref_draws[r])
                        - _value(ctx, metric, 0, slow_half[0][r], ref_draws[r])
                        for r in range(slow_rounds)
                    ]
                )
                spread = float(np.std(draws, ddof=1)) if slow_rounds > 1 else float("nan")
                if math.isfinite(spread) and spread > 0:
                    low, high = difference - z * spread, difference + z * spread
                    p, test = float(2 * stats.norm.sf(abs(difference) / spread)), "bootstrap (normal)"
            else:
                if metric in _SAMPLE:
                    values = ctx.per_sample(metric)
                    draws = values[boot[1]].mean(axis=1) - values[boot[0]].mean(axis=1)
                else:
                    sets = boot if metric in _FITTED else half
                    draws = np.array(
                        [
                            _value(ctx, metric, 1, sets[1][r], ref_draws[r])
                            - _value(ctx, metric, 0, sets[0][r], ref_draws[r])
                            for r in range(rounds)
                        ],
                        dtype=np.float64,
                    )
                draws = draws[np.isfinite(draws)]
                if draws.size:
                    centred = draws - draws.mean()
                    low, high = difference + np.percentile(centred, [100 * alpha / 2, 100 * (1 - alpha / 2)])
                    if metric in _FITTED or metric in _NOT_PERMUTED:
                        p, test = (
                            (1 + np.count_nonzero(np.abs(centred) >= abs(difference) - 1e-12)) / (1 + draws.size),
                            "bootstrap",
                        )
                    elif permutations:
                        if metric in _SAMPLE:
                            null = values[perm_b].mean(axis=1) - values[perm_a].mean(axis=1)
                        else:
                            null = np.array(
                                [
                                    _value(ctx, metric, 1, perm_b[r], full_ref)
                                    - _value(ctx, metric, 0, perm_a[r], full_ref)
                                    for r in range(permutations)
                                ]
                            )
                        null = null[np.isfinite(null)]
                        p, test = (
                            (1 + np.count_nonzero(np.abs(null) >= abs(difference) - 1e-12)) / (1 + null.size),
                            "permutation",
                        )
        records.append(
            {
                "metric": metric,
                "family": family,
                "direction": direction,
                "a": a,
                "b": b,
                "difference": difference,
                "ci_low": float(low),
                "ci_high": float(high),
                "p_value": float(p),
                "test": test,
                "definition": AB_DEFINITIONS[metric],
                "reference": citation,
                "n": n,
            }
        )
        if progress:
            progress(done, len(chosen))
    table = pd.DataFrame(records)
    table["p_holm"] = holm(table["p_value"])
    # A verdict needs both: the Holm-adjusted test rejects, and the interval of the difference excludes 0.
    table["significant"] = (table["p_holm"] < alpha) & ((table["ci_low"] > 0) | (table["ci_high"] < 0))
    verdicts = [
        _verdict(
            r.metric,
            r.family,
            r.direction,
            names,
            r.difference,
            r.ci_low,
            r.ci_high,
            r.p_holm,
            r.significant,
            1 - alpha,
        )
        for r in table.itertuples()
    ]
    table["verdict"] = [v for v, _ in verdicts]
    table["better"] = [w for _, w in verdicts]
    table = table[COLUMNS]

    per_label, ceiling = _tstr_tables(ctx, n, seed)
    most = {}
    if any(m == "detection AUC" for m in chosen):
        for name, side, result in zip(names, ctx.sides, ctx.detection):
            frame = utility.most_synthetic(ctx.texts[side], result, n=10)
            frame["row"] = ctx.rows[side][frame["position"].to_numpy()]
            most[name] = frame
    settings = {
        "n": n,
        "reference": reference,
        "reference_n": n_ref,
        "seed": seed,
        "k": k,
        "bins": bins,
        "rounds": rounds,
        "permutations": permutations,
        "slow_rounds": slow_rounds,
        "alpha": alpha,
        "seconds": round(time.perf_counter() - start, 3),
    }
    return ABResult(
        table=table, names=tuple(names), per_label=per_label, ceiling=ceiling, most_synthetic=most, settings=settings
    )


def _tstr_tables(ctx: _Context, n: int, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """TSTR per label for A, B and real train data of the same size (the ceiling)."""
    empty = pd.DataFrame(columns=["label", "support", "recall_a", "recall_b", "recall_real", "train_a", "train_b"])
    nan = {"TSTR macro-F1": float("nan"), "TSTR accuracy": float("nan")}
    if not ctx.labelled or "tstr" not in ctx.__dict__ or any(r is None for r in ctx.tstr):
        return empty, nan
    train = equal_size({"real": ctx.train}, n, seed)["real"]
    embeddings_train = ctx.train_x[np.searchsorted(ctx.train, train)]
    try:
        real = utility.tstr(
            embeddings_train, ctx.samples["label"].to_numpy()[train], ctx.ref_x, ctx.ref_labels, seed=seed
        )
    except utility.UtilityError:
        return empty, nan
    a, b = ctx.tstr
    table = pd.DataFrame(
        {
            "label": a.per_label["label"],
            "support": a.per_label["support"],
            "recall_a": a.per_label["recall"],
            "recall_b": b.per_label["recall"],
            "recall_real": real.per_label["recall"],
            "train_a": a.per_label["train"],
            "train_b": b.per_label["train"],
        }
    )
    return table, {"TSTR macro-F1": real.macro_f1, "TSTR accuracy": real.accuracy}


def ab_sets(samples: pd.DataFrame, a: str, b: str, **options: Any) -> ABResult:
    """:func:`ab_test` of two sets named as :func:`analysis.compare.sets_of` names them (``"llm"``, ``"llm g2"``, ``"real train"``)."""
    groups = sets_of(samples.reset_index(drop=True))
    missing = [name for name in (a, b) if name not in groups]
    if missing:
        raise ABError(f"No set called {', '.join(map(repr, missing))}; the sets are: {', '.join(groups)}.")
    return ab_test(samples, groups[a], groups[b], names=(a, b), **options)


def ab_files(
    real: Sequence[str | Path],
    a: tuple[str, str | Path],
    b: tuple[str, str | Path],
    *,
    holdout: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> ABResult:
    """:func:`ab_test` of two files against real files: ``a`` and ``b`` are ``(name, path)``.

    Every row of A's file is A (a synthetic set or an exported mixture, real rows included), every row
    of B's file is B; the real files give the reference (``holdout`` share, by hash) and the train split.
    """
    from analysis.corpus import combine_samples, read_samples
    from analysis.embed import embed

    if a[0] == b[0]:
        raise ABError(f"A and B are both called {a[0]!r}; name them differently (NAME=FILE).")
    tables = [read_samples(path, source="real", holdout_fraction=holdout)[0] for path in real]
    sides = [read_samples(path, source="synthetic", method=name)[0] for name, path in (a, b)]
    samples = combine_samples(*tables, *sides)[0]
    start = sum(len(t) for t in tables)
    a_rows = np.arange(start, start + len(sides[0]))
    b_rows = np.arange(start + len(sides[0]), start + len(sides[0]) + len(sides[1]))
    vectors = embed(samples["text"], progress=progress)
    return ab_test(samples, a_rows, b_rows, names=(a[0], b[0]), embeddings=vectors, **options)


def format_table(result: ABResult) -> str:
    """The A/B table as text: one line per metric, then the verdicts of the significant ones."""
    table = result.table
    shown = table[["family", "metric", "a", "b", "difference", "ci_low", "ci_high", "p_holm"]].rename(
        columns={"a": result.names[0], "b": result.names[1], "difference": "B - A", "p_holm": "Holm p"}
    )
    lines = [shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"), ""]
    significant = table[table["significant"]]
    lines.append(
        f"{len(significant)} of {table['p_holm'].notna().sum()} tested metrics differ "
        f"(Holm, alpha = {result.settings.get('alpha', 0.05)}; n = {result.settings.get('n')} per set):"
    )
    lines += [f"  {verdict}" for verdict in significant["verdict"]]
    return "\n".join(lines)


def run_cli(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``python -m analysis ab``: read the files, run :func:`ab_files`, print a table or JSON; the exit code.

    ``args`` holds ``real`` (paths), ``a`` and ``b`` (``(name, path)``), ``format`` (``table`` or
    ``json``), ``size``, ``seed``, ``holdout``, ``rounds``, ``permutations``, ``alpha`` and ``mauve``.
    """
    from tqdm import tqdm

    with tqdm(total=0, unit="text", desc="embedding", file=sys.stderr) as bar:

        def embedded(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = ab_files(
            args.real,
            args.a,
            args.b,
            holdout=args.holdout,
            progress=embedded,
            size=args.size,
            seed=args.seed,
            rounds=args.rounds,
            permutations=args.permutations,
            alpha=args.alpha,
            with_mauve=args.mauve,
        )
    out = out or sys.stdout
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, default=str), file=out)
    else:
        print(format_table(result), file=out)
    return 0
