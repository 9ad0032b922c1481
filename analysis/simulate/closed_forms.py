"""What a simulation should show on average: the published closed forms, and runs averaged over seeds.

One run is noisy; :func:`average_runs` averages many, and :func:`closed_form` /
:func:`expected_curves` give the expectations (Shumailov et al. 2024; Dohmatob et al. 2024;
Gerstgrasser et al. 2024) that the tests check by Monte Carlo and the page draws dashed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.simulate.engine import REGIMES, simulate
from analysis.simulate.protocol import SimulationError

__all__ = ["closed_form", "average_runs", "expected_curves"]


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
    raise SimulationError(
        f"no closed form for the {model} model under {regime}: closed forms exist for "
        f"gaussian/replace and regression/replace and regression/accumulate"
    )


def average_runs(
    model: str,
    regimes: Sequence[str] = REGIMES,
    *,
    repeats: int,
    seed: int = 0,
    progress: Callable[[int, int], object] | None = None,
    **settings: Any,
) -> pd.DataFrame:
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
    if not frames:
        return pd.DataFrame(columns=["generation", "metric", "value", "regime"])
    return pd.concat(frames, ignore_index=True)
