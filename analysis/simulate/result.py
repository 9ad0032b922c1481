"""The result of a simulation: its settings, tidy metrics, per-generation snapshots and points."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.simulate.protocol import SimulationError

__all__ = ["SimulationResult"]


@dataclass
class SimulationResult:
    """What :func:`analysis.simulate.simulate` returns.

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
        return self.metrics.pivot_table(
            index=["regime", "generation"], columns="metric", values="value", sort=False
        ).reset_index()

    def curve(self, metric: str, regime: str) -> np.ndarray:
        """One metric's values over generations 0 … G for one regime."""
        rows = self.metrics[(self.metrics["metric"] == metric) & (self.metrics["regime"] == regime)]
        if rows.empty:
            raise SimulationError(
                f"no metric {metric!r} for regime {regime!r}; metrics: {sorted(self.metrics['metric'].unique())}"
            )
        return rows.sort_values("generation")["value"].to_numpy()

    def _repr_html_(self) -> str:
        """Settings and the first and last generation per regime, escaped (Jupyter's rich display)."""
        from analysis.display import simulation_html

        return simulation_html(self)
