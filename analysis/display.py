"""Rich display in Jupyter: escaped HTML summaries of results, and Altair charts that render offline.

Every ``_repr_html_`` of the library's result types (a comparison, a mixture, a simulation run,
a monitor history) is built from the helpers here, so all of them escape every piece of text
they show (sample text, set and file names) with :func:`html.escape`: a ``<script>`` in a sample
is shown as text, never run.

Charts: Altair's default renderer loads Vega from a CDN, which shows nothing offline. What works
with no network (nbconvert 7.17's HTML checked in headless Chromium with other hosts refused;
JupyterLab 4.6 from its renderer registry; Altair 6.3):

- ``"default"`` / ``"html"``: Vega from a CDN: blank offline, in JupyterLab and in nbconvert's HTML;
- ``"mimetype"`` / ``"jupyterlab"``: Vega-Lite **v6** JSON, which JupyterLab 4.6 does not render (its
  Vega renderer takes Vega-Lite v3-v5), and which nbclient refuses to store (not valid nbformat);
- ``"html"`` with ``template="inline"``: Vega bundled in the page, but every chart declares the same
  top-level constants, so only the first chart of a notebook draws;
- ``"jupyter"`` (``alt.JupyterChart``, an anywidget, offline through vl-convert): interactive in
  JupyterLab, but nbconvert's HTML needs the widget manager from a CDN, so it is blank there;
- :data:`RENDERER` (``"collapse-lab"``, registered by :func:`enable_offline_charts`): the Vega bundle
  of vl-convert inside each chart's own scope, loaded once per page: draws in JupyterLab and in
  nbconvert's HTML with no network, tooltips included (about 0.9 MB per chart).

The interactive map (:class:`analysis.views.api.MapExplorer`) is an ``alt.JupyterChart`` in offline mode,
with a static chart as the fallback that nbconvert's HTML shows.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "RENDERER",
    "escape",
    "format_value",
    "html_table",
    "summary_html",
    "chart_html",
    "enable_offline_charts",
    "simulation_html",
    "mixture_spec_html",
    "mixture_engine_html",
    "history_html",
]

#: The name of the offline Altair renderer :func:`enable_offline_charts` registers and enables.
RENDERER = "collapse-lab"

_STYLE = (
    "<style>.cl-summary{font-family:system-ui,sans-serif;font-size:13px;line-height:1.4;max-width:960px}"
    ".cl-summary h4{margin:.2em 0 .4em;font-size:15px}.cl-summary h5{margin:.8em 0 .3em;font-size:13px}"
    ".cl-figures{display:flex;flex-wrap:wrap;gap:6px 18px;margin:.3em 0 .6em}"
    ".cl-figure b{display:block;font-size:15px}.cl-figure span{color:#555;font-size:11px}"
    ".cl-summary table{border-collapse:collapse;font-size:12px}"
    ".cl-summary th,.cl-summary td{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}"
    ".cl-summary td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".cl-note{color:#555;font-size:12px}.cl-alarm{color:#b00020}.cl-warning{color:#a05a00}</style>"
)


def escape(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes too): safe inside an element and an attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def format_value(value: Any, *, digits: int = 4) -> str:
    """A number as a table shows it, NaN as "–", anything else as text.

    Integers in full (thousands separated); a float with ``digits`` significant digits, trailing zeros kept, so
    a column of metrics reads alike (``1.000``, ``0.9611``, ``160.7``), and from 1,000 up as a whole number
    (``12,346``); below 0.001 in exponent notation (``1.000e-05``).
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "–"
        text = f"{value:#.{digits}g}"
        return f"{value:,.0f}" if abs(float(text)) >= 10**digits / 10 or math.isinf(value) else text
    return str(value)


