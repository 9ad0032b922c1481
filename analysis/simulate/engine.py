"""The collapse simulator: train a model on its own output, generation after generation.

One entry point, :func:`simulate`, runs the recursive loop for real (no canned curves) for four
models, from the textbook case to text, under three data regimes side by side.

Generations
-----------
Generation 0 is the model fitted to the real training data ``R`` (``n`` items). Generation ``t``
(1 … ``generations``) is fitted to a training set built from what earlier generations produced;
each generation ``t`` then draws ``n`` samples ``S_t`` from itself. The regimes (Shumailov et al.
2024; Gerstgrasser et al. 2024):

``replace``
    generation ``t`` is trained on ``S_{t-1}`` only;
``accumulate``
    generation ``t`` is trained on ``R ∪ S_0 ∪ … ∪ S_{t-1}`` (``(t + 1) n`` items, real included);
``mix``
    generation ``t`` is trained on ``n`` items: ``round(real_share · n)`` drawn afresh (without
    replacement) from ``R`` and the rest from ``S_{t-1}`` (default real share 2/3).

Generation 0 (the fit to real data and its sample ``S_0``) is shared by all regimes. Each
regime's randomness comes from its own stream ``(seed, regime, generation)``, so a regime's curve
does not depend on which other regimes run beside it, and the same seed gives the same result.

Models
------
``gaussian``
    a Gaussian fitted by maximum likelihood (Shumailov et al. 2024): mean, variance, tail mass.
``regression``
    ordinary least squares on its own predictions over a fixed design (Dohmatob et al. 2024;
    Gerstgrasser et al. 2024): test error against the true weights.
``ngram``
    the interpolated Kneser-Ney model of :mod:`analysis.metrics.lm` on the demo's (or the user's)
    real texts, sampling its next training set with temperature and top-k / top-p: held-out
    perplexity, entropy, vocabulary, rare-token mass and coverage, distinct-2 and, optionally,
    embedding coverage and recall.
``embedding``
    a Gaussian mixture fitted to sentence embeddings of real texts and resampled each generation:
    precision / recall / density / coverage against the real holdout, Vendi score, mean pairwise
    distance, and the generated points themselves for the map.

:func:`closed_form` gives the published expectations that the tests check by Monte Carlo.

References
----------
Shumailov, Shumaylov, Zhao, Papernot, Anderson and Gal, "AI models collapse when trained on
recursively generated data", Nature 631, 2024.
Dohmatob, Feng and Kempe, "Model Collapse Demystified: The Case of Regression", 2024.
Gerstgrasser, Schaeffer, Dey, Rafailov, Sleight, Hughes, Korbak, Agrawal, Pai, Gromov, Roberts,
Yang, Donoho and Koyejo, "Is Model Collapse Inevitable? Breaking the Curse of Recursion by
Accumulating Real and Synthetic Data", 2024.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from scipy import special

from analysis.metrics.diversity import tokenize
from analysis.metrics.lm import BOS, EOS, UNK

__all__ = [
    "MODELS",
    "REGIMES",
    "METRICS",
    "SimulationError",
    "SimulationResult",
    "simulate",
    "closed_form",
    "average_runs",
    "expected_curves",
    "GaussianModel",
    "RegressionModel",
    "NgramModel",
    "EmbeddingModel",
    "ArrayKneserNey",
    "TokenCorpus",
    "project_generations",
]

MODELS = ("gaussian", "regression", "ngram", "embedding")
REGIMES = ("replace", "accumulate", "mix")
DEFAULT_REAL_SHARE = 2 / 3
#: z of the Gaussian's tail: "tail" is beyond ``mu0 ± TAIL_Z sigma0`` of the real distribution.
TAIL_Z = 2.0

#: Every metric per model, with its definition (the page shows these beside the charts).
METRICS: dict[str, dict[str, str]] = {
    "gaussian": {
        "mean": "Fitted mean (averaged over dimensions). Real: the true mean mu0.",
        "variance": "Fitted maximum-likelihood variance (averaged over dimensions); "
                    "under replace E[var_t] = ((n-1)/n)^(t+1) sigma0^2 (Shumailov et al. 2024).",
        "tail mass": "Probability, under the fitted model, of falling outside the real distribution's "
                     "central region: |x - mu0| > 2 sigma0 in 1-D; Mahalanobis distance to the real "
                     "distribution beyond the chi-square quantile of the same mass (0.9545) in d-D. "
                     "Real: 0.0455. Falls to 0 as the model collapses.",
    },
    "regression": {
        "test error": "Excess test risk ||w_t - w*||^2 (isotropic test inputs: E_x[(x.w_t - x.w*)^2]); "
                      "replace: E = (t+1) sigma^2 d/(n-d-1); accumulate: sigma^2 d/(n-d-1) sum_{k=1}^{t+1} 1/k^2 "
                      "(Gerstgrasser et al. 2024).",
    },
    "ngram": {
        "perplexity": "Held-out perplexity of generation t's Kneser-Ney model on the real holdout, its uniform floor "
                      "over the fixed vocabulary of the real data (train and holdout words), so generations are "
                      "comparable (lower is better).",
        "entropy": "Shannon entropy (bits) of the word distribution of generation t's n sampled texts (Zhang et al. 2018).",
        "vocabulary": "Distinct words in generation t's n sampled texts.",
        "rare-token mass": "Share of the words in generation t's sampled texts that are rare in the real "
                           "training texts R (seen there at most twice).",
        "rare-token coverage": "Share of the real training texts' rare words (seen at most twice) that "
                               "generation t's sampled texts use.",
        "distinct-2": "Unique word bigrams over all bigrams of generation t's sampled texts (Li et al. 2016).",
        "coverage": "k-NN coverage of the real holdout by a seeded subsample of generation t's texts, "
                    "in MiniLM embedding space (Naeem et al. 2020); with embed_sample > 0.",
        "recall": "k-NN recall of the real holdout by the same subsample (Naeem et al. 2020); with embed_sample > 0.",
    },
    "embedding": {
        "precision": "Share of generated points inside some real holdout point's k-NN ball (Naeem et al. 2020).",
        "recall": "Share of real holdout points inside some generated point's k-NN ball (Naeem et al. 2020).",
        "density": "Mean number of real holdout k-NN balls holding each generated point, over k (Naeem et al. 2020).",
        "coverage": "Share of real holdout points whose k-NN ball holds a generated point (Naeem et al. 2020).",
        "vendi": "Vendi score of the generated points (Friedman and Dieng 2023).",
        "mean pairwise distance": "Mean cosine distance between generated points.",
    },
}


class SimulationError(ValueError):
    """A simulation cannot run as asked; the message says what is wrong and how to fix it."""


# --------------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------------


@dataclass
class SimulationResult:
    """What :func:`simulate` returns.

    Attributes
    ----------
    model, regimes, generations, n, seed, real_share, params
        The run's settings (``params``: the model parameters actually used, defaults filled in).
    metrics
        Tidy table, one row per value: ``model``, ``regime``, ``generation`` (0 … generations),
        ``metric``, ``value``. Generation 0 (the fit to real data) is repeated under each regime.
    snapshots
        Per-generation views for a generation slider, each a tidy DataFrame with ``regime`` and
        ``generation`` columns (see each model's ``snapshot`` for the columns).
    points
        The embedding model's generated points: ``{(regime, generation): (n, d) float32}``
        (empty for other models); ``reference`` holds the real points they are measured against.
    reference
        Real reference data: ``"holdout"`` ((m, d) real holdout embeddings) for the embedding model;
        ``"real_mean"``/``"real_std"`` for the Gaussian; ``"weights"`` for the regression.
    seconds
        Wall-clock time of the run.
    """

    model: str
    regimes: tuple[str, ...]
    generations: int
    n: int
    seed: int
    real_share: float
    params: dict[str, Any]
    metrics: pd.DataFrame
    snapshots: dict[str, pd.DataFrame] = field(default_factory=dict)
    points: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def wide(self) -> pd.DataFrame:
        """The metrics as one row per (regime, generation) and one column per metric."""
        return self.metrics.pivot_table(index=["regime", "generation"], columns="metric", values="value",
                                        sort=False).reset_index()

    def curve(self, metric: str, regime: str) -> np.ndarray:
        """One metric's values over generations 0 … G for one regime."""
        rows = self.metrics[(self.metrics["metric"] == metric) & (self.metrics["regime"] == regime)]
        if rows.empty:
            raise SimulationError(f"no metric {metric!r} for regime {regime!r}; metrics: "
                                  f"{sorted(self.metrics['metric'].unique())}")
        return rows.sort_values("generation")["value"].to_numpy()


# --------------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------------


def _stream(seed: int, regime: str | None, generation: int) -> np.random.Generator:
    """The random stream of one step: independent of the other regimes that run."""
    code = 0 if regime is None else 1 + REGIMES.index(regime)
    return np.random.default_rng([seed, code, generation])


def _validate(model: str, regimes: Sequence[str], generations: int, n: int, seed: int, real_share: float) -> tuple[str, ...]:
    if model not in MODELS:
        raise SimulationError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
    if isinstance(regimes, str):
        regimes = (regimes,)
    regimes = tuple(dict.fromkeys(regimes))
    if not regimes:
        raise SimulationError(f"choose at least one regime of {', '.join(REGIMES)}")
    for regime in regimes:
        if regime not in REGIMES:
            raise SimulationError(f"unknown regime {regime!r}: choose from {', '.join(REGIMES)}")
    if isinstance(generations, bool) or not isinstance(generations, (int, np.integer)) or generations < 1:
        raise SimulationError(f"generations must be an integer >= 1, got {generations!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise SimulationError(f"n (samples per generation) must be an integer >= 2, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SimulationError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(real_share, (int, float, np.floating)) or not 0.0 <= float(real_share) <= 1.0 \
            or math.isnan(float(real_share)):
        raise SimulationError(f"real_share must be a number in [0, 1], got {real_share!r}")
    return regimes


def _make_model(model: str, n: int, params: dict[str, Any]):
    cls = {"gaussian": GaussianModel, "regression": RegressionModel, "ngram": NgramModel,
           "embedding": EmbeddingModel}[model]
    try:
        return cls(n=n, **params)
    except TypeError as exc:  # an unknown keyword
        raise SimulationError(f"{model}: {exc}. Parameters of {model}: {', '.join(cls.PARAMETERS)}") from None


def simulate(
    model: str,
    regimes: Sequence[str] = REGIMES,
    *,
    generations: int = 10,
    n: int | None = None,
    seed: int = 0,
    real_share: float = DEFAULT_REAL_SHARE,
    progress: Callable[[int, int], None] | None = None,
    **model_params: Any,
) -> SimulationResult:
    """Run the recursive-training loop of one model under several data regimes.

    Generation 0 is the model fitted to ``n`` real items; generation ``t`` is fitted to data of the
    regime (replace: generation ``t-1``'s ``n`` samples; accumulate: the real data and every
    earlier generation's samples; mix: ``round(real_share * n)`` real items plus samples of
    generation ``t-1``), then draws ``n`` samples from itself (Shumailov et al. 2024; Gerstgrasser
    et al. 2024).

    Parameters
    ----------
    model
        ``"gaussian"``, ``"regression"``, ``"ngram"`` or ``"embedding"``.
    regimes
        Any of ``"replace"``, ``"accumulate"``, ``"mix"`` (default all three).
    generations
        Generations after generation 0 (at least 1): the curves have ``generations + 1`` points.
    n
        Samples per generation (and real training items). Default per model: gaussian 100,
        regression 100, ngram 1,000 texts, embedding 1,000 points.
    seed
        Same seed, same result.
    real_share
        The mix regime's real share, in [0, 1] (default 2/3). Ignored by the other regimes.
    progress
        Called as ``progress(done, total)`` after generation 0 and after each generation of each
        regime (``total = 1 + len(regimes) * generations``).
    **model_params
        Passed to the model: see :class:`GaussianModel`, :class:`RegressionModel`,
        :class:`NgramModel`, :class:`EmbeddingModel`.

    Returns
    -------
    SimulationResult
        Tidy metrics (``model, regime, generation, metric, value``), snapshots per generation and,
        for the embedding model, the generated points.

    Raises
    ------
    SimulationError
        Unknown model or regime, ``generations < 1``, ``n`` too small for the model, ``real_share``
        outside [0, 1], an unknown model parameter, or unusable real data.
    """
    import time

    started = time.perf_counter()
    n = n if n is not None else {"gaussian": 100, "regression": 100, "ngram": 1000, "embedding": 1000}.get(model, 100)
    regimes = _validate(model, regimes, generations, n, seed, real_share)
    n, generations, seed, real_share = int(n), int(generations), int(seed), float(real_share)
    with _one_thread():
        engine = _make_model(model, n, dict(model_params))
    total = 1 + len(regimes) * generations
    report = progress or (lambda done, total: None)

    rows: dict[str, list] = {"regime": [], "generation": [], "metric": [], "value": []}
    snapshots: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}
    points: dict[tuple[str, int], np.ndarray] = {}

    def record(regime: str, generation: int, measured: dict[str, float], views: dict[str, dict[str, Any]], sample) -> None:
        for metric, value in measured.items():
            rows["regime"].append(regime)
            rows["generation"].append(generation)
            rows["metric"].append(metric)
            rows["value"].append(float(value))
        for name, columns in views.items():
            snapshots.setdefault(name, []).append((regime, generation, columns))
        if engine.KEEPS_POINTS:
            points[(regime, generation)] = engine.points_of(sample)

    with _one_thread():
        _loop(engine, regimes, generations, n, seed, real_share, record, lambda done: report(done, total))
    metrics = pd.DataFrame(rows)
    metrics.insert(0, "model", model)
    return SimulationResult(
        model=model, regimes=regimes, generations=generations, n=n, seed=seed, real_share=real_share,
        params=engine.settings(), metrics=metrics,
        snapshots={name: _stack(parts) for name, parts in snapshots.items()},
        points=points, reference=engine.reference(), seconds=time.perf_counter() - started,
    )


def _stack(parts: list[tuple[str, int, dict[str, Any]]]) -> pd.DataFrame:
    """One tidy table from per-(regime, generation) column dicts."""
    sizes = [len(next(iter(columns.values()))) for _, _, columns in parts]
    table = {"regime": np.repeat([regime for regime, _, _ in parts], sizes),
             "generation": np.repeat([generation for _, generation, _ in parts], sizes)}
    for name in parts[0][2]:
        table[name] = np.concatenate([np.asarray(columns[name]) for _, _, columns in parts])
    return pd.DataFrame(table)


_CONTROLLER: list = []  # cache: the thread-pool controller (finding the BLAS libraries costs milliseconds)


def _one_thread():
    """One BLAS thread: the algebra here is small, and on 2 busy cores 2 threads can be many times slower."""
    import contextlib

    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1)


