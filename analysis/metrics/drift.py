"""Drift: has the synthetic set moved away from the real distribution, in meaning, topics or length?"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["centroid_shift", "label_divergence", "length_ks"]


def centroid_shift(real: np.ndarray, synthetic: np.ndarray) -> float:
    """Cosine distance between the mean real and the mean synthetic embedding.

    ``1 - cos(mean(R), mean(S))``. Range [0, 2]; lower is better (0 = same centre).
    """
    a, b = np.asarray(real, np.float64).mean(axis=0), np.asarray(synthetic, np.float64).mean(axis=0)
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def label_divergence(real_labels: Sequence, synthetic_labels: Sequence) -> float:
    """Jensen-Shannon divergence (base 2) between the label shares of the two sets.

    ``JS(P, Q) = ½ KL(P || M) + ½ KL(Q || M)``, ``M = ½ (P + Q)`` (Lin, "Divergence Measures Based on
    the Shannon Entropy", 1991). Range [0, 1]; lower is better. Missing labels are ignored.
    """
    real_counts = Counter(label for label in real_labels if label is not None and label == label)
    synthetic_counts = Counter(label for label in synthetic_labels if label is not None and label == label)
    labels = sorted(set(real_counts) | set(synthetic_counts), key=str)
    if not labels or not real_counts or not synthetic_counts:
        return float("nan")
    p = np.array([real_counts[label] for label in labels], np.float64)
    q = np.array([synthetic_counts[label] for label in labels], np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float((a[mask] * np.log2(a[mask] / b[mask])).sum())

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def length_ks(real_texts: Sequence[str], synthetic_texts: Sequence[str]) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test on text length in words: (statistic D, p-value).

    D in [0, 1] is the largest gap between the two length distributions' CDFs; lower is better.
    """
    real_lengths = [len(t.split()) for t in real_texts]
    synthetic_lengths = [len(t.split()) for t in synthetic_texts]
    result = stats.ks_2samp(real_lengths, synthetic_lengths)
    return float(result.statistic), float(result.pvalue)