def html_table(
    frame: pd.DataFrame,
    *,
    max_rows: int = 20,
    max_chars: int = 200,
    columns: Sequence[str] | None = None,
    digits: int = 4,
) -> str:
    """An HTML table of ``frame``: every header and cell escaped, long text cut at ``max_chars``.

    At most ``max_rows`` rows are shown; a note says how many were left out.
    """
    frame = frame if columns is None else frame[list(columns)]
    shown = frame.head(max_rows)
    head = "".join(f"<th>{escape(column)}</th>" for column in shown.columns)
    rows = []
    for record in shown.itertuples(index=False):
        cells = []
        for value in record:
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            text = format_value(value, digits=digits)
            if len(text) > max_chars:
                text = text[: max_chars - 1] + "…"
            cells.append(f"<td{' class=num' if numeric else ''}>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if len(frame) > max_rows:
        more = f'<p class="cl-note">{len(frame) - max_rows:,} more rows not shown ({len(frame):,} in all).</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def summary_html(
    title: str,
    figures: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
    sections: Iterable[tuple[str, str]] = (),
    *,
    note: str = "",
) -> str:
    """A small card: an escaped ``title``, key ``figures`` (label → value), then ``sections``.

    ``sections`` are ``(heading, html)`` pairs: the heading is escaped; the html must already be
    escaped (build it with :func:`html_table` or :func:`escape`). ``note`` is plain text.
    """
    items = figures.items() if isinstance(figures, Mapping) else figures
    figure_html = "".join(
        f'<div class="cl-figure"><b>{escape(format_value(value))}</b><span>{escape(label)}</span></div>'
        for label, value in items
    )
    parts = [_STYLE, '<div class="cl-summary">', f"<h4>{escape(title)}</h4>"]
    if figure_html:
        parts.append(f'<div class="cl-figures">{figure_html}</div>')
    for heading, body in sections:
        parts.append(f"<h5>{escape(heading)}</h5>{body}")
    if note:
        parts.append(f'<p class="cl-note">{escape(note)}</p>')
    parts.append("</div>")
    return "".join(parts)


@lru_cache(maxsize=1)
def _vega_bundle() -> str:
    """vl-convert's Vega + Vega-Lite + vega-embed bundle (defines ``window.vegaEmbed``), for offline pages."""
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    # vl_convert's stub marks ``snippet`` required, but at run time it defaults to None (the default
    # snippet, which sets window.vegaEmbed): signature (snippet=None, vl_version=None).
    bundle = vl_convert.javascript_bundle(vl_version=vl_version_for_vl_convert())  # type: ignore[call-arg]
    return bundle.replace("</script", "<\\/script")


def chart_html(spec: dict[str, Any] | Any, *, embed_options: dict[str, Any] | None = None) -> str:
    """A chart (an Altair chart or its Vega-Lite dict) as HTML that draws with no network.

    The Vega bundle runs inside a function scope and only when the page has no ``vegaEmbed`` yet,
    so any number of charts share one page (a notebook, nbconvert's HTML) without clashing.
    """
    if not isinstance(spec, dict):
        spec = spec.to_dict()
    div = f"cl-chart-{uuid.uuid4().hex}"
    spec_json = json.dumps(spec).replace("</", "<\\/")
    options = json.dumps({"actions": False, **(embed_options or {})})
    return (
        f'<div id="{div}"></div>\n<script type="text/javascript">\n'
        f"if (typeof window.vegaEmbed === 'undefined') {{ (function () {{\n{_vega_bundle()}\n}})(); }}\n"
        f"window.vegaEmbed('#{div}', {spec_json}, {options}).catch(function (error) {{\n"
        f"  document.getElementById('{div}').textContent = 'The chart could not be drawn: ' + error;\n}});\n"
        "</script>"
    )


def _renderer(spec: dict[str, Any], **metadata: Any) -> dict[str, str]:
    return {
        "text/html": chart_html(spec, embed_options=metadata.get("embed_options")),
        "text/plain": "<Altair chart: drawn by the collapse-lab renderer in a notebook's HTML output>",
    }


def enable_offline_charts() -> str:
    """Make Altair charts draw inline in Jupyter with no network; returns the renderer's name.

    Registers and enables :data:`RENDERER` (see the module docstring for why not Altair's own
    renderers) and puts ``alt.JupyterChart`` in offline mode (its JavaScript from vl-convert),
    for the interactive map. Call it once per kernel, before the first chart.
    """
    import altair as alt

    alt.renderers.register(RENDERER, _renderer)
    alt.renderers.enable(RENDERER)
    with contextlib.suppress(ImportError):  # anywidget is not installed: static charts still work
        alt.JupyterChart.enable_offline(offline=True)
    return RENDERER


# --- summaries of the library's result types (their ``_repr_html_`` calls these) ----------------------------------


