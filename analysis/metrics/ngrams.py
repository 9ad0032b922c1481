"""Words and n-grams: the one tokenizer, and the one n-gram counter every text metric builds on.

:func:`tokenize` gives the tokens every metric sees (lower-cased runs of letters, digits and
underscores); :func:`ngram_count_matrix` counts each text's n-grams over one vocabulary, as a sparse
texts × n-grams matrix, so the count of any subset of texts is a sum of rows (:func:`row_counts`):
the diversity metrics, the mixture engine and the A/B test all count n-grams through it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

__all__ = [
    "BOS",
    "EOS",
    "UNK",
    "tokenize",
    "ngrams",
    "ngram_count_matrix",
    "ngram_totals",
    "row_counts",
    "rare_token_ids",
]

#: The symbols an n-gram language model pads and replaces with: sentence start, end and unknown word.
BOS, EOS, UNK = "<s>", "</s>", "<unk>"

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens: runs of letters, digits and underscores."""
    return _TOKEN.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The n-grams of one text's tokens, in order (none when it has fewer than n tokens)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def ngram_count_matrix(
    token_lists: Iterable[Sequence[str]], n: int
) -> tuple[sparse.csr_matrix, dict[tuple[str, ...], int]]:
    """Counts of every n-gram per text: a texts × vocabulary int64 CSR matrix, and the vocabulary.

    The vocabulary maps each n-gram (a tuple of n tokens, unigrams too) to its column, in the order
    the n-grams are first seen; a text without n-grams is an empty row; the matrix has at least one
    column.
    """
    vocabulary: dict[tuple[str, ...], int] = {}
    indptr: list[int] = [0]
    indices: list[int] = []
    for tokens in token_lists:
        indices.extend(vocabulary.setdefault(gram, len(vocabulary)) for gram in ngrams(tokens, n))
        indptr.append(len(indices))
    matrix = sparse.csr_matrix(
        (np.ones(len(indices), np.int64), np.asarray(indices, np.int64), np.asarray(indptr, np.int64)),
        shape=(len(indptr) - 1, max(len(vocabulary), 1)),
    )
    matrix.sum_duplicates()
    return matrix, vocabulary


def row_counts(matrix: sparse.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Each column's total over ``rows`` of a count matrix (float64): the n-gram counts of those texts."""
    part = matrix[rows]
    return np.bincount(part.indices, weights=part.data, minlength=matrix.shape[1])


def ngram_totals(token_lists: Iterable[Sequence[str]], n: int) -> np.ndarray:
    """How often each n-gram occurs over all the texts (int64), in first-seen order; empty without n-grams."""
    matrix, vocabulary = ngram_count_matrix(token_lists, n)
    return np.asarray(matrix.sum(axis=0)).ravel()[: len(vocabulary)]


def rare_token_ids(
    reference_token_lists: Iterable[Sequence[str]], vocabulary: dict[tuple[str, ...], int], *, max_count: int = 2
) -> tuple[np.ndarray, int]:
    """Columns of a unigram ``vocabulary`` holding the reference's rare tokens (seen at most ``max_count``
    times in it), and how many rare tokens the reference has (those outside the vocabulary included)."""
    counts = Counter(token for tokens in reference_token_lists for token in tokens)
    rare = [token for token, count in counts.items() if count <= max_count]
    return np.array([vocabulary[(t,)] for t in rare if (t,) in vocabulary], np.int64), len(rare)