def _loop(engine, regimes, generations, n, seed, real_share, record, report) -> None:
    """Generation 0 once, then each regime's generations 1 ... G (see :func:`simulate`)."""
    rng = _stream(seed, None, 0)
    real = engine.real_data(rng)
    fitted = engine.fit(real, rng)
    sample0 = engine.sample(fitted, n, rng)
    measured0, views0 = engine.measure(fitted, sample0, rng), engine.snapshot(fitted, sample0)
    for regime in regimes:
        record(regime, 0, measured0, views0, sample0)
    done = 1
    report(done)

    m_real = int(round(real_share * n))
    for regime in regimes:
        history = [real, sample0]
        previous = sample0
        for generation in range(1, generations + 1):
            rng = _stream(seed, regime, generation)
            if regime == "replace":
                train = previous
            elif regime == "accumulate":
                train = engine.combine(history)
            else:
                chosen = np.zeros(n, dtype=bool)
                chosen[rng.choice(n, m_real, replace=False)] = True
                train = engine.combine([engine.take(real, np.flatnonzero(chosen)),
                                        engine.take(previous, np.flatnonzero(~chosen))])
            fitted = engine.fit(train, rng)
            previous = engine.sample(fitted, n, rng)
            if regime == "accumulate":
                history.append(previous)
            record(regime, generation, engine.measure(fitted, previous, rng), engine.snapshot(fitted, previous), previous)
            done += 1
            report(done)


