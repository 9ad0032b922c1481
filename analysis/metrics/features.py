"""One set's features against one reference, computed directly: what ``compare`` and the mixture oracle measure.

:class:`SetFeatures` offers the :class:`analysis.metrics.formulas.Features` of a set of rows (texts,
embeddings, labels) judged against a real reference, each computed on first use with
:mod:`analysis.metrics` and no precomputation beyond what is passed in (the reference's radii, its
prepared form for PRDC). :func:`analysis.judge.compare.compare` extends it with the novelty features
(which need real train data); :func:`analysis.mixture.reference.metrics_from_scratch`, the oracle of the
mixture engine, uses it as it is, so the engine is checked against the very computation ``compare`` makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from analysis.metrics import fidelity, tails, utility
from analysis.metrics.formulas import Features, label_counts, text_log_probabilities, tstr_codes
from analysis.metrics.ngrams import ngram_count_matrix, rare_token_ids, tokenize

__all__ = ["SetFeatures"]


class SetFeatures(Features):
    """The features of the set ``x`` (embeddings), ``texts`` against the reference ``ref_x``, ``ref_texts``.

    ``radii`` (the reference's k-NN radii, :func:`analysis.metrics.tails.rarity`), ``ref_bins`` (its rarity
    bins) and ``prepared`` (:func:`analysis.metrics.fidelity.prepare_reference`) may be passed when one
    reference judges many sets; they are computed otherwise. ``coverage_supported`` is False below the
    coverage floor (then coverage is NaN). Labels are needed by label divergence and TSTR only.

    ``covered`` may be passed when coverage is judged elsewhere, by other balls than ``ref_x``'s
    (cross-fitted coverage, :class:`analysis.judge.reference.CoverageReference`): coverage's units,
    per ball; ``radii`` and ``ref_bins`` are then those balls'.
    """

    def __init__(
        self,
        x: np.ndarray,
        texts: Sequence[str],
        ref_x: np.ndarray,
        ref_texts: Sequence[str],
        *,
        k: int = 5,
        bins: int = 10,
        seed: int = 0,
        labels: Sequence | None = None,
        ref_labels: Sequence | None = None,
        radii: np.ndarray | None = None,
        ref_bins: np.ndarray | None = None,
        prepared: fidelity.PreparedReference | None = None,
        coverage_supported: bool = True,
        covered: np.ndarray | None = None,
    ) -> None:
        self._x = np.asarray(x, np.float64)
        self._ref_x = np.asarray(ref_x, np.float64)
        self._texts, self._ref_texts = list(texts), list(ref_texts)
        self.k, self.bins, self.seed, self.coverage_supported = k, bins, seed, coverage_supported
        self._labels, self._ref_labels = labels, ref_labels
        self._radii, self._ref_bins, self._prepared = radii, ref_bins, prepared
        if covered is not None:
            self.__dict__["_covered"] = np.asarray(covered, dtype=bool)  # the cached property, given

    @property
    def size(self) -> int:
        return len(self._x)

    def texts(self) -> list[str]:
        return self._texts

    def x(self) -> np.ndarray:
        return self._x

    def ref_x(self) -> np.ndarray:
        return self._ref_x

    # ------------------------------------------------------------------ text
    @cached_property
    def _tokens(self) -> list[list[str]]:
        return [tokenize(text) for text in self._texts]

    def _ngrams(self, n: int):
        cache = self.__dict__.setdefault("_ngram_cache", {})
        if n not in cache:
            cache[n] = ngram_count_matrix(self._tokens, n)
        return cache[n]

    def ngram_counts(self, n: int) -> np.ndarray:
        """Each n-gram's count in the set, in first-seen order (:func:`analysis.metrics.ngrams.ngram_totals`)."""
        matrix, vocabulary = self._ngrams(n)
        return np.asarray(matrix.sum(axis=0)).ravel()[: len(vocabulary)]

    def rare_tokens(self) -> tuple[int, int]:
        ids, total = rare_token_ids((tokenize(text) for text in self._ref_texts), self._ngrams(1)[1])
        return len(ids), total  # every token of the set's vocabulary occurs in it

    def distinct_texts(self) -> int:
        return len(set(self._texts))

    def lengths(self) -> tuple[np.ndarray, np.ndarray]:
        return tuple(np.array([len(t.split()) for t in side]) for side in (self._ref_texts, self._texts))  # type: ignore[return-value]

    def log_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        return text_log_probabilities(self._texts, self._ref_texts)

    def label_counts(self) -> tuple[np.ndarray, np.ndarray]:
        return label_counts(self._needed(self._ref_labels), self._needed(self._labels))

    @staticmethod
    def _needed(labels: Sequence | None) -> Sequence:
        if labels is None:
            raise ValueError("labels are needed for label divergence and TSTR: pass labels and ref_labels")
        return labels

    # ------------------------------------------------------------------ neighbourhoods
    @cached_property
    def radii(self) -> np.ndarray:
        """The reference's k-NN radii (its balls)."""
        return tails.rarity(self._ref_x, k=self.k) if self._radii is None else self._radii

    def covered(self) -> np.ndarray:
        return self._covered

    @cached_property
    def _covered(self) -> np.ndarray:
        if not self.size:
            return np.zeros(len(self._ref_x), dtype=bool)
        return fidelity.covered_by(self._ref_x, self._x, self.radii)

    def tail(self, tenths: int) -> np.ndarray:
        ref_bins = tails.rarity_bins(self.radii, self.bins) if self._ref_bins is None else self._ref_bins
        return ref_bins >= self.bins - tenths * self.bins // 10

    @cached_property
    def _prdc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return fidelity.prdc_counts(self._ref_x, self._x, k=self.k, reference=self._prepared)

    def inside(self) -> np.ndarray:
        return self._prdc[1]

    def memberships(self) -> int:
        return int(self._prdc[0].sum())

    def recalled(self) -> np.ndarray:
        return self._prdc[2]

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        return self._ref_x.mean(axis=0), self._x.mean(axis=0)

    # ------------------------------------------------------------------ fitted
    def tstr_codes(self) -> tuple[np.ndarray, np.ndarray, int] | None:
        ref_labels = np.asarray(self._needed(self._ref_labels), dtype=object)
        if not utility.has_labels(ref_labels):
            return None
        try:
            result = utility.tstr(self._x, self._needed(self._labels), self._ref_x, list(ref_labels), seed=self.seed)
        except utility.UtilityError:  # the set has no labels
            return None
        true, predicted, labels, _ = tstr_codes(ref_labels, [result])
        assert predicted[0] is not None
        return true, predicted[0], labels

    def detection_scores(self) -> tuple[np.ndarray, np.ndarray]:
        result = utility.detection(self._ref_x, self._x, seed=self.seed)
        return result.real_scores, result.synthetic_scores
