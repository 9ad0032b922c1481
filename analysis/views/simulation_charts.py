"""Charts of the collapse simulator: curves per regime, the generations' histograms, weights and points.

Altair builders in the manner of :mod:`analysis.views.charts` (a DataFrame in, a chart out), for the
Simulator page; :mod:`analysis.views.charts` re-exports them, so ``charts.simulation_curves`` still works.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["simulation_curves", "generation_histogram", "weight_bars", "generation_scatter"]


_REGIME_COLORS = alt.Scale(domain=["replace", "accumulate", "mix"], range=["#d62728", "#1f77b4", "#2ca02c"])


def regime_colors(regimes) -> alt.Scale:
    """The regimes' colours (replace red, accumulate blue, mix green), with only the regimes given in the
    domain: a legend lists what is drawn, nothing more."""
    shown = [name for name in _REGIME_COLORS.domain if name in set(regimes)]
    return alt.Scale(domain=shown, range=[_REGIME_COLORS.range[_REGIME_COLORS.domain.index(n)] for n in shown])


def simulation_curves(
    metrics: pd.DataFrame,
    *,
    expected: pd.DataFrame | None = None,
    columns: int = 3,
    width: int = 240,
    height: int = 170,
) -> alt.FacetChart:
    """Each metric over generations, a line per regime, one panel per metric (:attr:`SimulationResult.metrics`).

    ``expected`` (``regime, generation, metric, value``: the closed forms of
    :func:`analysis.simulate.closed_form`) is drawn dashed where given. ``width`` and ``height`` are
    each panel's, in pixels (the Lesson's projector mode draws them larger).
    """
    data = metrics[["regime", "generation", "metric", "value"]].assign(kind="simulated")
    if expected is not None and not expected.empty:
        data = pd.concat(
            [data, expected[["regime", "generation", "metric", "value"]].assign(kind="expected (closed form)")],
            ignore_index=True,
        )
    order = list(dict.fromkeys(metrics["metric"]))
    return (
        alt.Chart(data)
        .mark_line(point=alt.OverlayMarkDef(size=14))
        .encode(
            x=alt.X("generation:Q", title="generation", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            # The regime legend goes below the panels (beside three panels the page cut it off). Dashes
            # get no legend: Vega-Lite drew its symbols without colour; the page's caption says
            # dashed lines are the closed forms.
            color=alt.Color(
                "regime:N", scale=regime_colors(data["regime"]), title="regime", legend=alt.Legend(orient="bottom")
            ),
            strokeDash=alt.StrokeDash(
                "kind:N",
                legend=None,
                scale=alt.Scale(domain=["simulated", "expected (closed form)"], range=[[1, 0], [5, 4]]),
            ),
            detail="kind:N",
            tooltip=["regime:N", "kind:N", "generation:Q", "metric:N", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(width=width, height=height)
        .facet(facet=alt.Facet("metric:N", title=None, sort=order), columns=columns)
        .resolve_scale(y="independent")
    )


def generation_histogram(histogram: pd.DataFrame) -> alt.LayerChart:
    """The Gaussian model's samples at one generation per regime (bars) against the real density (line).

    ``histogram``: the ``histogram`` snapshot rows of one generation (``regime, bin_start, bin_end,
    count, real_density``).
    """
    width = histogram["bin_end"] - histogram["bin_start"]
    totals = histogram.groupby("regime")["count"].transform("sum").clip(lower=1)
    table = histogram.assign(sample_density=histogram["count"] / totals / width)
    bars = (
        alt.Chart(table)
        .mark_bar(opacity=0.45, binSpacing=0)
        .encode(
            x=alt.X("bin_start:Q", title="x"),
            x2="bin_end:Q",
            y=alt.Y("sample_density:Q", title="density", stack=None),
            y2=alt.datum(0),
            color=alt.Color("regime:N", scale=_REGIME_COLORS),
            tooltip=["regime:N", alt.Tooltip("bin_start:Q", format=".2f"), "count:Q"],
        )
    )
    real = table.drop_duplicates("bin_start")
    line = (
        alt.Chart(real)
        .mark_line(color="black")
        .encode(x=alt.X("bin_start:Q"), y="real_density:Q", tooltip=[alt.Tooltip("real_density:Q", format=".3f")])
    )
    return alt.LayerChart(layer=[bars, line]).properties(
        title="Samples of this generation (bars) and the real distribution (black)", height=300
    )


def weight_bars(weights: pd.DataFrame) -> alt.LayerChart:
    """The regression model's fitted weights per regime at one generation, with the true weights as ticks."""
    bars = (
        alt.Chart(weights)
        .mark_bar()
        .encode(
            x=alt.X("feature:O", title="feature"),
            xOffset="regime:N",
            y=alt.Y("fitted:Q", title="weight"),
            color=alt.Color("regime:N", scale=_REGIME_COLORS),
            tooltip=[
                "regime:N",
                "feature:O",
                alt.Tooltip("fitted:Q", format=".3f"),
                alt.Tooltip("true:Q", format=".3f"),
            ],
        )
    )
    ticks = (
        alt.Chart(weights.drop_duplicates("feature"))
        .mark_tick(color="black", thickness=2)
        .encode(x="feature:O", y="true:Q")
    )
    return alt.LayerChart(layer=[bars, ticks]).properties(
        title="Fitted weights (bars) and the true weights (black ticks)", height=300
    )


def generation_scatter(points: pd.DataFrame) -> alt.Chart:
    """Real reference points (grey) and one generation's points per regime on a 2-D map
    (:func:`analysis.simulate.project_generations` rows of one generation plus the real rows)."""
    return (
        alt.Chart(points)
        .mark_circle(size=16, opacity=0.7)
        .encode(
            x=alt.X("x:Q", title="UMAP 1", axis=alt.Axis(labels=False, ticks=False), scale=alt.Scale(zero=False)),
            y=alt.Y("y:Q", title="UMAP 2", axis=alt.Axis(labels=False, ticks=False), scale=alt.Scale(zero=False)),
            color=alt.Color(
                "regime:N",
                scale=alt.Scale(
                    domain=["real", "replace", "accumulate", "mix"], range=["#c7c7c7", "#d62728", "#1f77b4", "#2ca02c"]
                ),
            ),
            order=alt.Order("layer:Q"),
            tooltip=["regime:N", "generation:Q"],
        )
        .transform_calculate(layer="datum.regime == 'real' ? 0 : 1")
        .properties(height=420)
    )


# --- Monitor -----------------------------------------------------------------------------------