def closed_form(model: str, regime: str, *, generations: int, n: int, **params: Any) -> pd.DataFrame:
    """The published expectation of a model's main metric per generation, where one exists.

    ``gaussian``, ``replace`` (Shumailov et al. 2024): the MLE variance of a sample of n from a
    Gaussian of variance s² has expectation ``(n-1)/n · s²``; by the tower rule, generation t (the
    ``t+1``-th fit) has ``E[var_t] = ((n-1)/n)^(t+1) · sigma0²`` per dimension.

    ``regression`` over a fixed design ``X`` (n × d, rows i.i.d. N(0, I_d)) with label noise
    ``sigma``, with ``A = (XᵀX)⁻¹Xᵀ`` and ``E tr((XᵀX)⁻¹) = d / (n - d - 1)`` (inverse Wishart):

    - ``replace``: ``w_t - w* = sum_{k=0..t} A e_k``, so ``E||w_t - w*||² = (t+1) sigma² d/(n-d-1)``
      (Dohmatob et al. 2024, Gerstgrasser et al. 2024, Theorem 1: linear growth);
    - ``accumulate``: least squares on all ``t+1`` label vectors over the repeated design gives
      ``w_t = w_{t-1} + A e_t / (t+1)``, so ``E||w_t - w*||² = sigma² d/(n-d-1) · sum_{k=1..t+1} 1/k²
      <= pi²/6 · sigma² d/(n-d-1)`` (Gerstgrasser et al. 2024, Theorem 2: bounded).

    Generation t here is the paper's iteration t+1 (generation 0 is the fit to real data).

    Returns
    -------
    pandas.DataFrame
        ``generation``, ``metric`` (``"variance"`` or ``"test error"``), ``value``.

    Raises
    ------
    SimulationError
        Where no closed form is known (the n-gram and embedding models, the mix regime, the
        Gaussian under accumulate).
    """
    t = np.arange(generations + 1)
    if model == "gaussian" and regime == "replace":
        sigma = float(params.get("std", 1.0))
        return pd.DataFrame({"generation": t, "metric": "variance", "value": ((n - 1) / n) ** (t + 1) * sigma**2})
    if model == "regression" and regime in ("replace", "accumulate"):
        d, sigma = int(params.get("dim", 10)), float(params.get("noise", 1.0))
        if n <= d + 1:
            raise SimulationError(f"the closed form needs n > d + 1, got n={n}, d={d}")
        unit = sigma**2 * d / (n - d - 1)
        if regime == "replace":
            value = unit * (t + 1)
        else:
            value = unit * np.cumsum(1.0 / np.arange(1, generations + 2) ** 2)
        return pd.DataFrame({"generation": t, "metric": "test error", "value": value})
    raise SimulationError(f"no closed form for the {model} model under {regime}: closed forms exist for "
                          f"gaussian/replace and regression/replace and regression/accumulate")


def average_runs(model: str, regimes: Sequence[str] = REGIMES, *, repeats: int, seed: int = 0,
                 progress: Callable[[int, int], None] | None = None, **settings: Any) -> pd.DataFrame:
    """The mean of each metric over ``repeats`` runs with seeds ``seed … seed + repeats - 1``.

    One run is noisy; the closed forms of :func:`closed_form` are expectations, so a run averaged
    over many seeds is what to set beside them. ``settings`` go to :func:`simulate`.

    Returns
    -------
    pandas.DataFrame
        ``model, regime, generation, metric, value`` (the mean) and ``se`` (its standard error,
        the standard deviation over runs divided by sqrt(repeats); NaN for a single run).
    """
    if int(repeats) < 1:
        raise SimulationError(f"repeats must be at least 1, got {repeats}")
    runs = []
    for i in range(int(repeats)):
        runs.append(simulate(model, regimes, seed=seed + i, **settings).metrics)
        if progress:
            progress(i + 1, int(repeats))
    stacked = pd.concat(runs, ignore_index=True)
    grouped = stacked.groupby(["model", "regime", "generation", "metric"], sort=False)["value"]
    table = grouped.mean().rename("value").to_frame()
    table["se"] = grouped.std(ddof=1) / math.sqrt(int(repeats)) if int(repeats) > 1 else math.nan
    return table.reset_index()


def expected_curves(model: str, regimes: Sequence[str], *, generations: int, n: int, **params: Any) -> pd.DataFrame:
    """:func:`closed_form` of every regime that has one, stacked with a ``regime`` column (empty if none)."""
    frames = []
    for regime in regimes:
        try:
            frames.append(closed_form(model, regime, generations=generations, n=n, **params).assign(regime=regime))
        except SimulationError:
            continue
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["generation", "metric", "value", "regime"])


