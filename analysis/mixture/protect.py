"""Protected gaps: keep the real data a named gap needs, and say how full each protected region is.

A synthetic set that misses a region of the real data (a named gap, :func:`analysis.maps.gaps.find_gaps`)
leaves the mixture's share of that region to the real rows it draws, and at a low real share those are
few. Protecting the region keeps a share ``keep`` of the real **train** rows inside it on top of the
``real_share`` draw, in the place of synthetic rows, so the mixture's size stays the same and the
reviewer trades synthetic volume for a covered region (``MixtureSpec(protect=..., keep=...)``).

Which real rows are kept first: the tail-aware strategy's greedy (``MixtureEngine._tail_order``: weighted
maximum coverage of the real train k-NN balls, a ball in rarity bin ``b`` weighing ``(b + 1) ** 2``) run
over the region's train rows, so the first rows kept reach the most rare neighbourhoods of the region;
it is the same sampler, not a second one. A larger ``keep`` only adds rows, and ``keep = 0`` is the
unprotected mixture, row for row. Every metric of a protected mixture is still exact (the engine reads
it off a draw order whose real part starts with the kept rows).

**Occupancy of a mixture** (:func:`region_occupancy`) is measured as the gaps measure it: the share of the
mixture's rows in the region against the share real data puts there (``Gap.real_share``). A synthetic row
counts in the region it is placed in (:attr:`analysis.maps.gaps.GapReport.placed`), a real row in its own
region (:attr:`~analysis.maps.gaps.GapReport.region_of`), and the sentence reads like ``Gap.sentence()``:
``"court / judge / law (law): 17% of real, 9.2% of the mixture (3.1% without protection)"``.

**How much to keep** (:func:`protect_gaps`): the smallest ``keep``, in whole per cent, at which every protected
region holds at least its real share of the mixture (the model then sees each gap as often as in real data), or,
when none does, the one that fills the emptiest region best. The review's recommended mixture
(:func:`analysis.views.review.recommend_mixture`) protects its sets' named gaps this way.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from analysis.maps.gaps import GapReport, percent_text
from analysis.mixture.engine import MixtureEngine
from analysis.mixture.spec import MixtureError, MixtureSpec

__all__ = [
    "protectable_gaps",
    "gaps_of",
    "placed_regions",
    "region_occupancy",
    "occupancy_sentence",
    "protect_gaps",
]


def protectable_gaps(report: GapReport, sets: list[str] | None = None) -> dict[int, str]:
    """The regions that are a named gap of at least one of ``sets`` (default: every set), region id -> label.

    The label is the region's name and the sets that miss it, in the words of ``Gap.sentence()``:
    ``"court / judge / law (law): 17% of real, 0.3% of llm, 1.2% of llm g2"``; regions ordered by the real
    samples left unmatched by their worst set (the order of :attr:`GapReport.gaps`).
    """
    found: dict[int, list] = {}
    for name, gaps in report.gaps.items():
        if sets is not None and name not in sets:
            continue
        for gap in gaps:
            found.setdefault(gap.region, []).append(gap)
    ordered = sorted(found.items(), key=lambda item: (-max(g.real_uncovered for g in item[1]), item[0]))
    return {
        region: f"{gaps[0].name}: {percent_text(gaps[0].real_share)} of real, "
        + ", ".join(f"{percent_text(g.set_share)} of {g.set}" for g in gaps)
        for region, gaps in ordered
    }


def gaps_of(report: GapReport, spec: MixtureSpec) -> list[int]:
    """The named gaps of the sets ``spec`` mixes (a weight above 0; every set when the weights are left equal),
    in :func:`protectable_gaps`' order."""
    weighted = [name for name, weight in spec.weights.items() if weight > 0] if spec.weights else None
    return list(protectable_gaps(report, weighted))


def placed_regions(report: GapReport) -> np.ndarray:
    """Per row of the report's sample table, the region it counts in: a real row's own region, a synthetic row's
    placement (-1 where a synthetic row was not placed: above the report's per-set cap)."""
    return np.where(report.region_of >= 0, report.region_of, report.placed)


def _real_shares(report: GapReport) -> dict[int, float]:
    """Each region's real share ``q``, as the gaps state it (the real samples placed there by cross-fitting)."""
    tested = report.tested
    if len(tested):
        first = tested.drop_duplicates("region")
        return dict(zip(first["region"].astype(int), first["real_share"].astype(float)))
    real = report.region_of[report.region_of >= 0]  # no set was tested: the regions' own shares
    counts = np.bincount(real, minlength=len(report.regions))
    return {region.id: float(counts[region.id] / max(len(real), 1)) for region in report.regions}


def occupancy_sentence(name: str, real_share: float, mixture_share: float, unprotected: float | None = None) -> str:
    """``"name: 17% of real, 9.2% of the mixture (3.1% without protection)"``: :meth:`Gap.sentence`'s words."""
    text = f"{name}: {percent_text(real_share)} of real, {percent_text(mixture_share)} of the mixture"
    if unprotected is not None:
        text += f" ({percent_text(unprotected)} without protection)"
    return text


