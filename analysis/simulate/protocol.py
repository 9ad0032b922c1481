"""What the recursive-training loop asks of a model, and the simulator's error.

:func:`analysis.simulate.simulate` drives every model through the same few calls (see
:class:`SimulationModel`): draw the real data once, then per generation fit, sample, measure and
snapshot, joining and subsetting training data as the regime asks. A new model is a class with
these members, registered in :data:`analysis.simulate.engine.MODEL_CLASSES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from analysis.errors import CollapseLabError

__all__ = ["SimulationError", "SimulationModel", "PointsModel", "RowData", "ArrayData"]


class SimulationError(CollapseLabError, ValueError):
    """A simulation cannot run as asked; the message says what is wrong and how to fix it."""


@runtime_checkable
class SimulationModel(Protocol):
    """One model of the simulator: the members :func:`analysis.simulate.simulate` uses.

    A model chooses its own types for the *data* it trains on and samples (an array of rows, a
    design and labels, a :class:`analysis.metrics.array_lm.TokenCorpus`) and for a *fitted* model;
    the loop only passes them back to the model. It is built as ``cls(n=n, **params)`` and raises
    :class:`SimulationError` for a parameter it cannot use. Every ``rng`` is the random stream of
    the current step; a model draws all its randomness from it so that a seed fixes the run.
    """

    #: The keyword parameters the constructor takes besides ``n`` (listed when one is unknown).
    PARAMETERS: ClassVar[tuple[str, ...]]
    #: Whether ``simulate`` keeps each generation's sample (``points_of``) in ``SimulationResult.points``.
    KEEPS_POINTS: ClassVar[bool]
    #: Samples per generation when the caller gives no ``n``.
    DEFAULT_N: ClassVar[int]
    #: Every metric ``measure`` returns, with its definition (the page shows these beside the charts).
    METRICS: ClassVar[dict[str, str]]

    def __init__(self, *, n: int, **params: Any) -> None:
        """Check the parameters (:class:`SimulationError` if one is unusable) and load what the model needs."""

    def settings(self) -> dict[str, Any]:
        """The model parameters actually used, defaults filled in (``SimulationResult.params``)."""

    def reference(self) -> dict[str, Any]:
        """Real reference data for the result (``SimulationResult.reference``); called after the run."""

    def real_data(self, rng: np.random.Generator) -> Any:
        """The ``n`` real training items of generation 0, drawn once per run."""

    def fit(self, data: Any, rng: np.random.Generator) -> Any:
        """A model fitted to a training set."""

    def sample(self, fitted: Any, n: int, rng: np.random.Generator) -> Any:
        """``n`` items drawn from a fitted model: the next generation's material."""

    def measure(self, fitted: Any, sample: Any, rng: np.random.Generator) -> dict[str, float]:
        """One value per metric of :attr:`METRICS` for a generation (a model may leave optional ones out)."""

    def snapshot(self, fitted: Any, sample: Any) -> dict[str, dict[str, Any]]:
        """Per-generation views: ``{view name: {column: equal-length array}}``, stacked by the loop."""

    def combine(self, parts: Sequence[Any]) -> Any:
        """One training set from several (the accumulate regime's history, the mix regime's halves)."""

    def take(self, data: Any, rows: np.ndarray) -> Any:
        """The items ``rows`` of a data set (the mix regime's real and synthetic shares)."""


@runtime_checkable
class PointsModel(SimulationModel, Protocol):
    """A model with ``KEEPS_POINTS = True``: its samples are points the result keeps for the map."""

    def points_of(self, sample: Any) -> np.ndarray:
        """A sample as an ``(n, d)`` float32 array."""


class RowData:
    """``combine`` and ``take`` for data that joins and subsamples by row, for every model of the simulator.

    The data is a numpy array of rows (the Gaussian and embedding models), a tuple of row-aligned
    arrays (the regression's design and labels), or an object with ``take(rows)`` and a
    ``concat(parts)`` class method (:class:`analysis.metrics.array_lm.TokenCorpus`).
    """

    @staticmethod
    def combine(parts: Sequence[Any]) -> Any:
        first = parts[0]
        if isinstance(first, np.ndarray):
            return np.concatenate(parts)
        if isinstance(first, tuple):
            return tuple(np.concatenate(column) for column in zip(*parts))
        return type(first).concat(parts)

    @staticmethod
    def take(data: Any, rows: np.ndarray) -> Any:
        if isinstance(data, np.ndarray):
            return data[rows]
        if isinstance(data, tuple):
            return tuple(column[rows] for column in data)
        return data.take(rows)


#: The old name of :class:`RowData`, from when it joined arrays only.
ArrayData = RowData
