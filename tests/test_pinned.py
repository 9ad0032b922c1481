"""Numbers that a refactoring must not move: compare on the demo, one mixture, one A/B test, one simulation.

Pinned against tests/data/pinned_values.json. The demo's texts and labels are real, but its vectors
here are seeded random ones with label and method structure, not the MiniLM vectors built at
install: those differ between builds in the last float32 bits (batch composition changes padding).

A pin catches a change of the code, not a change of the CPU: each value is compared at the relative
tolerance of how it is computed (:func:`tolerance`), set from the spread measured under different
BLAS kernels and thread counts (``tests/benchmarks/pin_spread.py`` prints it; the README quotes
it), and :func:`test_a_change_of_meaning_trips_the_pin` shows that a small change of a metric's
code still fails. A change that is meant to move a number re-pins on purpose, and says why in its
commit: ``COLLAPSE_LAB_REPIN=1 .venv/bin/python -m pytest tests/test_pinned.py``.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.ab import ab_sets
from analysis.demo import load_demo
from analysis.judge.compare import compare
from analysis.mixture import MixtureEngine, MixtureSpec
from analysis.simulate import simulate

pytestmark = pytest.mark.slow  # the engines on the whole demo, about a minute

PINNED = Path(__file__).parent / "data" / "pinned_values.json"
REPIN = os.environ.get("COLLAPSE_LAB_REPIN") == "1"


def demo_inputs():
    """The demo's samples and seeded random unit vectors with its label and method structure."""
    samples = load_demo()
    rng = np.random.default_rng(20261129)
    labels = pd.factorize(samples["label"])[0]
    methods = pd.factorize(samples["method"].astype(str) + samples["generation"].astype(str))[0]
    vectors = (
        rng.normal(size=(labels.max() + 1, 384))[labels]
        + 0.6 * rng.normal(size=(methods.max() + 1, 384))[methods]
        + 0.9 * rng.normal(size=(len(samples), 384))
    )
    return samples, (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def small_inputs(demo):
    """30 samples per method and label of :func:`demo_inputs`."""
    samples, vectors = demo
    keep = samples.groupby(["method", "label"]).head(30).index.to_numpy()
    return samples.iloc[keep].reset_index(drop=True), vectors[keep]


@pytest.fixture(scope="module")
def demo():
    return demo_inputs()


@pytest.fixture(scope="module")
def small(demo):
    return small_inputs(demo)


def _numbers(frame, keys, values):
    return {
        " | ".join(str(v) for v in key): float(value)
        for key, value in zip(frame[keys].itertuples(index=False), frame[values])
    }


def mixture_numbers(small, k=5):
    engine = MixtureEngine(*small, k=k)
    spec = MixtureSpec(size=400, real_share=0.6, weights={"llm": 2.0, "paraphrase": 1.0, "rule-based": 1.0}, seed=3)
    return {metric: float(value) for metric, value in engine.metrics(spec).items()}


def measured(name, demo, small):
    if name == "compare":
        samples, vectors = demo
        table = compare(samples, embeddings=vectors, size=200, seed=0, with_mauve=False)
        return _numbers(table, ["set", "metric"], "value")
    if name == "mixture":
        return mixture_numbers(small)
    if name == "ab":
        samples, vectors = small
        table = ab_sets(
            samples, "llm", "paraphrase", embeddings=vectors, rounds=19, permutations=19, slow_rounds=3
        ).table
        return {
            f"{row.metric} | {column}": float(getattr(row, column))
            for row in table.itertuples()
            for column in ("a", "b", "difference", "ci_low", "ci_high", "p_value")
        }
    if name == "simulate":
        result = simulate("gaussian", generations=6, n=80, seed=4)
        return _numbers(result.metrics, ["model", "regime", "generation", "metric"], "value")
    raise KeyError(name)


# Tolerances, relative, from tests/benchmarks/pin_spread.py: every pinned value computed under seven BLAS
# settings (this CPU's OpenBLAS kernel and the Haswell, Sandybridge and Prescott ones, 1 and 2 threads, the
# k-NN filter's GEMM in float32 and bfloat16). Each class sits about 1,000x above its largest measured
# spread and far below what a change of meaning moves (a k, a denominator: 1e-3 and more).

#: Counts, shares of counts and plain float64 arithmetic on them: the same bits on every setting (the
#: k-NN counts are exact, whichever GEMM filters them). Measured spread: 0.
EXACT = 1e-12
#: Float64 reductions over many terms (sums, means, entropies, BLEU, the n-gram LM, float64 cosines) and
#: bootstrap intervals of them: the order of a kernel's additions moves the last bits. Measured: 7.9e-14.
REDUCTION = 1e-10
#: Values through symmetric eigendecompositions (Vendi, Fréchet) or an iterative solver (the logistic
#: regressions of TSTR and detection AUC), and A/B intervals and p-values of them: each kernel stops at
#: its own rounding. Measured: 3.3e-13 (with the general ``sqrtm`` Fréchet moved by 3.5e-8 across CPUs).
SOLVER = 1e-9

_SOLVED = ("frechet", "vendi", "TSTR", "detection AUC")
_REDUCED = (
    "entropy",
    "self-BLEU",
    "compression ratio",
    "perplexity",
    "mean pairwise distance",
    "nearest-real similarity",
    "centroid shift",
    "label divergence",
    "length KS",
    "mean",
    "variance",
    "tail mass",
)


def tolerance(key: str) -> float:
    """The relative tolerance of the pinned value ``key`` ("set | metric", "metric | column", ...).

    An A/B row's bootstrap interval and p-value inherit its metric's class: they are quantiles and
    counts over resampled values of the same computation.
    """
    parts = key.split(" | ")
    if any(part.startswith(_SOLVED) for part in parts):
        return SOLVER
    if any(part.startswith(_REDUCED) for part in parts):
        return REDUCTION
    return EXACT


def mismatches(now: dict[str, float], expected: dict[str, float]) -> list[str]:
    """Every key whose value is missing, new, or moved beyond its :func:`tolerance`, with both values."""
    found = [f"{key}: missing" for key in sorted(set(expected) - set(now))]
    found += [f"{key}: not pinned" for key in sorted(set(now) - set(expected))]
    for key in sorted(set(now) & set(expected)):
        value, pinned = now[key], expected[key]
        if math.isnan(pinned) or math.isnan(value):
            if not (math.isnan(pinned) and math.isnan(value)):
                found.append(f"{key}: {value!r}, pinned {pinned!r}")
        elif abs(value - pinned) > tolerance(key) * max(abs(pinned), 1e-3):
            found.append(f"{key}: {value!r}, pinned {pinned!r} (tolerance {tolerance(key):g} relative)")
    return found


def pinned(name: str) -> dict[str, float]:
    return json.loads(PINNED.read_text())[name]


@pytest.mark.parametrize("name", ["compare", "mixture", "ab", "simulate"])
def test_numbers_are_unchanged(name, demo, small):
    now = measured(name, demo, small)
    if REPIN:
        values = json.loads(PINNED.read_text()) if PINNED.exists() else {}
        values[name] = now
        PINNED.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
        pytest.skip("re-pinned")
    moved = mismatches(now, pinned(name))
    assert not moved, "\n".join(moved)


def test_every_pinned_value_has_a_computation_class():
    """The classes above name real metrics: a renamed metric cannot fall silently into a looser class."""
    keys = [key for name in ("compare", "mixture", "ab", "simulate") for key in pinned(name)]
    classes = pd.Series([tolerance(key) for key in keys]).value_counts()
    assert set(classes.index) == {EXACT, REDUCTION, SOLVER}
    assert tolerance("llm g2 | frechet distance") == SOLVER
    assert tolerance("llm | coverage") == EXACT
    assert tolerance("distinct-2 | ci_low") == EXACT
    assert tolerance("gaussian | replace | 3 | variance") == REDUCTION


def test_a_change_of_meaning_trips_the_pin(small, monkeypatch):
    """Small changes of meaning fail the pin: the k of the k-NN balls one more, a denominator off by one."""
    from analysis.simulate.gaussian import GaussianModel

    mixture = pinned("mixture")
    assert not mismatches(mixture_numbers(small), mixture)
    moved = mismatches(mixture_numbers(small, k=6), mixture)
    assert any(line.startswith(("coverage", "density", "precision", "recall")) for line in moved), moved

    def fit_with_n_minus_1(self, data, rng):  # the maximum-likelihood variance's n, as n - 1
        mu = data.mean(axis=0)
        return mu, (data - mu).T @ (data - mu) / (len(data) - 1)

    monkeypatch.setattr(GaussianModel, "fit", fit_with_n_minus_1)
    moved = mismatches(measured("simulate", None, None), pinned("simulate"))
    assert any(line.split(":")[0].endswith("variance") for line in moved), moved
