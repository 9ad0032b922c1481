"""The recursive-training loop: generation 0 on real data, then each regime's generations.

:func:`simulate` validates a run, builds the model (any :class:`analysis.simulate.protocol.SimulationModel`
of :data:`MODEL_CLASSES`), drives it through the generations of each regime with its own random
stream per step, and collects the tidy metrics, snapshots and points into a
:class:`analysis.simulate.result.SimulationResult`. The regimes are described in
:mod:`analysis.simulate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from analysis.metrics.kernels import one_blas_thread
from analysis.simulate.embedding import EmbeddingModel
from analysis.simulate.gaussian import GaussianModel
from analysis.simulate.ngram import NgramModel
from analysis.simulate.protocol import PointsModel, SimulationError, SimulationModel
from analysis.simulate.regression import RegressionModel
from analysis.simulate.result import SimulationResult

__all__ = ["MODELS", "MODEL_CLASSES", "REGIMES", "DEFAULT_REAL_SHARE", "METRICS", "simulate"]

#: Every model by name: a class following :class:`analysis.simulate.protocol.SimulationModel`.
MODEL_CLASSES: dict[str, type[SimulationModel]] = {
    "gaussian": GaussianModel,
    "regression": RegressionModel,
    "ngram": NgramModel,
    "embedding": EmbeddingModel,
}
MODELS = tuple(MODEL_CLASSES)
REGIMES = ("replace", "accumulate", "mix")
DEFAULT_REAL_SHARE = 2 / 3

#: Every metric per model, with its definition (the page shows these beside the charts).
METRICS: dict[str, dict[str, str]] = {name: cls.METRICS for name, cls in MODEL_CLASSES.items()}


def _stream(seed: int, regime: str | None, generation: int) -> np.random.Generator:
    """The random stream of one step: independent of the other regimes that run."""
    code = 0 if regime is None else 1 + REGIMES.index(regime)
    return np.random.default_rng([seed, code, generation])


def _validate(
    model: str, regimes: Sequence[str], generations: int, n: int, seed: int, real_share: float
) -> tuple[str, ...]:
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
    if (
        not isinstance(real_share, (int, float, np.floating))
        or not 0.0 <= float(real_share) <= 1.0
        or math.isnan(float(real_share))
    ):
        raise SimulationError(f"real_share must be a number in [0, 1], got {real_share!r}")
    return regimes


def _make_model(model: str, n: int, params: dict[str, Any]) -> SimulationModel:
    cls = MODEL_CLASSES[model]
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
    progress: Callable[[int, int], object] | None = None,
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
    n = n if n is not None else (MODEL_CLASSES[model].DEFAULT_N if model in MODEL_CLASSES else 100)
    regimes = _validate(model, regimes, generations, n, seed, real_share)
    n, generations, seed, real_share = int(n), int(generations), int(seed), float(real_share)
    with one_blas_thread():
        engine = _make_model(model, n, dict(model_params))
    total = 1 + len(regimes) * generations
    report = progress or (lambda done, total: None)

    rows: dict[str, list] = {"regime": [], "generation": [], "metric": [], "value": []}
    snapshots: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}
    points: dict[tuple[str, int], np.ndarray] = {}

    def record(
        regime: str, generation: int, measured: dict[str, float], views: dict[str, dict[str, Any]], sample: Any
    ) -> None:
        for metric, value in measured.items():
            rows["regime"].append(regime)
            rows["generation"].append(generation)
            rows["metric"].append(metric)
            rows["value"].append(float(value))
        for name, columns in views.items():
            snapshots.setdefault(name, []).append((regime, generation, columns))
        if engine.KEEPS_POINTS:
            points[(regime, generation)] = cast(PointsModel, engine).points_of(sample)

    with one_blas_thread():
        _loop(engine, regimes, generations, n, seed, real_share, record, lambda done: report(done, total))
    metrics = pd.DataFrame(rows)
    metrics.insert(0, "model", model)
    return SimulationResult(
        model=model,
        regimes=regimes,
        generations=generations,
        n=n,
        seed=seed,
        real_share=real_share,
        params=engine.settings(),
        metrics=metrics,
        snapshots={name: _stack(parts) for name, parts in snapshots.items()},
        points=points,
        reference=engine.reference(),
        seconds=time.perf_counter() - started,
    )


def _stack(parts: list[tuple[str, int, dict[str, Any]]]) -> pd.DataFrame:
    """One tidy table from per-(regime, generation) column dicts."""
    sizes = [len(next(iter(columns.values()))) for _, _, columns in parts]
    table = {
        "regime": np.repeat([regime for regime, _, _ in parts], sizes),
        "generation": np.repeat([generation for _, generation, _ in parts], sizes),
    }
    for name in parts[0][2]:
        table[name] = np.concatenate([np.asarray(columns[name]) for _, _, columns in parts])
    return pd.DataFrame(table)


def _loop(
    engine: SimulationModel,
    regimes: tuple[str, ...],
    generations: int,
    n: int,
    seed: int,
    real_share: float,
    record: Callable[..., None],
    report: Callable[[int], object],
) -> None:
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
                train = engine.combine(
                    [engine.take(real, np.flatnonzero(chosen)), engine.take(previous, np.flatnonzero(~chosen))]
                )
            fitted = engine.fit(train, rng)
            previous = engine.sample(fitted, n, rng)
            if regime == "accumulate":
                history.append(previous)
            record(
                regime, generation, engine.measure(fitted, previous, rng), engine.snapshot(fitted, previous), previous
            )
            done += 1
            report(done)
