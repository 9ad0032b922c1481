"""Diversity of a set of texts: how much it repeats itself, in words and in meaning.

Token-level metrics use :func:`analysis.metrics.ngrams.tokenize` (lower-cased runs of letters and
digits, re-exported here), so every metric sees the same tokens, and count n-grams through
:func:`analysis.metrics.ngrams.ngram_totals`. Embedding-level metrics take L2-normalised rows (as
:func:`analysis.vectors.embed.embed` returns).
"""

from __future__ import annotations

import gzip
import math
import random
from collections import Counter
from collections.abc import Sequence

import numpy as np

from analysis.metrics.kernels import entropy_bits, vendi_from_gram
from analysis.metrics.ngrams import ngram_totals, ngrams, tokenize

__all__ = [
    "tokenize",
    "ngrams",
    "distinct_n",
    "ngram_entropy",
    "compression_ratio",
    "self_bleu",
    "vendi_score",
    "mean_pairwise_distance",
]


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct-n: unique n-grams over all n-grams of the set.

    ``distinct_n = |{n-grams}| / #n-grams``, pooled over the set (Li et al., "A Diversity-Promoting
    Objective Function for Neural Conversation Models", NAACL 2016). Range [0, 1]; higher is more
    diverse. Depends on the set's size (more text, more repeats): compare sets at equal size.
    """
    _check_n(n)
    counts = ngram_totals((tokenize(text) for text in texts), n)
    total = int(counts.sum())
    return len(counts) / total if total else 0.0


def ngram_entropy(texts: Sequence[str], n: int = 1) -> float:
    """Shannon entropy, in bits, of the set's n-gram distribution.

    ``H = -sum_g p(g) log2 p(g)`` with ``p(g)`` the share of n-gram ``g`` among all n-grams of the
    set ("Ent-n", Zhang et al., "Generating Informative and Diverse Conversational Responses via
    Adversarial Information Maximization", NeurIPS 2018). Range [0, log2 #n-grams]; higher is more
    diverse; a collapsing model's entropy falls.
    """
    _check_n(n)
    return entropy_bits(ngram_totals((tokenize(text) for text in texts), n))


def compression_ratio(texts: Sequence[str]) -> float:
    """Size of the texts over their gzip-compressed size: repetition that compression finds.

    ``CR = bytes(joined) / bytes(gzip(joined))`` with the texts joined by newlines, gzip level 9
    (Shaib et al., "Standardizing the Measurement of Text Diversity", 2024). Range about [1, ∞);
    lower is more diverse. Depends on size: compare sets at equal size.
    """
    data = "\n".join(texts).encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(gzip.compress(data, compresslevel=9, mtime=0))


def self_bleu(texts: Sequence[str], *, sample_size: int | None = 500, seed: int = 0, max_order: int = 4) -> float:
    """Self-BLEU: mean sentence BLEU of each text against all the others as references.

    Each text of a seeded subsample of ``sample_size`` texts (all when ``None`` or fewer) is the
    hypothesis, the other texts of the subsample the references; sentence BLEU with uniform
    weights up to ``max_order``, clipped counts against the best reference, the brevity penalty
    of the closest reference length, and Chen-Cherry "method1" smoothing (epsilon 0.1 for
    zero counts) as in NLTK's ``sentence_bleu`` (Zhu et al., "Texygen", SIGIR 2018). Range
    [0, 1]; lower is more diverse.

    Clipping against the best of N-1 references uses the two largest counts of each n-gram
    across texts, so the cost is linear in the text, not quadratic.
    """
    texts = list(texts)
    if sample_size is not None and len(texts) > sample_size:
        texts = random.Random(seed).sample(texts, sample_size)
    if len(texts) < 2:
        raise ValueError("self-BLEU needs at least two texts")
    tokens = [tokenize(t) for t in texts]
    counts = [[Counter(ngrams(t, n)) for n in range(1, max_order + 1)] for t in tokens]
    # per order: n-gram -> (largest count, text index of it, second largest count)
    best: list[dict[tuple[str, ...], list[int]]] = []
    for order in range(max_order):
        top: dict[tuple[str, ...], list[int]] = {}
        for index, per_text in enumerate(counts):
            for gram, count in per_text[order].items():
                entry = top.get(gram)
                if entry is None:
                    top[gram] = [count, index, 0]
                elif count > entry[0]:
                    entry[2], entry[0], entry[1] = entry[0], count, index
                elif count > entry[2]:
                    entry[2] = count
        best.append(top)
    lengths = np.array([len(t) for t in tokens])
    order_of_lengths = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order_of_lengths]
    scores = []
    for index, per_text in enumerate(counts):
        hyp_len = lengths[index]
        log_precisions = []
        matched_unigrams = 0
        for order in range(max_order):
            grams = per_text[order]
            total = sum(grams.values())
            matched = 0
            for gram, count in grams.items():
                top_count, top_index, second = best[order][gram]
                ref_max = second if top_index == index else top_count
                matched += min(count, ref_max)
            if order == 0:
                matched_unigrams = matched
            denominator = max(1, total)
            log_precisions.append(math.log((matched if matched else 0.1) / denominator))
        if matched_unigrams == 0:
            scores.append(0.0)
            continue
        ref_len = _closest_other_length(sorted_lengths, order_of_lengths, index, hyp_len)
        brevity = 1.0 if hyp_len > ref_len else (math.exp(1 - ref_len / hyp_len) if hyp_len else 0.0)
        scores.append(brevity * math.exp(sum(log_precisions) / max_order))
    return float(np.mean(scores))


def _closest_other_length(sorted_lengths: np.ndarray, order: np.ndarray, index: int, length: int) -> int:
    """The reference length closest to ``length`` among the other texts (the shorter on a tie)."""
    position = int(np.searchsorted(sorted_lengths, length))
    candidates = []
    for p in range(max(0, position - 2), min(len(sorted_lengths), position + 2)):
        if order[p] != index:
            candidates.append(int(sorted_lengths[p]))
    if not candidates:  # only possible with a single other text far away
        candidates = [int(v) for p, v in enumerate(sorted_lengths) if order[p] != index]
    return min(candidates, key=lambda ref: (abs(ref - length), ref))


def vendi_score(embeddings: np.ndarray) -> float:
    """Vendi score: the effective number of distinct samples under the cosine kernel.

    ``VS = exp(-sum_i λ_i log λ_i)`` with ``λ_i`` the eigenvalues of ``K / n``, ``K_ij`` the cosine
    similarity of samples i and j (Friedman and Dieng, "The Vendi Score: A Diversity Evaluation
    Metric for Machine Learning", TMLR 2023). Range [1, n]; higher is more diverse. Computed from
    the d × d matrix ``X^T X / n``, which has the same non-zero eigenvalues, so the cost is
    O(n d^2), not O(n^3).
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError("embeddings must be a non-empty (n, d) array")
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return vendi_from_gram(x.T @ x if len(x) > x.shape[1] else x @ x.T, len(x))


def mean_pairwise_distance(embeddings: np.ndarray) -> float:
    """Mean cosine distance over all pairs of distinct samples.

    ``(1 / (n (n - 1))) sum_{i != j} (1 - cos(x_i, x_j))``, in O(n d) through
    ``sum_{i != j} x_i · x_j = |sum_i x_i|^2 - sum_i |x_i|^2`` for unit rows. Range [0, 2]; higher
    is more diverse.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    n = len(x)
    if n < 2:
        raise ValueError("mean pairwise distance needs at least two samples")
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    total = x.sum(axis=0)
    similarity = (total @ total - n) / (n * (n - 1))
    return float(1.0 - similarity)
