"""The textbook case: a Gaussian fitted by maximum likelihood to its own samples (Shumailov et al. 2024).

Its variance shrinks by ``(n-1)/n`` per fit under the replace regime and its tails vanish first:
:func:`analysis.simulate.closed_form` gives the expectation the tests check by Monte Carlo.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from scipy import special

from analysis.simulate.protocol import RowData, SimulationError

__all__ = ["GaussianModel", "TAIL_Z"]

#: z of the Gaussian's tail: "tail" is beyond ``mu0 ± TAIL_Z sigma0`` of the real distribution.
TAIL_Z = 2.0


class GaussianModel(RowData):
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

    PARAMETERS: ClassVar[tuple[str, ...]] = ("mean", "std", "dim", "bins")
    KEEPS_POINTS: ClassVar[bool] = False
    DEFAULT_N: ClassVar[int] = 100
    METRICS: ClassVar[dict[str, str]] = {
        "mean": "Fitted mean (averaged over dimensions). Real: the true mean mu0.",
        "variance": "Fitted maximum-likelihood variance (averaged over dimensions); "
        "under replace E[var_t] = ((n-1)/n)^(t+1) sigma0^2 (Shumailov et al. 2024).",
        "tail mass": "Probability, under the fitted model, of falling outside the real distribution's "
        "central region: |x - mu0| > 2 sigma0 in 1-D; Mahalanobis distance to the real "
        "distribution beyond the chi-square quantile of the same mass (0.9545) in d-D. "
        "Real: 0.0455. Falls to 0 as the model collapses.",
    }

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
        return {
            "mean": float(mu.mean()),
            "variance": float(np.diag(cov).mean()),
            "tail mass": self.tail_mass(fitted, rng),
        }

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
        return {
            "histogram": {
                "bin_start": self.edges[:-1],
                "bin_end": self.edges[1:],
                "count": counts,
                "density": density,
                "real_density": real,
            }
        }
