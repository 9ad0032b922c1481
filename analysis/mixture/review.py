"""What the Mixture designer shows beside a mixture: the all-real baseline, the metric table, tail bins.

:func:`baseline_spec` is the yardstick (all real train data at the same size); :func:`review` puts
the mixture's metrics beside it with each metric's family, direction and definition, and the
collapse-risk rules that fire; :func:`tail_bins` gives coverage per rarity bin of both, in the shape
the tail-coverage chart draws.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.judge.compare import BASELINE
from analysis.judge.risks import risks
from analysis.metrics.catalog import CATALOG
from analysis.mixture.engine import MixtureEngine
from analysis.mixture.spec import DEFINITIONS, MixtureSpec

__all__ = ["baseline_spec", "review", "tail_bins"]


def baseline_spec(engine: MixtureEngine, spec: MixtureSpec) -> MixtureSpec:
    """All real train data at the spec's size (or all of the train split if it is smaller): the yardstick
    the designer measures a mixture against, as real train is in :func:`analysis.judge.compare.compare`;
    never protected (a random draw of real data is the yardstick protection is judged against)."""
    train = engine.available(spec.strategy, spec.seed)[BASELINE]
    return replace(spec, size=min(spec.size, train), real_share=1.0, protect=(), keep=0.0)


def review(engine: MixtureEngine, spec: MixtureSpec, rules=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The mixture's metrics beside the all-real baseline, and the collapse-risk rules that fire.

    Returns
    -------
    (table, fired)
        ``table``: one row per metric of :data:`DEFINITIONS`: ``metric, family, direction, value,
        baseline, definition``. ``fired``: :func:`analysis.judge.risks.risks` on the mixture (set
        ``"mixture"``) against the baseline (set ``"real train"``); rules on metrics the engine does
        not compute (MAUVE, perplexity, novelty) do not fire here.
    """
    values = engine.metrics(spec)
    base = engine.metrics(baseline_spec(engine, spec))
    table = pd.DataFrame(
        {
            "metric": list(DEFINITIONS),
            "family": [CATALOG[m].family for m in DEFINITIONS],
            "direction": [CATALOG[m].direction for m in DEFINITIONS],
            "value": [values[m] for m in DEFINITIONS],
            "baseline": [base[m] for m in DEFINITIONS],
            "definition": list(DEFINITIONS.values()),
        }
    )
    tidy = pd.concat(
        [
            table.assign(set="mixture")[["set", "metric", "value"]],
            table.assign(set=BASELINE, value=table["baseline"])[["set", "metric", "value"]],
        ],
        ignore_index=True,
    )
    return table, risks(tidy, rules)


def tail_bins(engine: MixtureEngine, spec: MixtureSpec) -> pd.DataFrame:
    """Coverage per rarity bin of the mixture and of the all-real baseline, in the shape of
    :attr:`analysis.judge.coverage.TailReport.bins` (``set, bin, coverage, covered, real, rarity_from,
    rarity_to``), for :func:`analysis.views.charts.tail_coverage_bars`."""
    frames = []
    bins = np.arange(engine.bins)
    real = np.bincount(engine.cover_bins, minlength=engine.bins)
    radii = engine.cover.radii
    low = [float(radii[engine.cover_bins == b].min()) if real[b] else math.nan for b in bins]
    high = [float(radii[engine.cover_bins == b].max()) if real[b] else math.nan for b in bins]
    for name, which in (("mixture", spec), (BASELINE, baseline_spec(engine, spec))):
        values = engine.metrics(which)
        coverage = np.array([values[f"coverage bin {b}"] for b in bins])
        frames.append(
            pd.DataFrame(
                {
                    "set": name,
                    "bin": bins,
                    "coverage": coverage,
                    "covered": np.rint(coverage * real).astype(int),
                    "real": real,
                    "rarity_from": low,
                    "rarity_to": high,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
