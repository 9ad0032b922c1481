"""The design-review summary: what a review puts on one screen, built once for the report and the app.

:func:`review_summary` gathers, for a dataset and its :func:`analysis.judge.compare.compare` table:

- the **verdict per set** in words, from the collapse-risk rules (:func:`analysis.monitor.gate`):
  ``ok`` / ``warning`` / ``alarm``, the risks that fire and the worst rule's sentence;
- the **top named gaps per set**: the real regions a set under-covers most
  (:func:`analysis.maps.gaps.find_gaps`, ranked by the real samples left uncovered);
- the **recommended mixture**: the weights and strategy that :func:`analysis.mixture.suggest`
  finds at the lowest real share the guardrail accepts without a warning (30 %), with the
  metrics it reaches beside all-real data of the same size; where its sets have named gaps, it keeps
  enough real data inside them that each holds its real share (:func:`analysis.mixture.protect_gaps`).

The HTML report (:func:`analysis.views.report.build_report`) and the Method comparison page both draw
this one object, so the summary has one home. :func:`gap_map` draws the small static map that goes
with it: real and synthetic points of the dataset's map, the gap regions circled and named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import altair as alt
import numpy as np
import pandas as pd

from analysis.colors import set_colors
from analysis.judge.compare import BASELINE, COVERAGE_METRICS, DEFAULT_COVERAGE
from analysis.maps.explore import set_names

__all__ = [
    "SetVerdict",
    "Recommendation",
    "ReviewSummary",
    "HEADLINE_METRICS",
    "review_summary",
    "verdict_sentences",
    "recommend_mixture",
    "named_gaps",
    "gap_sentence",
    "gap_map",
    "map_xy",
]

#: The metrics the summary shows for the recommended mixture (all computed by the mixture engine).
HEADLINE_METRICS = ("coverage", "tail coverage (rarest 10%)", "recall", "distinct-2", "vendi", "centroid shift")

_VERDICT_WORDS = {"ok": "No collapse-risk rule fires"}


@dataclass(frozen=True)
class SetVerdict:
    """One set's verdict in words: ``verdict`` (ok/warning/alarm), its risks and one sentence."""

    set: str
    verdict: str
    risks: tuple[str, ...]
    sentence: str


@dataclass(frozen=True)
class Recommendation:
    """The suggested mixture: its spec, the suggester's explanation, its metrics and all-real's, and the named gaps
    it protects (``protect``, ``keep`` as :class:`analysis.mixture.MixtureSpec` has them; ``protected``: each
    region's occupancy in words; ``real_mixed``: the real rows' share of the mixture, the kept ones included)."""

    real_share: float
    weights: dict[str, float]
    strategy: str
    size: int
    text: str
    metrics: dict[str, float]
    baseline: dict[str, float]
    protect: tuple[int, ...] = ()
    keep: float = 0.0
    protected: tuple[str, ...] = ()
    real_mixed: float = math.nan

    def weights_text(self) -> str:
        """The non-zero weights as ``"paraphrase 67%, llm 33%"``."""
        return ", ".join(f"{name} {weight:.0%}" for name, weight in self.weights.items() if weight > 0)

    def protection_text(self) -> str:
        """What the mixture does about its sets' named gaps, in words ("" when they have none): ``"Protects 2 named
        gaps, keeping 6% of their real train rows in the place of synthetic rows: People: 25% of real, 25% of the
        mixture (13% without protection); …."``."""
        if not self.protected:
            return ""
        one = len(self.protected) == 1
        gaps = "1 named gap" if one else f"{len(self.protected)} named gaps"
        if self.keep > 0:
            their = "its" if one else "their"
            how = f"Protects {gaps}, keeping {self.keep:.0%} of {their} real train rows in the place of synthetic rows"
        else:
            how = f"Holds {gaps} at {'its' if one else 'their'} real share without protection"
        return f"{how}: " + "; ".join(self.protected) + "."

    def real_text(self) -> str:
        """The real share as the card's headline says it: ``"30% real"``, or with protected gaps' kept rows
        ``"30% real (58% with the protected gaps' real rows)"``."""
        text = f"{self.real_share:.0%} real"
        if self.keep > 0:
            text += f" ({self.real_mixed:.0%} with the protected gaps' real rows)"
        return text

    def metric_table(self) -> pd.DataFrame:
        """``metric, mixture, all real`` for :data:`HEADLINE_METRICS`."""
        names = [m for m in HEADLINE_METRICS if m in self.metrics]
        return pd.DataFrame(
            {
                "metric": names,
                "mixture": [float(self.metrics[m]) for m in names],
                "all real": [float(self.baseline.get(m, math.nan)) for m in names],
            }
        )