class _ArrayData:
    """Data of a model that is one numpy array of rows: generations join and subsample by row."""

    @staticmethod
    def combine(parts: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts)

    @staticmethod
    def take(data: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return data[rows]


# --------------------------------------------------------------------------------------------------
# Gaussian
# --------------------------------------------------------------------------------------------------


class GaussianModel(_ArrayData):
    """A Gaussian fitted by maximum likelihood, resampled each generation (Shumailov et al. 2024).

    Real data: ``n`` draws from ``N(mean · 1, std² I_dim)``. Fit: sample mean and the MLE
    covariance (divisor n; full covariance in d-D). Sample: n draws from the fit.

    Parameters
    ----------
    n
        Samples per generation (at least ``dim + 1``).
    mean, std
        The real distribution (default standard normal).
    dim
        Dimension (default 1).
    bins
        Histogram bins of the snapshot, over ``mean ± 5 std`` (default 60).
    """

    PARAMETERS = ("mean", "std", "dim", "bins")
    KEEPS_POINTS = False

    def __init__(self, *, n: int, mean: float = 0.0, std: float = 1.0, dim: int = 1, bins: int = 60) -> None:
        if not std > 0:
            raise SimulationError(f"std must be > 0, got {std}")
        if int(dim) < 1:
            raise SimulationError(f"dim must be >= 1, got {dim}")
        if n < int(dim) + 1:
            raise SimulationError(f"n must be at least dim + 1 = {int(dim) + 1} for a covariance, got {n}")
        self.n, self.mean, self.std, self.dim, self.bins = n, float(mean), float(std), int(dim), int(bins)
        self.edges = np.linspace(self.mean - 5 * self.std, self.mean + 5 * self.std, self.bins + 1)
        # d-D tail: squared Mahalanobis radius holding the same mass as |z| <= 2 in 1-D
        inner = special.erf(TAIL_Z / math.sqrt(2))
        self.radius2 = float(special.gammaincinv(self.dim / 2, inner) * 2)

    def settings(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "dim": self.dim, "bins": self.bins}

    def reference(self) -> dict[str, Any]:
        return {"real_mean": self.mean, "real_std": self.std, "tail_z": TAIL_Z}

    def real_data(self, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(self.mean, self.std, size=(self.n, self.dim))

    def fit(self, data: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        mu = data.mean(axis=0)
        centred = data - mu
        return mu, centred.T @ centred / len(data)

    def sample(self, fitted, n: int, rng: np.random.Generator) -> np.ndarray:
        mu, cov = fitted
        if self.dim == 1:
            return mu + math.sqrt(max(cov[0, 0], 0.0)) * rng.standard_normal((n, 1))
        values, vectors = np.linalg.eigh(cov)
        root = vectors * np.sqrt(np.clip(values, 0.0, None))
        return mu + rng.standard_normal((n, self.dim)) @ root.T

    def tail_mass(self, fitted, rng: np.random.Generator | None = None) -> float:
        """P(outside the real central region) under a fitted Gaussian: exact in 1-D, 20,000 draws in d-D."""
        mu, cov = fitted
        if self.dim == 1:
            s = math.sqrt(max(cov[0, 0], 0.0))
            lo, hi = self.mean - TAIL_Z * self.std, self.mean + TAIL_Z * self.std
            if s == 0.0:
                return float(not lo <= mu[0] <= hi)
            return float(special.ndtr((lo - mu[0]) / s) + special.ndtr((mu[0] - hi) / s))
        draws = self.sample(fitted, 20_000, np.random.default_rng(0) if rng is None else rng)
        distance2 = (((draws - self.mean) / self.std) ** 2).sum(axis=1)
        return float((distance2 > self.radius2).mean())

    def measure(self, fitted, sample: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        mu, cov = fitted
        return {"mean": float(mu.mean()), "variance": float(np.diag(cov).mean()), "tail mass": self.tail_mass(fitted, rng)}

    def snapshot(self, fitted, sample: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        """``histogram``: ``bin_start, bin_end, count`` (generation t's n samples, first coordinate,
        over fixed edges ``mean ± 5 std``), ``density`` (the fitted pdf at the bin centre) and
        ``real_density`` (the real pdf there)."""
        mu, cov = fitted
        counts, _ = np.histogram(sample[:, 0], bins=self.edges)
        centre = (self.edges[:-1] + self.edges[1:]) / 2
        s = math.sqrt(max(cov[0, 0], 1e-300))
        density = np.exp(-0.5 * ((centre - mu[0]) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        real = np.exp(-0.5 * ((centre - self.mean) / self.std) ** 2) / (self.std * math.sqrt(2 * math.pi))
        return {"histogram": {"bin_start": self.edges[:-1], "bin_end": self.edges[1:], "count": counts,
                              "density": density, "real_density": real}}


# --------------------------------------------------------------------------------------------------
# linear regression
# --------------------------------------------------------------------------------------------------


class RegressionModel:
    """Least-squares regression trained on its own predictions (Dohmatob et al. 2024; Gerstgrasser et al. 2024).

    A fixed design ``X`` (n × dim, rows i.i.d. N(0, I)) is drawn once; the real labels are
    ``y = X w* + e`` with ``e ~ N(0, noise² I)`` and ``w*`` drawn once from N(0, I/dim). A
    generation's "sample" is a label vector ``X w_t + e`` with fresh noise; every training set
    uses the same design rows (the accumulate regime stacks the design once per label vector,
    the mix regime takes real labels on a random ``real_share`` of the rows and synthetic labels
    on the others). Test error: ``||w_t - w*||²``, the excess risk on isotropic test inputs.

    Parameters
    ----------
    n
        Rows of the design (at least ``dim + 2`` so that ``d / (n - d - 1)`` is finite).
    dim
        Features d (default 10).
    noise
        Label noise standard deviation sigma (default 1).
    """

    PARAMETERS = ("dim", "noise")
    KEEPS_POINTS = False

    def __init__(self, *, n: int, dim: int = 10, noise: float = 1.0) -> None:
        if int(dim) < 1:
            raise SimulationError(f"dim must be >= 1, got {dim}")
        if n < int(dim) + 2:
            raise SimulationError(f"n must be at least dim + 2 = {int(dim) + 2} for regression with {int(dim)} "
                                  f"features, got {n}")
        if not noise >= 0:
            raise SimulationError(f"noise must be >= 0, got {noise}")
        self.n, self.dim, self.noise = n, int(dim), float(noise)

    def settings(self) -> dict[str, Any]:
        return {"dim": self.dim, "noise": self.noise}

    def reference(self) -> dict[str, Any]:
        return {"weights": self.w_true}

    def real_data(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        self.design = rng.standard_normal((self.n, self.dim))
        self.w_true = rng.standard_normal(self.dim) / math.sqrt(self.dim)
        return self.design, self.design @ self.w_true + self.noise * rng.standard_normal(self.n)

    @staticmethod
    def combine(parts):
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    @staticmethod
    def take(data, rows: np.ndarray):
        return data[0][rows], data[1][rows]

    def fit(self, data, rng: np.random.Generator) -> np.ndarray:
        x, y = data
        return np.linalg.lstsq(x, y, rcond=None)[0]

    def sample(self, fitted: np.ndarray, n: int, rng: np.random.Generator):
        return self.design, self.design @ fitted + self.noise * rng.standard_normal(self.n)

    def measure(self, fitted: np.ndarray, sample, rng: np.random.Generator) -> dict[str, float]:
        return {"test error": float(((fitted - self.w_true) ** 2).sum())}

    def snapshot(self, fitted: np.ndarray, sample) -> dict[str, dict[str, np.ndarray]]:
        """``weights``: ``feature``, ``fitted`` and ``true`` weight per feature."""
        return {"weights": {"feature": np.arange(self.dim), "fitted": fitted, "true": self.w_true}}


# --------------------------------------------------------------------------------------------------
# n-gram language model
# --------------------------------------------------------------------------------------------------


class TokenCorpus:
    """Texts as word ids: one flat int64 array and the offsets of each text (``offsets[-1] == len(ids)``)."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray) -> None:
        self.ids, self.offsets = np.asarray(ids, dtype=np.int64), np.asarray(offsets, dtype=np.int64)
        self._counts: list[tuple[np.ndarray, np.ndarray]] | None = None
        self._counts_order = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, rows: np.ndarray) -> "TokenCorpus":
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        position = np.repeat(self.offsets[rows] - offsets[:-1], lengths) + np.arange(offsets[-1])
        return TokenCorpus(self.ids[position], offsets)

    @staticmethod
    def concat(parts: Sequence["TokenCorpus"]) -> "TokenCorpus":
        ids = np.concatenate([p.ids for p in parts])
        lengths = np.concatenate([p.lengths for p in parts])
        corpus = TokenCorpus(ids, np.concatenate([[0], np.cumsum(lengths)]))
        orders = {p._counts_order for p in parts}
        if len(orders) == 1 and all(p._counts is not None for p in parts):  # merge counts instead of recounting
            corpus._counts = [_merge_counts([p._counts[level] for p in parts]) for level in range(len(parts[0]._counts))]
            corpus._counts_order = parts[0]._counts_order
        return corpus

    def ngram_counts(self, order: int, bits: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Raw counts of every n-gram, n = 1 … order, of the texts padded with ``order - 1`` ``<s>`` and
        ``</s>`` (as :class:`analysis.metrics.lm.KneserNeyLM` pads): per n, sorted packed keys and counts."""
        if self._counts is not None and self._counts_order == order:
            return self._counts
        pad = order - 1
        lengths = self.lengths + 2 * pad
        starts = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.full(int(starts[-1]), _EOS, dtype=np.int64)
        if pad:
            flat[(starts[:-1, None] + np.arange(pad)).ravel()] = _BOS
        flat[np.repeat(starts[:-1] + pad - self.offsets[:-1], self.lengths) + np.arange(len(self.ids))] = self.ids
        end = np.repeat(starts[1:], lengths)
        position = np.arange(len(flat))
        counts = []
        for size in range(1, order + 1):
            valid = position[position + size <= end]
            keys = np.zeros(len(valid), dtype=np.int64)
            for j in range(size):
                keys = (keys << bits) | flat[valid + j]
            unique, count = np.unique(keys, return_counts=True)
            counts.append((unique, count.astype(np.int64)))
        self._counts, self._counts_order = counts, order
        return counts


def _merge_counts(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    keys = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    order = np.argsort(keys, kind="stable")  # sorted runs: a merge
    keys, counts = keys[order], counts[order]
    first = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[first], np.add.reduceat(counts, first)


_BOS, _EOS, _UNK = 0, 1, 2


class _Vocabulary:
    """Word <-> id, with ``<s>`` = 0, ``</s>`` = 1, ``<unk>`` = 2."""

    def __init__(self) -> None:
        self.words: list[str] = [BOS, EOS, UNK]
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}

    def encode(self, texts: Sequence[str]) -> TokenCorpus:
        ids, lengths = [], []
        for text in texts:
            tokens = tokenize(text)
            for token in tokens:
                if token not in self.index:
                    self.index[token] = len(self.words)
                    self.words.append(token)
            ids.extend(self.index[t] for t in tokens)
            lengths.append(len(tokens))
        return TokenCorpus(np.array(ids, dtype=np.int64), np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]))

    def decode(self, corpus: TokenCorpus, rows: Sequence[int] | None = None) -> list[str]:
        words = np.array(self.words, dtype=object)
        rows = range(len(corpus)) if rows is None else rows
        return [" ".join(words[corpus.ids[corpus.offsets[r]:corpus.offsets[r + 1]]]) for r in rows]


class _Level:
    """One order of an interpolated Kneser-Ney model as sorted arrays.

    ``contexts`` (sorted packed keys of the contexts with followers), per context ``gamma`` (the
    back-off weight) and ``stay`` (the share of its mass at this order), and per (context, word)
    entry ``keys`` (sorted) and ``alpha`` (the discounted probability). ``sample_words`` and
    ``sample_cum`` (context index + cumulative share) give the per-context sampling distribution.
    """

    contexts: np.ndarray
    gamma: np.ndarray
    stay: np.ndarray
    keys: np.ndarray
    alpha: np.ndarray
    sample_words: np.ndarray
    sample_cum: np.ndarray


class ArrayKneserNey:
    """:class:`analysis.metrics.lm.KneserNeyLM` on numpy arrays, with fast sampling.

    The same model (interpolated Kneser-Ney, Chen and Goodman 1999, with the uniform floor and the
    same ``<s>``/``</s>`` padding): ``perplexity`` equals ``KneserNeyLM.perplexity_tokens`` on the
    same texts (tested to 1e-9), but counting, scoring and sampling are vectorised over packed
    integer n-gram keys, so a generation of the simulator fits, samples 1,000 texts and scores the
    holdout in a fraction of a second instead of tens of seconds.

    Sampling (``sample``) uses the model's mixture form: ``p(w|c) = alpha(w|c) + gamma(c) p(w|c')``
    with ``sum_w alpha(w|c) = 1 - gamma(c)``, so a word is drawn by staying at the longest seen
    context with probability ``sum alpha / (sum alpha + gamma)`` and drawing in proportion to its
    discounted count there, else backing off; the last level is the discounted continuation
    unigram, else uniform over the vocabulary. At ``temperature=1`` without truncation this is
    exact sampling from the model (``<s>`` and ``<unk>`` are never emitted; their tiny unigram mass
    is renormalised away). ``temperature``, ``top_k`` and ``top_p`` act on the distribution of each
    order's discounted counts (temperature: weights ``(c - d)^(1/T)``; then the ``top_k`` largest;
    then the smallest prefix whose share reaches ``top_p``); with truncation the uniform floor is
    not sampled. This keeps sampling O(order · log) per token; truncating the full interpolated
    distribution would cost O(vocabulary) per token.

    ``fit(vocabulary=...)`` fixes the vocabulary of the uniform floor (the simulator passes every
    word of the real data, so that held-out perplexities of generations with different
    vocabularies are comparable: a model that lost a word pays for it instead of scoring it as a
    cheap ``<unk>``). Without it the model is exactly ``KneserNeyLM``.
    """

    def __init__(self, order: int, bits: int, *, discount: float = 0.75) -> None:
        if order < 2:
            raise SimulationError(f"the n-gram order must be >= 2, got {order}")
        if order * bits > 63:
            raise SimulationError(f"order {order} with a vocabulary of 2^{bits} words does not fit 64-bit keys: "
                                  f"use order <= {63 // bits}")
        if not 0 < discount < 1:
            raise SimulationError(f"discount must be in (0, 1), got {discount}")
        self.order, self.bits, self.discount = order, bits, discount

    def fit(self, corpus: TokenCorpus, *, temperature: float = 1.0, top_k: int | None = None,
            top_p: float = 1.0, vocabulary: np.ndarray | None = None) -> "ArrayKneserNey":
        """Count the corpus and build every order's scoring and sampling arrays.

        ``vocabulary`` (sorted ids, ``<s>`` and ``</s>`` included) fixes the vocabulary of the
        uniform floor; default, as in ``KneserNeyLM``, every token of the padded training texts.
        """
        d, bits = self.discount, self.bits
        raw = corpus.ngram_counts(self.order, bits)
        mask = (1 << bits) - 1
        # sorted ids of the vocabulary: every token of the padded texts (<s>, </s> included), or the given one
        self.vocabulary = raw[0][0] if vocabulary is None else np.asarray(vocabulary, dtype=np.int64)
        self.truncated = top_k is not None or top_p < 1.0
        self.levels: dict[int, _Level] = {}
        for size in range(1, self.order + 1):
            level = _Level()
            if size == self.order:
                keys, weight = raw[size - 1]
            else:  # continuation counts N1+(. g): distinct (size+1)-grams ending in g
                suffix = raw[size][0] & ((1 << (bits * size)) - 1)
                keys, weight = np.unique(suffix, return_counts=True)
            context = keys >> bits
            first = np.flatnonzero(np.concatenate([[True], context[1:] != context[:-1]]))
            group = np.repeat(np.arange(len(first)), np.diff(np.concatenate([first, [len(keys)]])))
            total = np.add.reduceat(weight, first).astype(np.float64)
            distinct = np.diff(np.concatenate([first, [len(keys)]])).astype(np.float64)
            level.contexts = context[first]
            if size == self.order or size == 1:
                followers = distinct
            else:  # KneserNeyLM: gamma uses the number of distinct raw followers of the context
                raw_context = raw[size - 1][0] >> bits
                raw_first = np.flatnonzero(np.concatenate([[True], raw_context[1:] != raw_context[:-1]]))
                raw_distinct = np.diff(np.concatenate([raw_first, [len(raw_context)]]))
                followers = raw_distinct[np.searchsorted(raw_context[raw_first], level.contexts)].astype(np.float64)
            level.gamma = d * followers / total
            level.keys = keys
            level.alpha = np.maximum(weight - d, 0.0) / total[group]
            mass = np.add.reduceat(level.alpha, first)
            level.stay = mass / (mass + level.gamma)
            words = keys & mask
            usable = ~np.isin(words, (_BOS, _UNK))
            self._sampling(level, words[usable], group[usable], np.maximum(weight - d, 0.0)[usable],
                           temperature, top_k, top_p)
            self.levels[size] = level
        unigram = self.levels[1]
        self.uniform = unigram.gamma[0] / (len(self.vocabulary) + 1)
        if self.truncated:
            unigram.stay = np.ones(1)
        self.uniform_words = self.vocabulary[~np.isin(self.vocabulary, (_BOS, _UNK))]
        return self

    @staticmethod
    def _sampling(level: _Level, words, group, weight, temperature, top_k, top_p) -> None:
        weight = weight ** (1.0 / temperature) if temperature != 1.0 else weight.astype(np.float64)
        if top_k is not None or top_p < 1.0:
            order = np.lexsort((words, -weight, group))
            words, group, weight = words[order], group[order], weight[order]
            first = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
            start = np.repeat(first, np.diff(np.concatenate([first, [len(group)]])))
            keep = np.ones(len(words), dtype=bool)
            if top_k is not None:
                keep &= np.arange(len(words)) - start < top_k
            if top_p < 1.0:
                cum = np.cumsum(weight)
                before = cum - weight - (cum[start] - weight[start])
                totals = np.add.reduceat(weight, first)[np.searchsorted(first, start)]
                keep &= before / totals < top_p
            words, group, weight = words[keep], group[keep], weight[keep]
        cum = np.cumsum(weight)
        first = np.flatnonzero(np.concatenate([[True], group[1:] != group[:-1]]))
        lengths = np.diff(np.concatenate([first, [len(group)]]))
        base = np.repeat(np.concatenate([[0.0], cum[first[1:] - 1]]), lengths)
        ends = np.repeat(cum[np.concatenate([first[1:] - 1, [len(cum) - 1]])], lengths)
        share = (cum - base) / (ends - base)
        share[np.concatenate([first[1:] - 1, [len(cum) - 1]])] = 1.0
        level.sample_words = words
        level.sample_cum = group + share
        # contexts without any samplable word (only <s>/<unk> followers) never stay
        samplable = np.zeros(len(level.contexts), dtype=bool)
        samplable[group] = True
        level.samplable = samplable

    # ---------------------------------------------------------------- scoring
    def _context_keys(self, contexts: np.ndarray, size: int) -> np.ndarray:
        keys = np.zeros(len(contexts), dtype=np.int64)
        for j in range(contexts.shape[1] - (size - 1), contexts.shape[1]):
            keys = (keys << self.bits) | contexts[:, j]
        return keys

    @staticmethod
    def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.searchsorted(sorted_keys, keys)
        index = np.minimum(index, len(sorted_keys) - 1)
        return index, sorted_keys[index] == keys

    def score(self, words: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """``p(word | context)`` for id arrays: words (m,), contexts (m, order - 1), unknown ids already ``<unk>``."""
        level = self.levels[1]
        index, found = self._find(level.keys, words)
        p = np.where(found, level.alpha[index], 0.0) + self.uniform
        for size in range(2, self.order + 1):
            level = self.levels[size]
            key = self._context_keys(contexts, size)
            c_index, seen = self._find(level.contexts, key)
            e_index, found = self._find(level.keys, (key << self.bits) | words)
            p = np.where(seen, np.where(found, level.alpha[e_index], 0.0) + level.gamma[c_index] * p, p)
        return p

    def known(self, ids: np.ndarray) -> np.ndarray:
        """The ids with every word outside the model's vocabulary replaced by ``<unk>``."""
        index, found = self._find(self.vocabulary, ids)
        return np.where(found, ids, _UNK)

    def perplexity(self, corpus: TokenCorpus) -> float:
        """``exp(-mean ln p)`` over every word and one ``</s>`` per text (as ``KneserNeyLM.perplexity_tokens``)."""
        pad = self.order - 1
        lengths = corpus.lengths + pad + 1
        starts = np.concatenate([[0], np.cumsum(lengths)])
        flat = np.full(int(starts[-1]), _EOS, dtype=np.int64)
        flat[(starts[:-1, None] + np.arange(pad)).ravel()] = _BOS
        flat[np.repeat(starts[:-1] + pad - corpus.offsets[:-1], corpus.lengths) + np.arange(len(corpus.ids))] = corpus.ids
        flat = self.known(flat)
        targets = (starts[:-1, None] + pad + np.arange(int(lengths.max()) - pad)[None, :])
        targets = targets[targets < starts[1:, None]]
        contexts = np.stack([flat[targets - pad + j] for j in range(pad)], axis=1)
        p = self.score(flat[targets], contexts)
        return float(np.exp(-np.log(p).mean()))

    # ---------------------------------------------------------------- sampling
    def _draw(self, contexts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = len(contexts)
        out = np.full(m, -1, dtype=np.int64)
        pending = np.arange(m)
        for size in range(self.order, 0, -1):
            if not pending.size:
                break
            level = self.levels[size]
            if size == 1:
                index = np.zeros(len(pending), dtype=np.int64)
                seen = np.ones(len(pending), dtype=bool)
            else:
                index, seen = self._find(level.contexts, self._context_keys(contexts[pending], size))
            seen &= level.samplable[index]
            stay = seen & (rng.random(len(pending)) < level.stay[index])
            chosen = pending[stay]
            if chosen.size:
                u = np.minimum(rng.random(chosen.size), 1.0 - 1e-9)
                position = np.searchsorted(level.sample_cum, index[stay] + u, side="right")
                out[chosen] = level.sample_words[np.minimum(position, len(level.sample_words) - 1)]
            pending = pending[~stay]
        if pending.size:
            out[pending] = self.uniform_words[rng.integers(0, len(self.uniform_words), pending.size)]
        return out

    def sample(self, count: int, rng: np.random.Generator, *, max_tokens: int) -> TokenCorpus:
        """``count`` texts drawn word by word from ``<s>`` until ``</s>`` (or ``max_tokens`` words)."""
        pad = self.order - 1
        contexts = np.full((count, pad), _BOS, dtype=np.int64)
        tokens = np.zeros((count, max_tokens), dtype=np.int64)
        lengths = np.full(count, max_tokens, dtype=np.int64)
        active = np.arange(count)
        for step in range(max_tokens):
            if not active.size:
                break
            words = self._draw(contexts[active], rng)
            ended = words == _EOS
            lengths[active[ended]] = step
            active, words = active[~ended], words[~ended]
            tokens[active, step] = words
            contexts[active] = np.concatenate([contexts[active, 1:], words[:, None]], axis=1)
        keep = np.arange(max_tokens)[None, :] < lengths[:, None]
        return TokenCorpus(tokens[keep], np.concatenate([[0], np.cumsum(lengths)]))


def _real_texts(samples: pd.DataFrame | None, texts: Sequence[str] | None,
                holdout: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(real train texts, real holdout texts): given, from a sample table, or the demo's."""
    if texts is not None:
        train = [str(t) for t in texts if str(t).strip()]
        if holdout is None:
            from analysis.corpus import assign_split

            split = assign_split(list(train)).to_numpy()
            train, held = [t for t, s in zip(train, split) if s == "train"], [t for t, s in zip(train, split) if s == "holdout"]
        else:
            held = [str(t) for t in holdout if str(t).strip()]
        return train, held
    if samples is None:
        from analysis.demo import load_demo

        samples = load_demo(synthetic=False)
    missing = {"text", "source", "split"} - set(samples.columns)
    if missing:
        raise SimulationError(f"the sample table lacks column(s) {sorted(missing)}: pass a table from "
                              f"analysis.corpus (or texts=[...])")
    real = samples[samples["source"] == "real"]
    return real.loc[real["split"] == "train", "text"].tolist(), real.loc[real["split"] == "holdout", "text"].tolist()


def _entropy_bits(counts: np.ndarray) -> float:
    counts = counts[counts > 0]
    if not counts.size:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


class NgramModel:
    """The Kneser-Ney n-gram model trained on its own samples (model health under recursion).

    Real data: a seeded sample of ``n`` texts of the real train split (the demo's by default, or
    ``texts`` / ``samples``); the real holdout is the perplexity reference. Each generation fits
    :class:`ArrayKneserNey` (= :class:`analysis.metrics.lm.KneserNeyLM`) and samples ``n`` texts
    with ``temperature``, ``top_k`` and ``top_p``, each at most ``max_tokens`` words.

    Parameters
    ----------
    n
        Texts per generation (at least 10; at most the number of real train texts).
    order
        n-gram order, 2 or 3 (default 3).
    discount
        Kneser-Ney discount (default 0.75).
    temperature, top_k, top_p
        Sampling settings (default 1, None, 1: exact sampling from the model).
    max_tokens
        Longest sampled text in words (default: the longest real train text).
    samples, texts, holdout
        The real data: a sample table (real train / holdout splits), or lists of texts (``texts``
        split 90/10 by hash when ``holdout`` is None). Default: the demo corpus.
    embed_sample
        With a positive value, per generation embed a seeded subsample of that many generated
        texts with the embedding model and measure coverage and recall of the real holdout
        (slow: about 40 texts/s on 2 cores). Default 0 (off).
    rank_points
        Rows of the rank-frequency snapshot per generation (log-spaced ranks; default 120).
    examples
        Example texts per generation in the ``texts`` snapshot (default 3).
    """

    PARAMETERS = ("order", "discount", "temperature", "top_k", "top_p", "max_tokens", "samples", "texts", "holdout",
                  "embed_sample", "rank_points", "examples")
    KEEPS_POINTS = False

    def __init__(self, *, n: int, order: int = 3, discount: float = 0.75, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float = 0.9, max_tokens: int | None = None,
                 samples: pd.DataFrame | None = None, texts: Sequence[str] | None = None,
                 holdout: Sequence[str] | None = None, embed_sample: int = 0, rank_points: int = 120,
                 examples: int = 3) -> None:
        if n < 10:
            raise SimulationError(f"n must be at least 10 texts for the n-gram model, got {n}")
        if not temperature > 0:
            raise SimulationError(f"temperature must be > 0, got {temperature}")
        if top_k is not None and int(top_k) < 1:
            raise SimulationError(f"top_k must be >= 1 or None, got {top_k}")
        if not 0 < top_p <= 1:
            raise SimulationError(f"top_p must be in (0, 1], got {top_p}")
        if int(order) not in (2, 3):
            raise SimulationError(f"order must be 2 or 3, got {order}")
        train, held = _real_texts(samples, texts, holdout)
        if len(train) < n:
            raise SimulationError(f"n = {n} texts per generation, but the real data has only {len(train)} train "
                                  f"texts: lower n or add texts")
        if not held:
            raise SimulationError("the real data has no holdout texts to measure perplexity on: pass holdout=[...]")
        self.n, self.order, self.discount = n, int(order), float(discount)
        self.temperature, self.top_k, self.top_p = float(temperature), None if top_k is None else int(top_k), float(top_p)
        self.embed_sample, self.rank_points, self.examples = int(embed_sample), int(rank_points), int(examples)
        self.vocabulary = _Vocabulary()
        self.pool = self.vocabulary.encode(train)
        self.pool_texts = train
        self.holdout = self.vocabulary.encode(held)
        self.holdout_texts = held
        self.bits = max(8, int(len(self.vocabulary.words)).bit_length())
        self.fixed_vocabulary = np.array([i for i in range(len(self.vocabulary.words)) if i != _UNK], dtype=np.int64)
        self.max_tokens = int(max_tokens) if max_tokens is not None else int(self.pool.lengths.max())
        if self.max_tokens < 1:
            raise SimulationError(f"max_tokens must be >= 1, got {max_tokens}")
        ArrayKneserNey(self.order, self.bits, discount=self.discount)  # validates order/bits/discount
        self._holdout_vectors = None

    def settings(self) -> dict[str, Any]:
        return {"order": self.order, "discount": self.discount, "temperature": self.temperature, "top_k": self.top_k,
                "top_p": self.top_p, "max_tokens": self.max_tokens, "embed_sample": self.embed_sample,
                "real_train_texts": len(self.pool), "real_holdout_texts": len(self.holdout)}

    def reference(self) -> dict[str, Any]:
        return {"real_train_texts": len(self.pool), "real_holdout_texts": len(self.holdout)}

    def real_data(self, rng: np.random.Generator) -> TokenCorpus:
        rows = np.sort(rng.choice(len(self.pool), self.n, replace=False))
        real = self.pool.take(rows)
        self.real_rows = rows
        counts = np.bincount(real.ids, minlength=len(self.vocabulary.words))
        self.rare = (counts > 0) & (counts <= 2)
        return real

    @staticmethod
    def combine(parts: Sequence[TokenCorpus]) -> TokenCorpus:
        return TokenCorpus.concat(parts)

    @staticmethod
    def take(data: TokenCorpus, rows: np.ndarray) -> TokenCorpus:
        return data.take(rows)

    def fit(self, data: TokenCorpus, rng: np.random.Generator) -> ArrayKneserNey:
        return ArrayKneserNey(self.order, self.bits, discount=self.discount).fit(
            data, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, vocabulary=self.fixed_vocabulary)

    def sample(self, fitted: ArrayKneserNey, n: int, rng: np.random.Generator) -> TokenCorpus:
        corpus = fitted.sample(n, rng, max_tokens=self.max_tokens)
        corpus.ngram_counts(self.order, self.bits)  # counted once, merged by accumulate
        return corpus

    def measure(self, fitted: ArrayKneserNey, sample: TokenCorpus, rng: np.random.Generator) -> dict[str, float]:
        counts = np.bincount(sample.ids, minlength=len(self.vocabulary.words))
        # bigrams inside texts: not across a text boundary
        inside = np.ones(max(len(sample.ids) - 1, 0), dtype=bool)
        boundaries = sample.offsets[1:-1] - 1
        inside[boundaries[(boundaries >= 0) & (boundaries < len(inside))]] = False
        bigrams = (sample.ids[:-1][inside] << self.bits) | sample.ids[1:][inside]
        used = counts > 0
        out = {
            "perplexity": fitted.perplexity(self.holdout),
            "entropy": _entropy_bits(counts),
            "vocabulary": float(used.sum()),
            "rare-token mass": float(counts[self.rare].sum() / max(counts.sum(), 1)),
            "rare-token coverage": float((used & self.rare).sum() / max(self.rare.sum(), 1)),
            "distinct-2": float(len(np.unique(bigrams)) / len(bigrams)) if len(bigrams) else 0.0,
        }
        if self.embed_sample > 0:
            out.update(self._embedding_metrics(sample, rng))
        return out

    def _embedding_metrics(self, sample: TokenCorpus, rng: np.random.Generator) -> dict[str, float]:
        from analysis.embed import embed
        from analysis.metrics.fidelity import prdc

        if self._holdout_vectors is None:
            self._holdout_vectors = embed(self.holdout_texts)
        nonempty = np.flatnonzero(sample.lengths > 0)
        rows = np.sort(rng.choice(nonempty, min(self.embed_sample, len(nonempty)), replace=False))
        vectors = embed(self.vocabulary.decode(sample, rows))
        k = max(1, min(5, len(rows) - 1, len(self._holdout_vectors) - 1))
        scores = prdc(self._holdout_vectors.astype(np.float64), vectors.astype(np.float64), k=k)
        return {"coverage": scores["coverage"], "recall": scores["recall"]}

    def snapshot(self, fitted: ArrayKneserNey, sample: TokenCorpus) -> dict[str, dict[str, np.ndarray]]:
        """``rank_frequency``: ``rank, token, count, share`` of generation t's sampled words at up to
        ``rank_points`` log-spaced ranks (always the first and last rank: the last is the
        vocabulary size); ``texts``: the first ``examples`` sampled texts (``text``)."""
        counts = np.bincount(sample.ids, minlength=len(self.vocabulary.words))
        ids = np.flatnonzero(counts)
        order = np.lexsort((ids, -counts[ids]))
        ids = ids[order]
        total = max(int(counts.sum()), 1)
        if len(ids):
            ranks = np.unique(np.round(np.geomspace(1, len(ids), self.rank_points)).astype(np.int64))
        else:
            ranks = np.zeros(0, dtype=np.int64)
        words = np.array(self.vocabulary.words, dtype=object)
        chosen = ids[ranks - 1]
        table = {"rank": ranks, "token": words[chosen], "count": counts[chosen], "share": counts[chosen] / total}
        examples = self.vocabulary.decode(sample, range(min(self.examples, len(sample))))
        return {"rank_frequency": table, "texts": {"text": np.array(examples, dtype=object)}}


# --------------------------------------------------------------------------------------------------
# embedding-space model
# --------------------------------------------------------------------------------------------------


def _real_vectors(samples, embeddings, holdout_embeddings, texts, holdout) -> tuple[np.ndarray, np.ndarray]:
    if embeddings is not None:
        train = np.asarray(embeddings, dtype=np.float64)
        if holdout_embeddings is None:
            raise SimulationError("with embeddings=..., pass holdout_embeddings=... too (the real reference)")
        return train, np.asarray(holdout_embeddings, dtype=np.float64)
    from analysis.embed import embed

    train_texts, held = _real_texts(samples, texts, holdout)
    return embed(train_texts).astype(np.float64), embed(held).astype(np.float64)


class EmbeddingModel(_ArrayData):
    """A Gaussian mixture in sentence-embedding space, refitted to its own samples each generation.

    Real data: a seeded sample of ``n`` embeddings of the real train texts (the demo's shipped
    MiniLM vectors by default, or ``embeddings`` / texts); reference: the real holdout embeddings.
    The model works in the top ``dims`` principal components of the real train embeddings (fixed
    once, from all real train rows): a mixture fitted in 384 dimensions to a thousand points
    samples mostly noise far from every real point, so its precision and coverage are near 0
    from generation 0, while 16 components keep most of the topical structure and a
    full-covariance mixture stays well conditioned. Fit: ``sklearn.mixture.GaussianMixture``
    (EM, Dempster et al. 1977); sample: ``n`` draws. Metrics compare the generated points with the
    real holdout in that same space; the points (``SimulationResult.points``) and the reference
    (``reference["holdout"]``) are principal-component coordinates.

    Parameters
    ----------
    n
        Points per generation (at least ``components + 5``).
    components
        Mixture components (default 10).
    covariance
        ``"full"`` (default), ``"diag"``, ``"spherical"`` or ``"tied"``.
    dims
        Principal components kept (default 16).
    k
        Neighbours of the precision / recall / density / coverage balls (default 5).
    samples, texts, holdout, embeddings, holdout_embeddings
        The real data (default: the demo).
    max_holdout
        Real holdout points kept as the reference (seeded subsample; default 1,000).
    """

    PARAMETERS = ("components", "covariance", "dims", "k", "samples", "texts", "holdout", "embeddings",
                  "holdout_embeddings", "max_holdout")
    KEEPS_POINTS = True

    def __init__(self, *, n: int, components: int = 10, covariance: str = "full", dims: int = 16, k: int = 5,
                 samples: pd.DataFrame | None = None, texts: Sequence[str] | None = None,
                 holdout: Sequence[str] | None = None, embeddings: np.ndarray | None = None,
                 holdout_embeddings: np.ndarray | None = None, max_holdout: int = 1000) -> None:
        if covariance not in ("diag", "full", "spherical", "tied"):
            raise SimulationError(f"covariance must be diag, full, spherical or tied, got {covariance!r}")
        if int(components) < 1:
            raise SimulationError(f"components must be >= 1, got {components}")
        if n < int(components) + 5 or n <= int(k):
            raise SimulationError(f"n must be at least components + 5 = {int(components) + 5} and more than k = {k}, "
                                  f"got {n}")
        self.n, self.components, self.covariance, self.k = n, int(components), covariance, int(k)
        train, held = _real_vectors(samples, embeddings, holdout_embeddings, texts, holdout)
        if train.ndim != 2 or held.ndim != 2 or train.shape[1] != held.shape[1]:
            raise SimulationError(f"embeddings must be 2-D with the same width, got {train.shape} and {held.shape}")
        if len(train) < n:
            raise SimulationError(f"n = {n} points per generation, but the real data has only {len(train)} train "
                                  f"embeddings: lower n")
        if len(held) <= self.k:
            raise SimulationError(f"the real holdout needs more than k = {self.k} points, got {len(held)}")
        if len(held) > max_holdout:
            held = held[np.sort(np.random.default_rng(0).choice(len(held), max_holdout, replace=False))]
        dims = int(dims)
        if not 1 <= dims <= train.shape[1]:
            raise SimulationError(f"dims must be in [1, {train.shape[1]}], got {dims}")
        self.dims = dims
        self.centre = train.mean(axis=0)
        centred = train - self.centre
        values, vectors = np.linalg.eigh(centred.T @ centred)
        self.axes = vectors[:, ::-1][:, :dims].T  # principal directions, largest variance first
        self.pool, self.holdout = centred @ self.axes.T, (held - self.centre) @ self.axes.T
        # cosine geometry of the points mapped back (z @ axes + centre) in dims + 1 coordinates:
        # with [axes; centre]^T = Q R, the rows [z, 1] @ R^T have the same norms and inner products
        self.lift = np.linalg.qr(np.vstack([self.axes, self.centre]).T)[1].T

    def settings(self) -> dict[str, Any]:
        return {"components": self.components, "covariance": self.covariance, "dims": self.dims, "k": self.k,
                "real_train_points": len(self.pool), "real_holdout_points": len(self.holdout)}

    def reference(self) -> dict[str, Any]:
        return {"holdout": self.holdout.astype(np.float32), "real": self.real.astype(np.float32)}

    def real_data(self, rng: np.random.Generator) -> np.ndarray:
        self.real = self.pool[np.sort(rng.choice(len(self.pool), self.n, replace=False))]
        return self.real

    def fit(self, data: np.ndarray, rng: np.random.Generator):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        mixture = GaussianMixture(self.components, covariance_type=self.covariance, reg_covar=1e-5, max_iter=100,
                                  random_state=int(rng.integers(2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return mixture.fit(data)

    def sample(self, fitted, n: int, rng: np.random.Generator) -> np.ndarray:
        fitted.random_state = int(rng.integers(2**31 - 1))
        points = fitted.sample(n)[0]
        return points[rng.permutation(n)]  # GaussianMixture.sample returns points grouped by component

    def points_of(self, sample: np.ndarray) -> np.ndarray:
        return sample.astype(np.float32)

    def measure(self, fitted, sample: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        from analysis.metrics.diversity import mean_pairwise_distance, vendi_score
        from analysis.metrics.fidelity import prdc

        out = prdc(self.holdout, sample, k=self.k)
        vectors = np.hstack([sample, np.ones((len(sample), 1))]) @ self.lift  # cosine geometry of the embeddings
        out["vendi"] = vendi_score(vectors)
        out["mean pairwise distance"] = mean_pairwise_distance(vectors)
        return out

    def snapshot(self, fitted, sample: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
        """``components``: ``component``, ``weight`` (mixing weight) per mixture component."""
        return {"components": {"component": np.arange(len(fitted.weights_)), "weight": fitted.weights_}}


def project_generations(result: SimulationResult, *, per_generation: int = 300, seed: int = 0,
                        cache_dir=None, progress=None) -> pd.DataFrame:
    """2-D map coordinates of the embedding model's generations, in a UMAP map fitted on real data.

    The real holdout points (principal-component coordinates, Euclidean) fix the map (:func:`analysis.project.project` with ``fit_rows``); a
    seeded subsample of ``per_generation`` points of every (regime, generation) is placed into it,
    so generations are comparable and cannot bend the real geometry.

    Returns
    -------
    pandas.DataFrame
        ``regime`` (``"real"`` for the reference rows), ``generation`` (-1 for real), ``x``, ``y``.

    Raises
    ------
    SimulationError
        When the result has no points (only the embedding model keeps them).
    """
    from analysis.project import project

    if not result.points:
        raise SimulationError("only the embedding model's results have points to project")
    real = result.reference["holdout"]
    rng = np.random.default_rng(seed)
    blocks, regimes, generations = [real], ["real"] * len(real), [-1] * len(real)
    for (regime, generation), points in result.points.items():
        rows = np.sort(rng.choice(len(points), min(per_generation, len(points)), replace=False))
        blocks.append(points[rows])
        regimes += [regime] * len(rows)
        generations += [generation] * len(rows)
    stacked = np.concatenate(blocks).astype(np.float32)
    fit_rows = np.zeros(len(stacked), dtype=bool)
    fit_rows[: len(real)] = True
    xy = project(stacked, fit_rows=fit_rows, metric="euclidean", seed=seed, cache_dir=cache_dir, progress=progress)
    return pd.DataFrame({"regime": regimes, "generation": generations, "x": xy[:, 0], "y": xy[:, 1]})
