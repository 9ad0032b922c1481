"""Small numerical kernels that several metrics share: one definition each.

Plain functions over NumPy arrays, used by the metrics, ``compare``, the mixture engine, the A/B
tests and the simulator alike, so a formula is written once and checked once (tests/test_kernels.py
compares each with scipy or scikit-learn).
"""

from __future__ import annotations

import contextlib
import sys
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

__all__ = ["entropy_bits", "vendi_from_gram", "ks_statistic", "jensen_shannon", "macro_f1", "one_blas_thread"]


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy in bits of the distribution ``counts / counts.sum()``; 0 for no counts.

    ``H = -sum_i p_i log2 p_i`` over the non-zero counts. Range [0, log2 #categories].
    """
    counts = np.asarray(counts)
    counts = counts[counts > 0]
    if not counts.size:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def vendi_from_gram(gram: np.ndarray, n: int) -> float:
    """Vendi score ``exp(-sum λ log λ)`` from a Gram matrix: λ are the eigenvalues of ``gram / n``.

    ``gram`` is ``X X^T`` (n × n) or ``X^T X`` (d × d) of n unit vectors; both have the same non-zero
    eigenvalues (Friedman and Dieng, TMLR 2023). Eigenvalues below 1e-12 are dropped.
    """
    eigenvalues = np.clip(np.linalg.eigvalsh(gram / n), 0.0, None)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-(eigenvalues * np.log(eigenvalues)).sum()))


def ks_statistic(first: np.ndarray, second: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov D, ``max_x |F1(x) - F2(x)|``.

    scipy's ``ks_2samp`` statistic, without its p-value.
    """
    first, second = np.sort(first), np.sort(second)
    points = np.concatenate([first, second])
    gap = np.searchsorted(first, points, side="right") / len(first) - np.searchsorted(
        second, points, side="right"
    ) / len(second)
    return float(np.abs(gap).max())


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence, base 2, between two count vectors over the same categories.

    ``JS = ½ KL(p ‖ m) + ½ KL(q ‖ m)``, ``m = (p + q) / 2``, after normalising p and q; range
    [0, 1]; NaN when a side has no counts. Equals ``scipy.spatial.distance.jensenshannon(p, q, 2) ** 2``.
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    left, right = p > 0, q > 0
    return float(
        0.5 * (p[left] * np.log2(p[left] / m[left])).sum() + 0.5 * (q[right] * np.log2(q[right] / m[right])).sum()
    )


def macro_f1(true: np.ndarray, predicted: np.ndarray, labels: int) -> float:
    """Macro-F1 over the labels present in ``true`` (integer codes ``0..labels-1``).

    The mean over present labels of ``2 TP / (support + predicted)``; equals scikit-learn's
    ``f1_score(average="macro", labels=present, zero_division=0)``. NaN when ``true`` is empty.
    """
    confusion = np.bincount(true * labels + predicted, minlength=labels * labels).reshape(labels, labels)
    tp = np.diag(confusion).astype(np.float64)
    support, predicted_count = confusion.sum(axis=1), confusion.sum(axis=0)
    denominator = support + predicted_count
    f1 = np.divide(2 * tp, denominator, out=np.zeros(labels), where=denominator > 0)
    present = support > 0
    return float(f1[present].mean()) if present.any() else float("nan")


_CONTROLLER: dict[str, Any] = {}  # the thread-pool controller, kept (finding the libraries costs milliseconds)


def one_blas_thread() -> AbstractContextManager[object]:
    """One BLAS thread inside the block: small per-call algebra on 2 busy cores can be 50-100x slower with 2."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return contextlib.nullcontext()
    # The controller lists the thread pools of the libraries loaded when it is made; it is made again
    # when modules were imported since (a library loaded later, e.g. scikit-learn's OpenMP, is limited too).
    modules = len(sys.modules)
    if _CONTROLLER.get("modules") != modules:
        _CONTROLLER.update(modules=modules, controller=ThreadpoolController())
    return _CONTROLLER["controller"].limit(limits=1)
