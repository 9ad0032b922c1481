"""What an A/B test returns: the result type, its columns, Holm's correction and the verdict sentences."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.judge.compare import CompareError

__all__ = ["ABResult", "ABError", "COLUMNS", "holm", "verdict"]

#: Columns of :attr:`ABResult.table`.
COLUMNS = [
    "metric",
    "family",
    "direction",
    "a",
    "b",
    "difference",
    "ci_low",
    "ci_high",
    "p_value",
    "test",
    "p_holm",
    "significant",
    "better",
    "verdict",
    "definition",
    "reference",
    "n",
]

_PHRASES: dict[str, tuple[str, str]] = {
    "diversity": ("is more diverse", "is less diverse"),
    "fidelity": ("is closer to real data", "is further from real data"),
    "coverage": ("covers more of the real data", "covers less of the real data"),
    "tails": ("keeps more of the tail", "keeps less of the tail"),
    "novelty": ("copies less", "copies more"),
    "drift": ("drifts less from real data", "drifts more from real data"),
    "model health": ("trains a better language model of real text", "trains a worse language model of real text"),
    "utility": ("trains a better classifier for real data", "trains a worse classifier for real data"),
    "detection AUC": ("is harder to tell from real data", "is easier to tell from real data"),
}


class ABError(CompareError):
    """Two sets cannot be A/B tested as given; the message says what to change."""


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN stays NaN and is not counted.

    With the m finite p-values sorted ascending, ``p_holm_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``;
    rejecting where ``p_holm < alpha`` controls the family-wise error rate at ``alpha`` under any
    dependence between the tests. Reference: Holm, "A Simple Sequentially Rejective Multiple Test
    Procedure", Scandinavian Journal of Statistics, 1979.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    if finite.size == 0:
        return out
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


@dataclass(frozen=True)
class ABResult:
    """What :func:`ab_test` found.

    Attributes
    ----------
    table
        One row per metric, columns :data:`COLUMNS`: ``metric, family, direction, a, b, difference``
        (B − A), ``ci_low, ci_high`` (95 % interval of the difference, or ``1 - alpha``), ``p_value``,
        ``test`` (``permutation``, ``bootstrap``, ``bootstrap (normal)``; empty when untested),
        ``p_holm``, ``significant`` (``p_holm < alpha`` and the interval excludes 0: both must agree),
        ``better`` (the name of the set the metric
        favours when significant, else empty), ``verdict`` (one sentence), ``definition``, ``reference``, ``n``.
    names
        (name of A, name of B).
    per_label
        TSTR per real label: ``label, support, recall_a, recall_b, recall_real, train_a, train_b``
        (``recall_real``: a classifier trained on real train data of the same size, the ceiling); empty
        without labels.
    ceiling
        ``TSTR macro-F1`` and ``TSTR accuracy`` of real train data at the same size (NaN without labels).
    most_synthetic
        Per name, the samples the detector finds most "synthetic": ``position, score, text, row``
        (``row``: position in the sample table).
    settings
        Sizes, seeds, rounds, permutations, alpha, seconds.
    """

    table: pd.DataFrame
    names: tuple[str, str]
    per_label: pd.DataFrame
    ceiling: dict[str, float]
    most_synthetic: dict[str, pd.DataFrame]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``python -m analysis ab --format json`` prints)."""
        return {
            "names": list(self.names),
            "settings": self.settings,
            "metrics": self.table.to_dict("records"),
            "ceiling": self.ceiling,
            "per_label": self.per_label.to_dict("records"),
            "most_synthetic": {name: frame.to_dict("records") for name, frame in self.most_synthetic.items()},
        }


def _number(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "n/a"


def verdict(
    metric: str,
    family: str,
    direction: str,
    names: tuple[str, str],
    difference: float,
    low: float,
    high: float,
    p_holm: float,
    significant: bool,
    level: float,
) -> tuple[str, str]:
    """The verdict sentence and the name of the set the metric favours ("" when none)."""
    interval = f"{level:.0%} CI [{_number(low)}, {_number(high)}]".replace("%", " %")
    if not math.isfinite(difference):
        return f"{metric} could not be computed for both sets.", ""
    if not math.isfinite(p_holm):
        return f"{metric}: {difference:+.3g} (B − A), {interval}; not tested.", ""
    if not significant:
        return f"No clear difference in {metric}: {difference:+.3g}, {interval}, Holm p = {_number(p_holm)}.", ""
    b_better = (difference > 0) == (direction == "higher")
    better, worse = _PHRASES.get(metric, _PHRASES.get(family, ("scores better", "scores worse")))
    sentence = (
        f"{names[1]} {better if b_better else worse} than {names[0]}: {difference:+.3g} {metric}, "
        f"{interval}, Holm p = {_number(p_holm)}."
    )
    return sentence, names[1] if b_better else names[0]
