"""The from-scratch oracle: every metric the mixture engine reports, computed directly on the rows.

:func:`metrics_from_scratch` computes each of the catalogue's incremental metrics on a mixture's rows
with its one computation (:meth:`analysis.metrics.catalog.Metric.compute`) over features computed
directly (:class:`analysis.metrics.features.SetFeatures`, as ``compare`` computes them: new distance
matrices for every call, no precomputation). The engine (:class:`analysis.mixture.engine.MixtureEngine`),
which reads the same computations off its precomputed state (and Vendi off prefix sums), is tested
against it for equality (tests/test_mixture.py) and timed against it (tests/benchmarks/bench_mixture.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.judge.reference import CoverageReference
from analysis.metrics import tails
from analysis.metrics.catalog import incremental_metrics
from analysis.metrics.features import SetFeatures

__all__ = ["metrics_from_scratch"]


def metrics_from_scratch(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    reference_rows: np.ndarray,
    rows: np.ndarray,
    *,
    k: int = 5,
    bins: int = 10,
    cover: CoverageReference | None = None,
    recipe: tuple[np.ndarray, int, np.ndarray] | None = None,
) -> dict[str, float]:
    """Every metric of :meth:`~analysis.mixture.engine.MixtureEngine.metrics`, computed directly on ``rows``.

    The catalogue's computation of each incremental metric on :class:`~analysis.metrics.features.SetFeatures`
    of the rows against the reference rows, and the coverage of each rarity bin
    (:func:`analysis.metrics.tails.tail_coverage`): the reference the engine is checked against (tests) and
    timed against (benchmark).

    Cross-fitted coverage (``cover`` with folds): coverage and its bins are judged by ``cover``'s balls,
    the mixture's real part per fold from outside it (``recipe``: :meth:`~analysis.mixture.engine.MixtureEngine.
    recipe`, :meth:`~analysis.judge.reference.CoverageReference.covered_with_real`).
    """
    texts = samples["text"].to_numpy()
    ref_x, x = embeddings[reference_rows].astype(np.float64), embeddings[rows].astype(np.float64)
    if cover is None or cover.fold is None:
        features = SetFeatures(x, texts[rows], ref_x, texts[reference_rows], k=k, bins=bins)
        table = tails.tail_coverage(ref_x, x, k=k, bins=bins)
        per_bin = dict(zip(table["bin"], table["coverage"]))
    else:
        assert recipe is not None, "cross-fitted coverage needs the mixture's recipe"
        real_order, real_count, synthetic = recipe
        covered = cover.covered_with_real(embeddings, synthetic, real_order, real_count)
        ball_bins = tails.rarity_bins(cover.radii, bins)
        features = SetFeatures(
            x, texts[rows], ref_x, texts[reference_rows], k=k, bins=bins, radii=cover.radii, ref_bins=ball_bins,
            covered=covered,
        )  # fmt: skip
        per_bin = {b: float(covered[ball_bins == b].mean()) for b in range(bins)}
    out = {metric.name: metric.compute(features) for metric in incremental_metrics()}
    out.update({f"coverage bin {b}": c for b, c in per_bin.items()})
    return out