@dataclass(frozen=True)
class ReviewSummary:
    """What a review puts on one screen (see the module docstring).

    Attributes
    ----------
    overall
        The worst verdict over all sets: ``ok``, ``warning`` or ``alarm``.
    verdicts
        One :class:`SetVerdict` per synthetic set, in the compare table's order.
    gaps
        Set name -> its top named gaps (:class:`analysis.maps.gaps.Gap`), largest first; empty when
        :attr:`gap_note` says why there are none.
    gap_report
        The whole :class:`analysis.maps.gaps.GapReport` (regions for the map), or None.
    recommendation
        The suggested mixture, or None with :attr:`recommendation_note` saying why.
    """

    overall: str
    verdicts: list[SetVerdict]
    gaps: dict[str, list[Any]] = field(default_factory=dict)
    gap_report: Any = None
    gap_note: str = ""
    recommendation: Recommendation | None = None
    recommendation_note: str = ""

    def verdict_table(self) -> pd.DataFrame:
        """``set, verdict, in words, top gaps``: one row per set, as the report and the page show it."""
        return pd.DataFrame(
            [
                {
                    "set": v.set,
                    "verdict": v.verdict,
                    "in words": v.sentence,
                    "top gaps": "; ".join(gap_sentence(g) for g in self.gaps.get(v.set, [])) or "—",
                }
                for v in self.verdicts
            ],
            columns=["set", "verdict", "in words", "top gaps"],
        )


def verdict_sentences(compare_table: pd.DataFrame, rules: Any = None) -> tuple[str, list[SetVerdict]]:
    """The gate's verdict per set in words: ``(overall verdict, [SetVerdict, …])``.

    A set's sentence names its risks and quotes the message of its worst rule (an alarm before a
    warning), so "alarm" comes with the number that caused it: ``"Flattening, semantic drift:
    distinct-2 is 0.626, below 85 % of real text (0.739): … (+2 more rules)"``.
    """
    from analysis.monitor import gate

    result = gate(compare_table, rules)
    fired = result.fired
    verdicts = []
    for row in result.verdicts.itertuples():
        mine = fired[fired["set"] == row.set]
        risks = tuple(dict.fromkeys(str(r) for r in mine["risk"]))
        if mine.empty:
            sentence = f"{_VERDICT_WORDS['ok']}."
        else:
            worst = mine.sort_values("severity", key=lambda s: s.map({"alarm": 0, "warning": 1}), kind="stable")
            named = ", ".join(risks)
            sentence = f"{named[:1].upper()}{named[1:]}: {worst['message'].iloc[0]}"
            if len(mine) > 1:
                sentence += f" (+{len(mine) - 1} more rule{'s' if len(mine) > 2 else ''})"
        verdicts.append(SetVerdict(set=str(row.set), verdict=str(row.verdict), risks=risks, sentence=sentence))
    return result.verdict, verdicts


def gap_sentence(gap: Any) -> str:
    """One gap in words, as everywhere (:meth:`analysis.maps.gaps.Gap.sentence`): ``"court / judge / law (law): 17% of
    real, 0.3% of llm"``; k-NN coverage is added only where it is reported (a number, not below its floor)."""
    sentence = gap.sentence()
    if np.isfinite(gap.share_covered) and np.isfinite(gap.share_covered_by_real):
        sentence += (
            f" (k-NN coverage {gap.share_covered:.0%}, real data of the same size {gap.share_covered_by_real:.0%})"
        )
    return sentence


