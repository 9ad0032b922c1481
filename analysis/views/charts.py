"""Altair chart builders: a DataFrame in, a chart out. Pages and the report share them."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from analysis.colors import set_colors
from analysis.corpus import word_counts
from analysis.metrics.catalog import CATALOG
from analysis.views.simulation_charts import generation_histogram, generation_scatter, simulation_curves, weight_bars

__all__ = [
    "count_bars",
    "length_histogram",
    "tail_coverage_bars",
    "zipf_curves",
    "label_heatmap",
    "value_bars",
    "metric_multiples",
    "generation_lines",
    "frontier_lines",
    "simulation_curves",
    "generation_histogram",
    "weight_bars",
    "generation_scatter",
    "trend_chart",
    "ab_differences",
    "to_png",
    "to_svg",
]


def count_bars(table: pd.DataFrame, by: str, *, title: str | None = None) -> alt.Chart:
    """Horizontal bars of a :func:`analysis.summary.counts` table, largest first."""
    return (
        alt.Chart(table, title=title or f"Samples per {by}")
        .mark_bar()
        .encode(
            x=alt.X("samples:Q", title="samples"),
            y=alt.Y(f"{by}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=220)),
            tooltip=[
                alt.Tooltip(f"{by}:N"),
                alt.Tooltip("samples:Q", format=","),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .properties(height=alt.Step(22))
    )


def length_histogram(samples: pd.DataFrame, *, by: str = "method", bins: int = 40) -> alt.Chart:
    """Share of samples per text-length bin (words), one line per group, binned here not in the browser."""
    words = word_counts(samples["text"])  # len(text.split()), counted in C++
    edges = np.histogram_bin_edges(words, bins=bins)
    rows = []
    for group, values in words.groupby(samples[by].astype(str)):
        hist, _ = np.histogram(values, bins=edges)
        rows.append(pd.DataFrame({by: group, "words": edges[:-1], "share": hist / max(len(values), 1)}))
    table = pd.concat(rows, ignore_index=True)
    return (
        alt.Chart(table, title="Text length (words)")
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("words:Q", title="words per sample"),
            y=alt.Y("share:Q", title="share of samples", axis=alt.Axis(format="%")),
            color=alt.Color(f"{by}:N"),
            tooltip=[f"{by}:N", alt.Tooltip("words:Q", format=".0f"), alt.Tooltip("share:Q", format=".1%")],
        )
    )


# --- Embedding map -----------------------------------------------------------------------------


# --- Tail coverage -----------------------------------------------------------------------------


def tail_coverage_bars(bins: pd.DataFrame, *, ceiling: str = "real train") -> alt.LayerChart:
    """Share of each rarity bin (head → tail) that each set covers, grouped bars, with the ceiling as ticks.

    ``bins`` is :attr:`analysis.judge.coverage.TailReport.bins`; the ``ceiling`` set is drawn as a black
    tick per bin (what real data of the same size covers) instead of a bar.
    """
    table = bins.assign(bin_label=bins["bin"].map(lambda b: f"{b + 1}"))
    order = [str(b + 1) for b in sorted(bins["bin"].unique())]
    x = alt.X(
        "bin_label:N",
        sort=order,
        title="rarity bin: 1 = most common (head) … last = rarest (tail)",
        axis=alt.Axis(labelAngle=0),
    )
    tooltip = [
        alt.Tooltip("set:N"),
        alt.Tooltip("bin_label:N", title="bin"),
        alt.Tooltip("coverage:Q", format=".1%"),
        alt.Tooltip("covered:Q"),
        alt.Tooltip("real:Q", title="real samples"),
        alt.Tooltip("rarity_from:Q", format=".3f"),
        alt.Tooltip("rarity_to:Q", format=".3f"),
    ]
    bars = (
        alt.Chart(table[table["set"] != ceiling])
        .mark_bar()
        .encode(
            x=x,
            xOffset="set:N",
            y=alt.Y(
                "coverage:Q",
                title="share of the bin covered",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("set:N", title="set", scale=set_colors(table["set"])),
            tooltip=tooltip,
        )
    )
    ticks = (
        alt.Chart(table[table["set"] == ceiling])
        .mark_tick(color="black", thickness=2, size=40)
        .encode(x=x, y="coverage:Q", tooltip=tooltip)
    )
    return alt.LayerChart(layer=[bars, ticks]).properties(
        title=f"Tail coverage per rarity bin (black ticks: {ceiling}, the ceiling)", height=340
    )


def zipf_curves(zipf: pd.DataFrame) -> alt.Chart:
    """Token rank-frequency curves on log-log axes, one line per set (:attr:`TailReport.zipf`)."""
    return (
        alt.Chart(zipf, title="Token rank-frequency (Zipf), log-log")
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X("rank:Q", scale=alt.Scale(type="log"), title="token rank (1 = most frequent)"),
            y=alt.Y("share:Q", scale=alt.Scale(type="log"), title="share of tokens"),
            color=alt.Color("set:N", scale=set_colors(zipf["set"])),
            tooltip=["set:N", alt.Tooltip("rank:Q", format=","), alt.Tooltip("share:Q", format=".3%")],
        )
        .properties(height=320)
    )


def label_heatmap(labels: pd.DataFrame) -> alt.LayerChart:
    """Coverage per label (rows) and set (columns), with the value written in each cell."""
    base = alt.Chart(labels, title="Coverage per label").encode(
        x=alt.X("set:N", title=None, axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("label:N", title=None, axis=alt.Axis(labelLimit=200)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("coverage:Q", scale=alt.Scale(scheme="viridis", domain=[0, 1]), legend=alt.Legend(format="%")),
        tooltip=[
            "set:N",
            "label:N",
            alt.Tooltip("coverage:Q", format=".1%"),
            "covered:Q",
            alt.Tooltip("real:Q", title="real samples"),
        ],
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("coverage:Q", format=".0%"),
        color=alt.when(alt.datum.coverage > 0.6).then(alt.value("black")).otherwise(alt.value("white")),
    )
    return alt.LayerChart(layer=[cells, text]).properties(height=alt.Step(22))


def value_bars(table: pd.DataFrame, *, value: str, title: str, percent: bool = True) -> alt.Chart:
    """One bar per set for a single number per set (e.g. rare-token coverage)."""
    fmt = ".1%" if percent else ".3f"
    return (
        alt.Chart(table, title=title)
        .mark_bar()
        .encode(
            x=alt.X(f"{value}:Q", title=value, axis=alt.Axis(format="%" if percent else "")),
            y=alt.Y("set:N", title=None, sort="-x"),
            color=alt.Color("set:N", legend=None, scale=set_colors(table["set"])),
            tooltip=["set:N", alt.Tooltip(f"{value}:Q", format=fmt)],
        )
        .properties(height=alt.Step(24))
    )


# --- Method comparison -------------------------------------------------------------------------


def metric_multiples(table: pd.DataFrame, *, columns: int = 4) -> alt.FacetChart:
    """Small multiples of a :func:`analysis.judge.compare.compare` table: one panel per metric, a bar per set.

    Each panel has its own scale; error bars show the bootstrap 95 % interval where there is one;
    the panel title says which direction is better.
    """
    data = table.assign(panel=table["metric"] + " (" + table["direction"] + " is better)")
    base = alt.Chart().encode(y=alt.Y("set:N", title=None))
    bars = base.mark_bar().encode(
        x=alt.X("value:Q", title=None),
        color=alt.Color("set:N", legend=None, scale=set_colors(table["set"])),
        tooltip=[
            "set:N",
            "metric:N",
            alt.Tooltip("value:Q", format=".4g"),
            alt.Tooltip("ci_low:Q", format=".4g"),
            alt.Tooltip("ci_high:Q", format=".4g"),
            "direction:N",
            "reference:N",
            "n:Q",
        ],
    )
    errors = base.mark_errorbar(color="black").encode(x="ci_low:Q", x2="ci_high:Q")
    return (
        alt.layer(bars, errors, data=data)
        .properties(width=180, height=alt.Step(14))
        .facet(facet=alt.Facet("panel:N", title=None, sort=list(dict.fromkeys(data["panel"]))), columns=columns)
        .resolve_scale(x="independent")
    )


def generation_lines(table: pd.DataFrame, *, metric: str) -> alt.Chart:
    """A metric across generations, one line per method (``table``: method, generation, value)."""
    return (
        alt.Chart(table, title=f"{metric} across generations")
        .mark_line(point=True)
        .encode(
            x=alt.X("generation:O", title="generation"),
            y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
            color=alt.Color("method:N", scale=set_colors(table["method"])),
            tooltip=["method:N", "generation:O", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(height=300)
    )


# --- Mixture designer --------------------------------------------------------------------------


def frontier_lines(frontier: pd.DataFrame, metrics: list[str], *, current: float, columns: int = 3) -> alt.FacetChart:
    """Each metric against the real share (:func:`analysis.mixture.frontier`), one panel per metric.

    A dashed rule marks the current real share; shaded bands mark the guardrails (below 20 % real:
    alarm, red; 20–30 %: warning, orange). Shares where the mixture is impossible are left out.
    """
    ok = frontier[frontier["ok"]]
    data = ok.melt(id_vars=["real_share"], value_vars=metrics, var_name="metric", value_name="value")
    x = alt.X("real_share:Q", title="real share", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    bands = (
        alt.Chart(pd.DataFrame({"from": [0.0, 0.2], "to": [0.2, 0.3], "level": ["alarm", "warning"]}))
        .mark_rect(opacity=0.12)
        .encode(
            x=alt.X("from:Q", scale=alt.Scale(domain=[0, 1])),
            x2="to:Q",
            color=alt.Color(
                "level:N", scale=alt.Scale(domain=["alarm", "warning"], range=["#d62728", "#ff7f0e"]), legend=None
            ),
        )
    )
    lines = (
        alt.Chart()
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("real_share:Q", format=".0%"), "metric:N", alt.Tooltip("value:Q", format=".4g")],
        )
    )
    now = (
        alt.Chart(pd.DataFrame({"real_share": [current]}))
        .mark_rule(strokeDash=[4, 3], color="black")
        .encode(x="real_share:Q")
    )
    return (
        alt.layer(bands, lines, now, data=data)
        .properties(width=220, height=150)
        .facet(facet=alt.Facet("metric:N", title=None, sort=metrics), columns=columns)
        .resolve_scale(y="independent")
    )


# --- Collapse simulator ------------------------------------------------------------------------


def trend_chart(
    history: pd.DataFrame,
    warnings: pd.DataFrame | None = None,
    thresholds: pd.DataFrame | None = None,
    *,
    metrics: list[str] | None = None,
    columns: int = 3,
) -> alt.FacetChart:
    """Each metric across the snapshots of a history, with the real-train baseline, rule limits and warnings.

    Parameters
    ----------
    history
        :data:`analysis.monitor.HISTORY_COLUMNS` (or :func:`analysis.monitor.history_from_table`).
    warnings, thresholds
        :func:`analysis.monitor.warnings` and :func:`analysis.monitor.thresholds` of the history;
        warnings are drawn as triangles (orange: warning, red: alarm), limits as dashed lines.
    metrics
        The panels; default every metric a trend rule watches, plus coverage.
    columns
        Panels per row.

    Returns
    -------
    FacetChart
        One panel per metric (own y scale), snapshots on x in their order; one line per series.
    """
    from analysis.judge.compare import BASELINE  # here: compare does not need charts, charts rarely needs compare

    metrics = metrics or [
        m for m in CATALOG if m in set(thresholds["metric"] if thresholds is not None else []) | {"coverage"}
    ]
    history = history[history["metric"].isin(metrics)]
    order = list(dict.fromkeys(history.sort_values("order")["snapshot"]))
    parts = [
        history.assign(line=history["series"].astype(str), y=history["value"], dash="value"),
        history.drop_duplicates(["metric", "snapshot"]).assign(line=BASELINE, y=history["baseline"], dash="real train"),
    ]
    if thresholds is not None and not thresholds.empty:
        limits = thresholds[thresholds["metric"].isin(metrics)]
        parts.append(limits.assign(line="limit: " + limits["rule"], y=limits["limit"], dash="rule limit"))
    if warnings is not None and not warnings.empty:
        shown = warnings[warnings["metric"].isin(metrics)]
        shown = shown.sort_values("severity", key=lambda s: s.eq("alarm"), kind="stable")  # alarms drawn on top
        parts.append(shown.assign(line="warning: " + shown["rule"], y=shown["value"], dash="warning"))
    data = pd.concat(parts, ignore_index=True).reindex(columns=["metric", "snapshot", "line", "y", "dash", "severity"])
    data = data.dropna(subset=["y"])
    x = alt.X("snapshot:N", sort=order, title="snapshot", axis=alt.Axis(labelAngle=-30))
    y = alt.Y("y:Q", title=None, scale=alt.Scale(zero=False))
    lines = (
        alt.Chart()
        .mark_line(point=True)
        .encode(
            x=x,
            y=y,
            detail="line:N",
            color=alt.Color(
                "dash:N",
                title=None,
                scale=alt.Scale(domain=["value", "real train", "rule limit"], range=["#1f77b4", "#8c9aa3", "#d62728"]),
            ),
            strokeDash=alt.StrokeDash(
                "dash:N",
                legend=None,
                scale=alt.Scale(domain=["value", "real train", "rule limit"], range=[[1, 0], [2, 2], [6, 4]]),
            ),
            tooltip=["line:N", "snapshot:N", alt.Tooltip("y:Q", format=".4g")],
        )
        .transform_filter(alt.datum.dash != "warning")
    )
    marks = (
        alt.Chart()
        .mark_point(shape="triangle-up", size=140, filled=True)
        .encode(
            x=x,
            y=y,
            fill=alt.Fill(
                "severity:N",
                title="warning",
                scale=alt.Scale(domain=["warning", "alarm"], range=["#ff7f0e", "#d62728"]),
                legend=alt.Legend(orient="bottom"),  # beside three 260 px panels it ran off a 1280 px page
            ),
            color=alt.value("black"),
            tooltip=["line:N", "snapshot:N", alt.Tooltip("y:Q", format=".4g")],
        )
        .transform_filter(alt.datum.dash == "warning")
    )
    return (
        alt.layer(lines, marks, data=data)
        .properties(width=260, height=170)
        .facet(facet=alt.Facet("metric:N", title=None, sort=metrics), columns=columns)
        .resolve_scale(y="independent")
    )


# --- A/B test ----------------------------------------------------------------------------------


def ab_differences(table: pd.DataFrame, *, names: tuple[str, str] = ("A", "B"), columns: int = 4) -> alt.FacetChart:
    """The difference B − A of each metric with its 95 % interval (:attr:`analysis.ab.ABResult.table`).

    One small panel per metric (own scale), a zero line, the point coloured by which set the metric
    favours where the difference is significant (grey where it is not).
    """
    a, b = names
    data = table.dropna(subset=["difference"]).assign(
        favours=lambda t: t["better"].where(
            t["significant"].astype(bool) & t["better"].astype(bool), "no clear difference"
        ),
        row="B − A",
    )
    base = alt.Chart().encode(y=alt.Y("row:N", title=None, axis=None))
    zero = alt.Chart().mark_rule(color="#888888", strokeDash=[3, 3]).encode(x=alt.datum(0))
    errors = base.mark_errorbar(thickness=2).encode(
        x=alt.X("ci_low:Q", title=None),
        x2="ci_high:Q",
        color=alt.Color(
            "favours:N",
            title="favours",
            scale=alt.Scale(domain=[a, b, "no clear difference"], range=["#1f77b4", "#ff7f0e", "#9e9e9e"]),
        ),
    )
    points = base.mark_point(filled=True, size=70).encode(
        x="difference:Q",
        color="favours:N",
        tooltip=[
            "metric:N",
            alt.Tooltip("a:Q", title=a, format=".4g"),
            alt.Tooltip("b:Q", title=b, format=".4g"),
            alt.Tooltip("difference:Q", format=".4g"),
            alt.Tooltip("ci_low:Q", format=".4g"),
            alt.Tooltip("ci_high:Q", format=".4g"),
            alt.Tooltip("p_holm:Q", format=".3g"),
            "direction:N",
        ],
    )
    data = data.assign(panel=data["metric"] + " (" + data["direction"] + " is better)")
    return (
        alt.layer(zero, errors, points, data=data)
        .properties(width=170, height=40)
        .facet(facet=alt.Facet("panel:N", title=None, sort=list(dict.fromkeys(data["panel"]))), columns=columns)
        .resolve_scale(x="independent")
    )


# --- Export ------------------------------------------------------------------------------------


def fill_map(points: pd.DataFrame, *, width: int = 520, height: int = 360) -> alt.Chart:
    """The map of a fill (:func:`analysis.fill.fill_points`): the real data in light grey, the gap's region in dark
    grey, the set's samples before the fill in its colour, and the new samples as large red crosses on top."""
    order = [
        "real elsewhere",
        "real in the region",
        *sorted(set(points["kind"]) - {"real elsewhere", "real in the region", "new"}),
        "new",
    ]
    colours = ["#d9d9d9", "#525252", *["#4c78a8"] * (len(order) - 3), "#d62728"]
    return (
        alt.Chart(points.assign(rank=points["kind"].map({k: i for i, k in enumerate(order)})))
        .mark_point(filled=True)
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            color=alt.Color(
                "kind:N",
                scale=alt.Scale(domain=order, range=colours),
                legend=alt.Legend(title=None, orient="bottom", columns=2),
            ),
            shape=alt.condition("datum.kind === 'new'", alt.value("cross"), alt.value("circle")),
            size=alt.condition("datum.kind === 'new'", alt.value(120), alt.value(12)),
            order=alt.Order("rank:Q"),
        )
        .properties(width=width, height=height, title="Where the new samples landed")
    )


def to_png(chart: alt.TopLevelMixin, *, scale: float = 2.0) -> bytes:
    """The chart as a PNG image, rendered offline by vl-convert (no browser, no network)."""
    import vl_convert

    return vl_convert.vegalite_to_png(chart.to_json(), scale=scale)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG document, rendered offline by vl-convert."""
    import vl_convert

    return vl_convert.vegalite_to_svg(chart.to_json())
