"""The shared kernels against scipy and scikit-learn on random inputs."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, ks_2samp
from sklearn.metrics import f1_score

from analysis.metrics.kernels import (
    entropy_bits,
    jensen_shannon,
    ks_statistic,
    macro_f1,
    one_blas_thread,
    vendi_from_gram,
)

rng = np.random.default_rng(0)


def test_entropy_equals_scipy():
    counts = rng.integers(0, 20, size=50)
    assert entropy_bits(counts) == pytest.approx(entropy(counts, base=2), abs=1e-12)
    assert entropy_bits(np.zeros(3)) == 0.0


def test_ks_equals_scipy():
    a, b = rng.normal(size=200), rng.normal(0.3, size=150)
    assert ks_statistic(a, b) == pytest.approx(ks_2samp(a, b).statistic, abs=1e-12)


def test_jensen_shannon_equals_scipy():
    p, q = rng.integers(0, 9, size=12), rng.integers(0, 9, size=12)
    assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    assert np.isnan(jensen_shannon(np.zeros(3), np.ones(3)))


def test_macro_f1_equals_scikit_learn():
    true, predicted = rng.integers(0, 5, size=300), rng.integers(0, 6, size=300)
    present = np.unique(true)
    expected = f1_score(true, predicted, average="macro", labels=present, zero_division=0)
    assert macro_f1(true, predicted, 6) == pytest.approx(expected, abs=1e-12)


def test_vendi_closed_forms():
    x = np.eye(4)  # four orthogonal samples: four distinct
    assert vendi_from_gram(x @ x.T, 4) == pytest.approx(4.0)
    same = np.ones((5, 3)) / np.sqrt(3)  # five copies of one sample: one
    assert vendi_from_gram(same.T @ same, 5) == pytest.approx(1.0)


def test_one_blas_thread_limits_and_restores():
    from threadpoolctl import threadpool_info

    with one_blas_thread():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