def named_gaps(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    xy: np.ndarray | None = None,
    seed: int = 0,
    size: int | None = None,
    coverage: str = DEFAULT_COVERAGE,
) -> tuple[Any, str]:
    """The dataset's :class:`analysis.maps.gaps.GapReport` and an empty note, or ``(None, why not)``.

    Named gaps come from :func:`analysis.maps.gaps.find_gaps`; a dataset without enough real data for
    regions (or a build without :mod:`analysis.maps.gaps`) gets a note instead of an error, so the rest
    of the summary still shows.
    """
    try:
        from analysis.maps.gaps import find_gaps
    except ImportError:
        return None, "Named gaps are not available in this build (analysis.maps.gaps is missing)."
    from analysis.errors import CollapseLabError

    try:
        return find_gaps(samples, embeddings, xy=xy, seed=seed, size=size, coverage=coverage), ""
    except (CollapseLabError, ValueError) as exc:
        return None, f"No named gaps: {exc}"


def recommend_mixture(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    engine: Any = None,
    min_real_share: float | None = None,
    size: int | None = None,
    seed: int = 0,
    coverage: str = DEFAULT_COVERAGE,
    gaps: Any = None,
) -> tuple[Recommendation | None, str]:
    """The mixture designer's suggestion for this dataset, with the metrics it reaches.

    Parameters
    ----------
    engine
        A :class:`analysis.mixture.MixtureEngine` of ``samples`` (the app shares its own); built
        when not given (about 10 s for the demo's 13,600 samples on 2 cores).
    min_real_share
        The real share to search at; default the guardrail's warning share (30 %): the most
        synthetic data a review should accept without a warning.
    size
        Mixture size; default the Mixture designer's: the real holdout's size, or the real train
        split's when it is smaller (coverage is then mid-range, where sets differ most).
    coverage
        Coverage's reference when the engine is built here (:func:`analysis.judge.compare.compare`).
    gaps
        A :class:`analysis.maps.gaps.GapReport` of the same sample table: the named gaps of the chosen sets are
        protected so that each holds at least its real share of the mixture (:func:`analysis.mixture.protect_gaps`),
        and the metrics are the protected mixture's. None: no protection.

    Returns
    -------
    (Recommendation or None, note)
        None and the reason when no mixture can be built (no synthetic set, a holdout too small).
    """
    from analysis.errors import CollapseLabError
    from analysis.mixture import WARNING_SHARE, MixtureEngine, baseline_spec, protect_gaps, suggest

    share = WARNING_SHARE if min_real_share is None else float(min_real_share)
    protected: tuple[str, ...] = ()
    try:
        engine = engine if engine is not None else MixtureEngine(samples, embeddings, coverage=coverage)
        available = engine.available()
        size = int(size or min(len(engine.holdout_rows), available[BASELINE]))
        best, text = suggest(engine, size, share, seed=seed)
        if gaps is not None and not gaps.unsupported and len(gaps.region_of) == len(engine.samples):
            best, occupancy = protect_gaps(engine, best, gaps)
            protected = tuple(occupancy["in words"])
            if best.protects:
                text = f"{text} The metrics are those of the mixture with its sets' named gaps protected."
        metrics = engine.metrics(best)
        baseline = engine.metrics(baseline_spec(engine, best))
    except (CollapseLabError, ValueError) as exc:
        return None, f"No mixture recommended: {exc}"
    note = engine.cover.unsupported
    if note:  # one rule everywhere: below the coverage floor no page quotes a coverage number
        for name in COVERAGE_METRICS:
            metrics.pop(name, None)
            baseline.pop(name, None)
        text = f"{text} {note}"
    return (
        Recommendation(
            real_share=float(best.real_share),
            weights=dict(best.weights),
            strategy=str(best.strategy),
            size=int(best.size),
            text=text,
            metrics={k: float(v) for k, v in metrics.items()},
            baseline={k: float(v) for k, v in baseline.items()},
            protect=tuple(best.protect),
            keep=float(best.keep),
            protected=protected,
            real_mixed=engine.counts(best)[BASELINE] / best.size,
        ),
        "",
    )