def _placed_for(engine: MixtureEngine, report: GapReport) -> np.ndarray:
    """:func:`placed_regions` of a report of the engine's own table, its regions handed to the engine."""
    where = placed_regions(report)
    if len(where) != len(engine.samples):
        raise MixtureError(
            f"The named gaps are of {len(where):,} samples but the mixture engine holds {len(engine.samples):,}: "
            f"find the gaps of the same table."
        )
    engine.use_regions(report.region_of)
    return where


def _mixture_shares(
    engine: MixtureEngine, spec: MixtureSpec, where: np.ndarray, regions: int
) -> tuple[np.ndarray, np.ndarray]:
    """One draw of ``spec``: each region's share of its placed rows, and its real train rows per region."""
    rows = engine.rows(spec)
    placed = where[rows]
    placed = placed[placed >= 0]
    shares = np.bincount(placed, minlength=regions) / max(len(placed), 1)
    train = np.isin(rows, engine.pool_rows[: engine.group_sizes[0]])
    return shares, np.bincount(where[rows[train]], minlength=regions)


def region_occupancy(
    engine: MixtureEngine, spec: MixtureSpec, report: GapReport, regions: list[int] | tuple[int, ...] | None = None
) -> pd.DataFrame:
    """Each region's occupancy in the mixture ``spec`` draws, beside real data's and the unprotected mixture's.

    Parameters
    ----------
    engine
        The dataset's mixture engine; ``report`` must be :func:`analysis.maps.gaps.find_gaps` of the same
        sample table (row for row). Its regions are handed to the engine (:meth:`MixtureEngine.use_regions`).
    spec
        The mixture.
    report
        The named gaps of the same table.
    regions
        Which regions to report; default the spec's protected regions.

    Returns
    -------
    pandas.DataFrame
        One row per region: ``region, name, real share, mixture share, without protection, real kept,
        real in region, in words``: the real share ``q`` of the region, the mixture's share (rows placed
        there over the mixture's placed rows), the same mixture with ``keep = 0``, the mixture's real train
        rows in the region and the real train rows the region holds, and :func:`occupancy_sentence`.

    Raises
    ------
    MixtureError
        When the report is not of the engine's sample table.
    """
    where = _placed_for(engine, report)
    regions = list(spec.protect if regions is None else regions)
    names = {region.id: region.name for region in report.regions}
    unknown = [r for r in regions if r not in names]
    if unknown:
        raise MixtureError(f"No region numbered {unknown[0]}; the regions are 0 to {len(names) - 1}.")
    shares = _real_shares(report)
    train = engine.pool_rows[: engine.group_sizes[0]]
    unprotected = replace(spec, keep=0.0, protect=())
    mixture, kept = _mixture_shares(engine, spec, where, len(names))
    before, _ = _mixture_shares(engine, unprotected, where, len(names)) if spec.protects else (mixture, kept)
    in_region = np.bincount(where[train], minlength=len(names))
    return pd.DataFrame(
        [
            {
                "region": r,
                "name": names[r],
                "real share": shares[r],
                "mixture share": float(mixture[r]),
                "without protection": float(before[r]),
                "real kept": int(kept[r]),
                "real in region": int(in_region[r]),
                "in words": occupancy_sentence(
                    names[r], shares[r], float(mixture[r]), float(before[r]) if spec.protects else None
                ),
            }
            for r in regions
        ],
        columns=[
            "region",
            "name",
            "real share",
            "mixture share",
            "without protection",
            "real kept",
            "real in region",
            "in words",
        ],
    )


def protect_gaps(
    engine: MixtureEngine, spec: MixtureSpec, report: GapReport, regions: list[int] | tuple[int, ...] | None = None
) -> tuple[MixtureSpec, pd.DataFrame]:
    """``spec`` protecting ``regions`` (default: the named gaps of the sets it mixes, :func:`gaps_of`) with the
    smallest ``keep`` in whole per cent at which each of them holds at least its real share of the mixture, and
    :func:`region_occupancy` of the result. When no ``keep`` fills every region (a mixture too small for its
    regions' kept rows), the one that leaves the emptiest region fullest, relative to its real share.

    Not a bisection: once the kept rows outgrow the synthetic rows they replace, the regions protected first take
    the mixture's place and the others lose theirs, so a region's share is not monotone in ``keep``. Each step is
    one draw of the mixture and a count (milliseconds), and the scan stops at the first ``keep`` that fills every
    region. With no region to protect, ``spec`` unchanged and an empty table.
    """
    if regions is None:
        regions = gaps_of(report, spec)
    if not regions:
        return replace(spec, protect=(), keep=0.0), region_occupancy(engine, spec, report, [])
    where = _placed_for(engine, report)
    wanted = np.array([_real_shares(report)[r] for r in regions]).clip(min=1e-12)
    best, chosen = -1.0, spec
    for percent in range(101):
        candidate = replace(spec, protect=tuple(regions), keep=percent / 100)
        shares, _ = _mixture_shares(engine, candidate, where, len(report.regions))
        fullest = float((shares[list(regions)] / wanted).min())
        if fullest > best:
            best, chosen = fullest, candidate
        if fullest >= 1.0:
            break
    return chosen, region_occupancy(engine, chosen, report)
