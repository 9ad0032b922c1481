"""What the A/B metrics read, computed once per test: the pool of A's and B's rows and the real reference.

:class:`ABContext` holds the pool (A's rows, then B's), the real reference and real train, and
computes their features on first use (n-gram counts, distances to the reference, k-NN radii, fitted
classifiers and language models), so each metric (:mod:`analysis.ab.values`) is a cheap function of a
subset of pool rows and reference rows.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.judge.reference import CoverageReference
from analysis.metrics import fidelity, tails, utility
from analysis.metrics.formulas import text_log_probabilities, tstr_codes
from analysis.metrics.ngrams import ngram_count_matrix, rare_token_ids, row_counts, tokenize
from analysis.mixture.kernels import csr_by_row, csr_entries
from analysis.mixture.measure import fold_holding

__all__ = ["ABContext", "DENSE_LIMIT"]

#: Reference × pool distances computed as one matrix; above it, in blocks of reference rows, so memory
#: stays one block (plus the sparse ball memberships) at any scale. The results are the same comparisons.
DENSE_LIMIT = 50_000_000


class ABContext:
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
        query_limit: int | None = None,
        holdout: np.ndarray | None = None,
        cover: CoverageReference | None = None,
    ) -> None:
        self.samples, self.k, self.bins, self.seed = samples, k, bins, seed
        self.rows = np.concatenate([a, b])
        self.sides = (np.arange(len(a)), np.arange(len(a), len(a) + len(b)))
        self.reference, self.train = reference, train
        self.cover = cover if cover is not None and cover.fold is not None else None  # cross-fitted coverage
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
        # copies of the holdout are looked up among all of it, not only the (capped) reference
        self.holdout_texts = texts[reference if holdout is None else holdout]
        # the exact nearest-real search takes at most query_limit rows of each side (seeded), all by default
        self.queried = np.zeros(len(self.rows), dtype=bool)
        for number, side in enumerate(self.sides):
            limit = len(side) if query_limit is None else query_limit
            chosen = side if len(side) <= limit else np.random.default_rng([seed, 5, number]).choice(side, limit, False)
            self.queried[chosen] = True
        self.query_capped = not self.queried.all()

    # ------------------------------------------------------------------ text features
    @cached_property
    def tokens(self) -> list[list[str]]:
        return [tokenize(t) for t in self.texts]

    def ngram_matrix(self, n: int) -> tuple[sparse.csr_matrix, dict[tuple[str, ...], int]]:
        """Counts of every n-gram per pool row (pool × vocabulary), and the vocabulary of the pool's n-grams."""
        cache = self.__dict__.setdefault("_ngram", {})
        if n not in cache:
            cache[n] = ngram_count_matrix(self.tokens, n)
        return cache[n]

    def ngram_counts(self, s: np.ndarray, n: int) -> np.ndarray:
        """The n-gram counts of the pool rows ``s``."""
        return row_counts(self.ngram_matrix(n)[0], s)

    @cached_property
    def rare_ids(self) -> tuple[np.ndarray, int]:
        """Pool unigram ids of the reference's rare tokens (seen at most twice in it), and how many there are."""
        return rare_token_ids((tokenize(text) for text in self.ref_texts), self.ngram_matrix(1)[1])

    @cached_property
    def label_codes(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Integer codes of the reference's and the pool's labels (-1: no label), and how many labels."""
        values = pd.Series(np.concatenate([self.ref_labels, self.labels]), dtype=object)
        given = utility.present_labels(values)
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
    def ref_bins(self) -> np.ndarray:
        return tails.rarity_bins(self.ref_radii, self.bins)

    def tail_mask(self, tenths: int) -> np.ndarray:
        """Coverage's balls (the reference's, or the cross-fitted cover's) in the rarest ``tenths`` tenths."""
        bins = self.ref_bins if self.cover is None else tails.rarity_bins(self.cover.radii, self.bins)
        return bins >= self.bins - tenths * self.bins // 10

    def covered(self, s: np.ndarray) -> np.ndarray:
        """Per coverage ball: does it hold a pool row of ``s``. The reference's balls (:meth:`reached`), or
        cross-fitted, each fold's balls by the rows of ``s`` from outside it (:func:`~analysis.mixture.measure.
        fold_holding`)."""
        if self.cover is None:
            return self.reached(s)
        indptr, balls = self.cover_holding
        out = np.zeros(self.cover.size, dtype=bool)
        out[balls[csr_entries(indptr, np.unique(s))[0]]] = True
        return out

    @cached_property
    def cover_holding(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.cover is not None and self.cover.fold is not None
        norms = np.einsum("ij,ij->i", self.x, self.x)
        fold = self.cover.fold_of(self.rows)
        return fold_holding(self.cover.x, self.cover.radii, self.cover.fold, self.x, norms, fold)

    @cached_property
    def neighbourhoods(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Per pool row (CSR: indptr, reference positions): the reference samples whose k-NN ball holds it
        (distance <= the reference's radius), and those within its own k-NN radius (recall).

        Euclidean distances reference × pool as :mod:`analysis.metrics.fidelity` computes them, as one
        matrix up to :data:`DENSE_LIMIT` entries, else in blocks of reference rows (bounded memory).
        """
        ref_norms = np.einsum("ij,ij->i", self.ref_x, self.ref_x)
        norms = np.einsum("ij,ij->i", self.x, self.x)
        m, n = len(self.ref_x), len(self.x)
        step = m if m * n <= DENSE_LIMIT else fidelity.block_rows(n, np.float64)
        held: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])  # per block: pool columns, reference rows
        near: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        for start in range(0, m, step):
            stop = min(m, start + step)
            d = np.sqrt(fidelity.squared_distances(self.ref_x[start:stop], ref_norms[start:stop], self.x, norms))
            for (pools, refs), inside in zip(
                (held, near), (d <= self.ref_radii[start:stop, None], d <= self.own_radii)
            ):
                i, j = np.nonzero(inside)
                pools.append(j)
                refs.append(i + start)
        return tuple(csr_by_row(np.concatenate(j), np.concatenate(i), n)[:2] for j, i in (held, near))  # type: ignore[return-value]

    def reached(self, s: np.ndarray, recall: bool = False) -> np.ndarray:
        """Per reference sample: does the ball of one holds a pool row of ``s`` (coverage), or, with
        ``recall``, does it lie within some row of ``s``'s own k-NN radius."""
        indptr, refs = self.neighbourhoods[1 if recall else 0]
        positions, _ = csr_entries(indptr, np.unique(s))
        out = np.zeros(len(self.ref_x), dtype=bool)
        out[refs[positions]] = True
        return out

    @cached_property
    def balls_holding(self) -> np.ndarray:
        """Per pool row: how many reference k-NN balls hold it (precision: > 0; density: over k)."""
        return np.diff(self.neighbourhoods[0][0])

    @cached_property
    def own_radii(self) -> np.ndarray:
        """Each pool row's k-NN radius within its own set (A or B), for recall."""
        radii = np.empty(len(self.rows))
        for side in self.sides:
            radii[side] = fidelity.knn_radii(self.x[side], self.k)
        return radii

    def _queried(self, values: np.ndarray) -> np.ndarray:
        """``values`` of the queried pool rows spread over the pool (NaN elsewhere); all rows by default."""
        if not self.query_capped:
            return values
        out = np.full(len(self.rows), np.nan)
        out[self.queried] = values
        return out

    @cached_property
    def nearest_train(self) -> np.ndarray:
        """Cosine to the nearest real train sample (exact), for the queried pool rows (NaN for the others)."""
        return self._queried(fidelity.nearest_similarity(self.x[self.queried], self.train_x)[0])

    @cached_property
    def nearest_real(self) -> np.ndarray:
        """Cosine to the nearest real sample, train or holdout (near copies); NaN off the queried rows."""
        if not len(self.other_real_x):
            return self.nearest_train
        other = self._queried(fidelity.nearest_similarity(self.x[self.queried], self.other_real_x)[0])
        return np.maximum(self.nearest_train, other)

    @cached_property
    def copies(self) -> np.ndarray:
        """1 where the text equals a real text, train or holdout (as compare counts copies)."""
        return np.array([t in self.real_texts for t in self.texts], np.float64)

    @cached_property
    def holdout_copies(self) -> np.ndarray:
        reference_texts = set(self.holdout_texts)
        return np.array([t in reference_texts for t in self.texts], np.float64)

    # ------------------------------------------------------------------ fitted per side
    @cached_property
    def labelled(self) -> bool:
        return utility.has_labels(self.ref_labels)

    @cached_property
    def tstr(self) -> list[utility.TSTRResult | None]:
        out: list[utility.TSTRResult | None] = []
        for side in self.sides:
            try:
                out.append(utility.tstr(self.x[side], self.labels[side], self.ref_x, self.ref_labels, seed=self.seed))
            except utility.UtilityError:
                out.append(None)
        return out

    @cached_property
    def tstr_codes(self) -> tuple[np.ndarray, list[np.ndarray | None], int, np.ndarray]:
        """Integer codes of the labelled reference rows' true labels and of each side's predictions."""
        return tstr_codes(self.ref_labels, self.tstr)

    @cached_property
    def detection(self) -> list[utility.DetectionResult]:
        return [utility.detection(self.ref_x, self.x[side], seed=self.seed) for side in self.sides]

    @cached_property
    def perplexity_parts(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per side, per reference text: the sum of log-probabilities and the number of scored tokens."""
        return [text_log_probabilities(list(self.texts[side]), list(self.ref_texts)) for side in self.sides]