def simulation_html(result: Any) -> str:
    """The HTML summary of an :class:`analysis.simulate.SimulationResult`: settings, first and last generation."""
    metrics = result.metrics
    wide = result.wide()
    last = int(wide["generation"].max()) if len(wide) else 0
    ends = wide[wide["generation"].isin([0, last])].sort_values(["regime", "generation"], kind="stable")
    figures = {
        "model": result.model,
        "regimes": ", ".join(result.regimes),
        "generations": result.generations,
        "n per generation": result.n,
        "seed": result.seed,
        "seconds": round(float(result.seconds), 2),
    }
    if "mix" in result.regimes:
        figures["real share (mix)"] = round(float(result.real_share), 3)
    sections = [(f"Generation 0 and {last}, per regime (all values: .metrics, .wide())", html_table(ends))]
    if result.params:
        params = pd.DataFrame(
            [(key, value) for key, value in result.params.items() if not isinstance(value, (pd.DataFrame, list))],
            columns=["parameter", "value"],
        )
        sections.append(("Parameters", html_table(params)))
    return summary_html(
        f"Collapse simulation: {result.model} model",
        figures,
        sections,
        note=f"{metrics['metric'].nunique()} metrics; the charts: "
        "analysis.views.charts.simulation_curves(result.metrics).",
    )


def mixture_spec_html(spec: Any, guardrail: tuple[str, str]) -> str:
    """The HTML summary of an :class:`analysis.mixture.MixtureSpec`: size, real share, weights, and the
    real share's ``guardrail`` (``(level, reason)`` of :func:`analysis.mixture.guardrail`)."""
    level, reason = guardrail
    real_rows = int(math.floor(spec.real_share * spec.size + 0.5))
    figures = {
        "rows": spec.size,
        "real share": f"{spec.real_share:.0%}",
        "real rows": real_rows,
        "synthetic rows": spec.size - real_rows,
        "strategy": spec.strategy,
        "seed": spec.seed,
    }
    weights = pd.DataFrame(sorted(spec.weights.items()), columns=["synthetic set", "weight"])
    body = html_table(weights) if len(weights) else "<p>Every synthetic set weighs the same.</p>"
    sections = [
        ("Weights", body),
        ("Guardrail", f'<p class="cl-{escape(level)}">{escape(level)}: {escape(reason)}</p>'),
    ]
    return summary_html("Mixture spec", figures, sections)


def mixture_engine_html(engine: Any) -> str:
    """The HTML summary of an :class:`analysis.mixture.MixtureEngine`: the sets it can mix and the reference."""
    names = list(getattr(engine, "set_names", []))
    sizes = list(getattr(engine, "group_sizes", [None] * len(names)))
    holdout = getattr(engine, "holdout_rows", ())
    figures = {
        "sets": len(names),
        "candidate rows": int(sum(s for s in sizes if s is not None)),
        "real holdout (reference)": len(holdout),
        "k": getattr(engine, "k", ""),
        "rarity bins": getattr(engine, "bins", ""),
    }
    table = pd.DataFrame({"set": names, "rows": [None if s is None else int(s) for s in sizes]})
    return summary_html(
        "Mixture engine",
        figures,
        [("Sets it draws from (real train first)", html_table(table))],
        note="engine.metrics(MixtureSpec(size=..., real_share=..., weights={...})) measures a mixture in milliseconds.",
    )


def history_html(history: pd.DataFrame, *, skipped: int = 0, title: str = "Monitor history") -> str:
    """The HTML summary of a monitor history (:data:`analysis.monitor.HISTORY_COLUMNS`): a row per snapshot."""
    if history is None or len(history) == 0:
        return summary_html(
            title, {"snapshots": 0}, note="No snapshot yet: Monitor.add_snapshot or add_folder adds one."
        )
    watched = [
        m
        for m in (
            "distinct-2",
            "entropy-1",
            "coverage",
            "tail coverage (rarest 10%)",
            "centroid shift",
            "perplexity on real",
        )
        if m in set(history["metric"])
    ]
    keys = ["series", "order", "snapshot", "generation"]
    wide = history[history["metric"].isin(watched)].pivot_table(
        index=keys, columns="metric", values="value", aggfunc="first", sort=False
    )
    wide = wide.reindex(columns=watched).reset_index().sort_values(["series", "order"], kind="stable")
    figures = {
        "series": history["series"].nunique(),
        "snapshots": history[["series", "snapshot"]].drop_duplicates().shape[0],
        "metrics": history["metric"].nunique(),
    }
    if skipped:
        figures["torn lines skipped"] = skipped
    return summary_html(title, figures, [("Watched metrics per snapshot (all: the table itself)", html_table(wide))])
