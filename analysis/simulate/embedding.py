"""Collapse in embedding space: a Gaussian mixture refitted to its own samples, and its generations on a map.

:class:`EmbeddingModel` resamples sentence embeddings of real texts generation after generation;
:func:`project_generations` places the generated points into a UMAP map fitted on the real holdout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from analysis.simulate.protocol import RowData, SimulationError
from analysis.simulate.real_data import real_vectors
from analysis.simulate.result import SimulationResult

__all__ = ["EmbeddingModel", "project_generations"]


class EmbeddingModel(RowData):
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

    PARAMETERS: ClassVar[tuple[str, ...]] = (
        "components",
        "covariance",
        "dims",
        "k",
        "samples",
        "texts",
        "holdout",
        "embeddings",
        "holdout_embeddings",
        "max_holdout",
    )
    KEEPS_POINTS: ClassVar[bool] = True
    DEFAULT_N: ClassVar[int] = 1000
    METRICS: ClassVar[dict[str, str]] = {
        "precision": "Share of generated points inside some real holdout point's k-NN ball (Naeem et al. 2020).",
        "recall": "Share of real holdout points inside some generated point's k-NN ball (Naeem et al. 2020).",
        "density": "Mean number of real holdout k-NN balls holding each generated point, over k (Naeem et al. 2020).",
        "coverage": "Share of real holdout points whose k-NN ball holds a generated point (Naeem et al. 2020).",
        "vendi": "Vendi score of the generated points (Friedman and Dieng 2023).",
        "mean pairwise distance": "Mean cosine distance between generated points.",
    }

    def __init__(
        self,
        *,
        n: int,
        components: int = 10,
        covariance: str = "full",
        dims: int = 16,
        k: int = 5,
        samples: pd.DataFrame | None = None,
        texts: Sequence[str] | None = None,
        holdout: Sequence[str] | None = None,
        embeddings: np.ndarray | None = None,
        holdout_embeddings: np.ndarray | None = None,
        max_holdout: int = 1000,
    ) -> None:
        if covariance not in ("diag", "full", "spherical", "tied"):
            raise SimulationError(f"covariance must be diag, full, spherical or tied, got {covariance!r}")
        if int(components) < 1:
            raise SimulationError(f"components must be >= 1, got {components}")
        if n < int(components) + 5 or n <= int(k):
            raise SimulationError(
                f"n must be at least components + 5 = {int(components) + 5} and more than k = {k}, got {n}"
            )
        self.n, self.components, self.covariance, self.k = n, int(components), covariance, int(k)
        train, held = real_vectors(samples, embeddings, holdout_embeddings, texts, holdout)
        if train.ndim != 2 or held.ndim != 2 or train.shape[1] != held.shape[1]:
            raise SimulationError(f"embeddings must be 2-D with the same width, got {train.shape} and {held.shape}")
        if len(train) < n:
            raise SimulationError(
                f"n = {n} points per generation, but the real data has only {len(train)} train embeddings: lower n"
            )
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
        return {
            "components": self.components,
            "covariance": self.covariance,
            "dims": self.dims,
            "k": self.k,
            "real_train_points": len(self.pool),
            "real_holdout_points": len(self.holdout),
        }

    def reference(self) -> dict[str, Any]:
        return {"holdout": self.holdout.astype(np.float32), "real": self.real.astype(np.float32)}

    def real_data(self, rng: np.random.Generator) -> np.ndarray:
        self.real = self.pool[np.sort(rng.choice(len(self.pool), self.n, replace=False))]
        return self.real

    def fit(self, data: np.ndarray, rng: np.random.Generator):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        mixture = GaussianMixture(
            self.components,
            covariance_type=self.covariance,
            reg_covar=1e-5,
            max_iter=100,
            random_state=int(rng.integers(2**31 - 1)),
        )
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


def project_generations(
    result: SimulationResult, *, per_generation: int = 300, seed: int = 0, cache_dir=None, progress=None
) -> pd.DataFrame:
    """2-D map coordinates of the embedding model's generations, in a UMAP map fitted on real data.

    The real holdout points (principal-component coordinates, Euclidean) fix the map
    (:func:`analysis.maps.project.project` with ``fit_rows``); a seeded subsample of ``per_generation``
    points of every (regime, generation) is placed into it, so generations are comparable and
    cannot bend the real geometry.

    Returns
    -------
    pandas.DataFrame
        ``regime`` (``"real"`` for the reference rows), ``generation`` (-1 for real), ``x``, ``y``.

    Raises
    ------
    SimulationError
        When the result has no points (only the embedding model keeps them).
    """
    from analysis.maps.project import project

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
