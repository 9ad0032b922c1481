"""Least squares trained on its own predictions over a fixed design (Dohmatob et al. 2024; Gerstgrasser et al. 2024).

The test error grows linearly under replace and stays bounded under accumulate:
:func:`analysis.simulate.closed_form` gives both expectations.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from analysis.simulate.protocol import RowData, SimulationError

__all__ = ["RegressionModel"]


class RegressionModel(RowData):
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

    PARAMETERS: ClassVar[tuple[str, ...]] = ("dim", "noise")
    KEEPS_POINTS: ClassVar[bool] = False
    DEFAULT_N: ClassVar[int] = 100
    METRICS: ClassVar[dict[str, str]] = {
        "test error": "Excess test risk ||w_t - w*||^2 (isotropic test inputs: E_x[(x.w_t - x.w*)^2]); "
        "replace: E = (t+1) sigma^2 d/(n-d-1); accumulate: sigma^2 d/(n-d-1) sum_{k=1}^{t+1} 1/k^2 "
        "(Gerstgrasser et al. 2024).",
    }

    def __init__(self, *, n: int, dim: int = 10, noise: float = 1.0) -> None:
        if int(dim) < 1:
            raise SimulationError(f"dim must be >= 1, got {dim}")
        if n < int(dim) + 2:
            raise SimulationError(
                f"n must be at least dim + 2 = {int(dim) + 2} for regression with {int(dim)} features, got {n}"
            )
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
