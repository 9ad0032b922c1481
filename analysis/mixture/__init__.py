"""Mixtures of real and synthetic data: what a mixture is, the engine that draws and measures it, search, export.


A mixture is ``size`` rows: ``round(real_share * size)`` drawn from the real **train** split and the
rest from the synthetic sets (named as :func:`analysis.judge.compare.sets_of` names them: the method,
with a generation suffix such as ``"llm g2"``), split by weights. The real **holdout** split is the
reference every metric is measured against and is never mixed in.

Sampling is a prefix of a fixed draw order: for a given strategy and seed, each set (real train and
every synthetic set) has one order over its eligible rows, and a mixture takes the first ``n`` rows
of each set's order. The same spec always gives the same rows, a larger share only adds rows, and
a slider move changes a few rows rather than all of them. The strategies:

``uniform``
    Each set's order is a seeded random permutation: simple random sampling without replacement.
``dedup``
    As uniform, after removing near-copies: a synthetic row whose cosine similarity to some real row
    (train or holdout) is at least ``near`` (0.95, the "near copy" of
    :func:`analysis.metrics.novelty.novelty`), and a synthetic row that is a near-copy (cosine >=
    ``near``) of a row of the same set kept earlier in the seeded order (exact repeats included).
``tail-aware``
    Dedup, then each synthetic set is ordered by weighted greedy maximum coverage of the real train
    split: the next row is the one whose position falls inside the most not-yet-covered train k-NN
    balls, a train sample in rarity bin ``b`` (0 = head … ``bins - 1`` = tail, by its k-NN radius among
    the train samples) counting ``(b + 1) ** 2``; rows that cover nothing new follow in seeded order.
    The target is the real *train* split, not the holdout, so the holdout metrics the engine reports
    are not tuned to their own reference (which would overstate them).

The package, one job per module:

- :mod:`~analysis.mixture.spec`: :class:`MixtureSpec`, the strategies, the real-share guardrail,
  the metric names and definitions, :class:`MixtureError`;
- :mod:`~analysis.mixture.engine`: :class:`MixtureEngine`, the dataset's mixture engine: the draw
  orders, the rows of any mixture, and its metrics, exact, in milliseconds;
- :mod:`~analysis.mixture.measure`: what the engine reads those metrics off: its precomputed state
  (:class:`~analysis.mixture.measure.Precomputed`) and each draw order's checkpoints;
- :mod:`~analysis.mixture.kernels`: the engine's array helpers (per-row smallest, CSR, allocation);
- :mod:`~analysis.mixture.search`: :func:`frontier` (each metric against the real share) and
  :func:`suggest` (the weights and strategy with the best tail coverage);
- :mod:`~analysis.mixture.review`: the all-real baseline, the metric table and the tail bins the
  Mixture designer shows;
- :mod:`~analysis.mixture.protect`: protected gaps: the named gaps a mixture can protect
  (``MixtureSpec(protect=..., keep=...)`` keeps that share of the real train rows inside them, on top of
  the real share, tail-aware first), how much to keep so each holds its real share, and each region's
  occupancy in a mixture;
- :mod:`~analysis.mixture.export`: the rows file and its manifest, and the rows back from a manifest;
- :mod:`~analysis.mixture.reference`: :func:`metrics_from_scratch`, the oracle the engine is tested
  and benchmarked against.

``MixturePreview``, the engine's old name, still imports from here with a ``DeprecationWarning``.
"""

from __future__ import annotations

import warnings
from typing import Any

from analysis.mixture.engine import MixtureEngine, sample_mixture
from analysis.mixture.export import MANIFEST_VERSION, export_bytes, export_mixture, rows_from_manifest, samples_sha256
from analysis.mixture.protect import (
    gaps_of,
    occupancy_sentence,
    placed_regions,
    protect_gaps,
    protectable_gaps,
    region_occupancy,
)
from analysis.mixture.reference import metrics_from_scratch
from analysis.mixture.review import baseline_spec, review, tail_bins
from analysis.mixture.search import frontier, suggest
from analysis.mixture.spec import (
    ALARM_SHARE,
    APPROXIMATE,
    DEFINITIONS,
    EXACT,
    STRATEGIES,
    WARNING_SHARE,
    MixtureError,
    MixtureSpec,
    guardrail,
)

__all__ = [
    "MixtureError",
    "MixtureSpec",
    "MixtureEngine",
    "STRATEGIES",
    "EXACT",
    "APPROXIMATE",
    "DEFINITIONS",
    "sample_mixture",
    "frontier",
    "suggest",
    "guardrail",
    "export_mixture",
    "rows_from_manifest",
    "samples_sha256",
    "metrics_from_scratch",
    "baseline_spec",
    "review",
    "tail_bins",
    "protectable_gaps",
    "protect_gaps",
    "gaps_of",
    "placed_regions",
    "region_occupancy",
    "occupancy_sentence",
    "export_bytes",
    "WARNING_SHARE",
    "ALARM_SHARE",
    "MANIFEST_VERSION",
]


def __getattr__(name: str) -> Any:
    """``MixturePreview``: the engine's old name, kept for scripts and notebooks written against it."""
    if name == "MixturePreview":
        warnings.warn(
            "analysis.mixture.MixturePreview is now analysis.mixture.MixtureEngine; the old name will be removed.",
            DeprecationWarning,
            stacklevel=2,
        )
        return MixtureEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