def review_summary(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    compare_table: pd.DataFrame,
    *,
    rules: Any = None,
    gap_report: Any = None,
    gap_note: str | None = None,
    xy: np.ndarray | None = None,
    engine: Any = None,
    recommendation: Recommendation | None = None,
    recommendation_note: str | None = None,
    min_real_share: float | None = None,
    mixture_size: int | None = None,
    gap_size: int | None = None,
    seed: int = 0,
    top: int = 3,
    coverage: str = DEFAULT_COVERAGE,
) -> ReviewSummary:
    """The one-screen summary of a dataset for a design review (see the module docstring).

    Parameters
    ----------
    samples, embeddings
        The sample table and its row-aligned vectors.
    compare_table
        Its :func:`analysis.judge.compare.compare` table (the verdicts are the rules on it).
    rules
        A rules TOML file; default the shipped one.
    gap_report, gap_note
        A :class:`analysis.maps.gaps.GapReport`; computed with :func:`named_gaps` (on ``xy``) when None,
        unless ``gap_note`` says why there is none (as :func:`named_gaps` returns them).
    xy, gap_size
        The map the gaps are found and drawn on (:func:`map_xy`), and the size each set is
        subsampled to for them (default the smallest set's, as ``compare``).
    engine, min_real_share, mixture_size, seed
        For :func:`recommend_mixture` (which protects the named gaps of ``gap_report``); ``recommendation`` (or
        ``recommendation_note``, why there is none) given skips the search (the app caches it).
    top
        Gaps listed per set.
    coverage
        Coverage's reference of the gaps' coverage column and the recommended mixture, as ``compare_table``'s.
    """
    samples = samples.reset_index(drop=True)
    overall, verdicts = verdict_sentences(compare_table, rules)
    if gap_report is None and gap_note is None:
        gap_report, gap_note = named_gaps(samples, embeddings, xy=xy, seed=seed, size=gap_size, coverage=coverage)
    gap_note = gap_note or ""
    gaps: dict[str, list[Any]] = {}
    if gap_report is not None:
        for name in gap_report.gaps:
            gaps[name] = list(gap_report.top(name, top))
        if getattr(gap_report, "unsupported", ""):
            gap_note = f"No named gaps: {gap_report.unsupported}"
        elif not any(gaps.values()):
            gap_note = "No set leaves a real region under-covered by more than sampling explains."
    note = recommendation_note or ""
    if recommendation is None and recommendation_note is None:
        recommendation, note = recommend_mixture(
            samples,
            embeddings,
            engine=engine,
            min_real_share=min_real_share,
            size=mixture_size,
            seed=seed,
            coverage=coverage,
            gaps=gap_report,
        )
    return ReviewSummary(
        overall=overall,
        verdicts=verdicts,
        gaps=gaps,
        gap_report=gap_report,
        gap_note=gap_note,
        recommendation=recommendation,
        recommendation_note=note,
    )


def map_xy(embeddings: np.ndarray, *, compute: bool = True) -> np.ndarray | None:
    """The dataset's default map (the Embedding map's: UMAP on every row, default settings).

    Read from the cache (the demo's ships with it); fitted and cached when ``compute`` (UMAP: seconds
    for a few thousand rows), else None when not cached.
    """
    from analysis.maps.project import MIN_ROWS, cached_projection, project

    if len(embeddings) < MIN_ROWS:
        return None
    xy = cached_projection(embeddings)
    if xy is None and compute:
        xy = project(embeddings)
    return xy


def gap_map(
    samples: pd.DataFrame,
    xy: np.ndarray,
    summary: ReviewSummary | None = None,
    *,
    sets: list[str] | None = None,
    points: int = 3000,
    seed: int = 0,
    width: int = 520,
    height: int = 380,
    label_size: int = 15,
) -> alt.LayerChart:
    """A small static map: real points (grey), synthetic points (coloured by set), gap regions circled and named.

    Parameters
    ----------
    samples, xy
        The sample table and its map coordinates (row-aligned).
    summary
        Its :class:`ReviewSummary`: every region that is a top gap of some shown set is circled in red
        and labelled with its name (the other regions are not drawn).
    sets
        The synthetic sets to draw (default all).
    points
        At most this many points drawn (a seeded sample, real and synthetic in proportion): the
        map stays small in a report.
    label_size
        The gap names' font size in pixels (15: readable when the report is projected).
    """
    samples = samples.reset_index(drop=True)
    xy = np.asarray(xy, dtype=float)
    names = np.asarray(set_names(samples), dtype=object)
    shown = np.ones(len(samples), dtype=bool) if sets is None else np.isin(names, ["real", *sets])
    rows = np.flatnonzero(shown)
    if len(rows) > points:
        rows = np.sort(np.random.default_rng(seed).choice(rows, points, replace=False))
    frame = pd.DataFrame({"x": xy[rows, 0], "y": xy[rows, 1], "set": names[rows]})
    order = ["real", *[n for n in dict.fromkeys(frame["set"]) if n != "real"]]
    scale = set_colors(order)  # the sets' colours of every page
    regions = _gap_regions(summary, sets)
    corners = np.vstack([xy, regions[["x", "y"]].to_numpy(dtype=float)]) if len(regions) else xy
    x_scale = alt.Scale(domain=[float(corners[:, 0].min()), float(corners[:, 0].max())], nice=False)
    y_scale = alt.Scale(domain=[float(corners[:, 1].min()), float(corners[:, 1].max())], nice=False)
    dots = (
        alt.Chart(frame)
        .mark_circle(size=9, opacity=0.55)
        .encode(
            x=alt.X("x:Q", axis=None, scale=x_scale),
            y=alt.Y("y:Q", axis=None, scale=y_scale),
            color=alt.Color("set:N", scale=scale, sort=order, legend=alt.Legend(orient="bottom", title=None)),
            order=alt.Order("order:Q"),
        )
        .transform_calculate(order="datum.set === 'real' ? 0 : 1")
    )
    layers: list[alt.Chart] = [dots]
    if not regions.empty:
        rings = (
            alt.Chart(regions)
            .mark_point(shape="circle", filled=False, color="#c62828", strokeWidth=2)
            .encode(
                x=alt.X("x:Q", scale=x_scale),
                y=alt.Y("y:Q", scale=y_scale),
                size=alt.Size("size:Q", scale=alt.Scale(range=[300, 2500]), legend=None),
            )
        )
        # a name runs from its ring towards the middle, so one near an edge stays inside the map
        span = float(corners[:, 0].max() - corners[:, 0].min()) or 1.0
        where = (regions["x"].to_numpy(dtype=float) - float(corners[:, 0].min())) / span
        aligns = np.where(where < 1 / 3, "left", np.where(where > 2 / 3, "right", "center"))
        sides: tuple[Literal["left", "center", "right"], ...] = ("left", "center", "right")
        labels = [
            alt.Chart(regions[aligns == align])
            .mark_text(fontSize=label_size, fontWeight="bold", color="#7f1010", dy=-4, align=align, baseline="bottom")
            .encode(x=alt.X("x:Q", scale=x_scale), y=alt.Y("y:Q", scale=y_scale), text="label:N")
            for align in sides
            if (aligns == align).any()
        ]
        layers += [rings, *labels]
    return alt.LayerChart(layer=layers).properties(width=width, height=height)


def _gap_regions(summary: ReviewSummary | None, sets: list[str] | None) -> pd.DataFrame:
    """The regions that are a top gap of some (shown) set: ``x, y, size, label`` (label: a short name)."""
    columns = ["x", "y", "size", "label"]
    if summary is None or summary.gap_report is None:
        return pd.DataFrame(columns=columns)
    regions = {region.id: region for region in summary.gap_report.regions}
    picked: dict[int, Any] = {}
    for name, gaps in summary.gaps.items():
        if sets is not None and name not in sets:
            continue
        for gap in gaps:
            if gap.region in regions:
                picked.setdefault(gap.region, regions[gap.region])
    rows = [
        {"x": float(r.x), "y": float(r.y), "size": int(r.size), "label": _short(str(r.name))} for r in picked.values()
    ]
    return pd.DataFrame(rows, columns=columns)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1].rstrip(" ,") + "…"
