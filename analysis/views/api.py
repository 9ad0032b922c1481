"""The notebook-facing pieces of the public API: a comparison with its risks, the interactive map, chart export.

``import analysis as cl`` gives these next to the library's own functions (see
:mod:`analysis`); each result shows a readable, escaped HTML summary in Jupyter.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.display import chart_html, enable_offline_charts, escape, html_table, summary_html

__all__ = ["Comparison", "compare", "MapExplorer", "explore", "save_chart", "setup_notebook"]


def setup_notebook() -> None:
    """Set up a Jupyter kernel for Collapse Lab: charts that draw offline, the map's widget offline.

    Call once at the top of a notebook (see :func:`analysis.display.enable_offline_charts`).
    """
    enable_offline_charts()


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` returns: the tidy metric table and the collapse-risk rules that fire on it.

    Attributes
    ----------
    table
        :func:`analysis.judge.compare.compare`'s table: one row per (set, metric) with ``value``, its
        interval, direction and reference; ``real train`` is the baseline row.
    risks
        :func:`analysis.judge.risks.risks` of the table: one row per rule that fires, with its message.
    """

    table: pd.DataFrame
    risks: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def sets(self) -> list[str]:
        """The sets compared, the ``real train`` baseline first."""
        return list(dict.fromkeys(self.table["set"]))

    def wide(self) -> pd.DataFrame:
        """One row per set, one column per metric (the values), in the table's order."""
        from analysis.metrics.catalog import values_by_set

        return values_by_set(self.table)

    def in_words(self) -> list[str]:
        """The risks as sentences, a line per rule that fires: ``set: [severity] rule: message``."""
        if self.risks.empty:
            return ["No collapse-risk rule fires on any set."]
        return [f"{r.set}: [{r.severity}] {r.rule}: {r.message}" for r in self.risks.itertuples()]

    def _repr_html_(self) -> str:
        wide = self.wide()
        synthetic = [name for name in self.sets if name != "real train"]
        alarms = int((self.risks.get("severity", pd.Series(dtype=str)) == "alarm").sum())
        figures = {
            "synthetic sets": len(synthetic),
            "metrics": wide.shape[1],
            "samples per set": int(self.table["n"].iloc[0]) if "n" in self.table and len(self.table) else 0,
            "rules fired": len(self.risks),
            "alarms": alarms,
        }
        key = [
            m for m in ("distinct-2", "coverage", "tail coverage (rarest 10%)", "centroid shift") if m in wide.columns
        ]
        sections = [("Key metrics (all metrics: .table, .wide())", html_table(wide[key].reset_index()))]
        if len(self.risks):
            items = "".join(
                f'<li class="cl-{escape(r.severity)}">{escape(r.set)}: [{escape(r.severity)}] '
                f"{escape(r.rule)}: {escape(r.message)}</li>"
                for r in self.risks.head(30).itertuples()
            )
            more = f"<li>… {len(self.risks) - 30} more (.risks)</li>" if len(self.risks) > 30 else ""
            sections.append(("Collapse risks", f"<ul>{items}{more}</ul>"))
        else:
            sections.append(("Collapse risks", "<p>No rule fires.</p>"))
        return summary_html("Comparison against the real holdout", figures, sections)


def compare(
    samples: pd.DataFrame,
    embeddings: np.ndarray | None = None,
    *,
    rules: str | Path | list[dict[str, Any]] | None = None,
    **options: Any,
) -> Comparison:
    """Score every synthetic set against the real holdout and apply the collapse-risk rules.

    ``options`` go to :func:`analysis.judge.compare.compare` (``size``, ``seed``, ``k``, ``bins``,
    ``with_mauve``, ``with_utility``, ...); ``rules`` to :func:`analysis.judge.risks.risks` (default: the
    shipped ``risk_rules.toml``). Returns a :class:`Comparison`: ``.table`` is compare's table as is.
    """
    from analysis.judge.compare import compare as compare_table
    from analysis.judge.risks import risks

    table = compare_table(samples, embeddings=embeddings, **options)
    return Comparison(table=table, risks=risks(table, rules))


class MapExplorer:
    """Every sample on the 2-D map, interactive in Jupyter: drag a box, then read the samples in it.

    Shown in a notebook it is an ``alt.JupyterChart`` (a widget that talks to the kernel, no other
    server): drag a box on the map and :meth:`selected` returns the samples inside it. nbconvert's
    static HTML shows the same chart without the selection. The chart is the app's
    (:func:`analysis.maps.mapview.points_map`): every point in a density image drawn in the kernel, so it
    displays at any size, a million samples included, without Altair's row limit.

    Attributes
    ----------
    samples
        The sample table, index reset (``points["row"]`` is a position in it).
    points
        :func:`analysis.maps.explore.map_points`: one row per sample with its ``x``, ``y`` and ``set``.
    chart
        The Altair chart drawn: the density image of every point, hoverable points where few enough.
    """

    def __init__(self, samples: pd.DataFrame, points: pd.DataFrame, chart: Any) -> None:
        self.samples = samples.reset_index(drop=True)
        self.points = points
        self.chart = chart
        self._widget: Any = None

    @property
    def widget(self) -> Any:
        """The ``alt.JupyterChart`` widget of :attr:`chart` (made on first use; needs anywidget)."""
        if self._widget is None:
            import altair as alt

            self._widget = alt.JupyterChart(self.chart)
        return self._widget

    def selection(self) -> dict[str, list[float]] | None:
        """The box dragged on the map, ``{"x": [x0, x1], "y": [y0, y1]}``, or None."""
        from analysis.maps.mapview import MAP_SELECTION

        if self._widget is None:
            return None
        value = getattr(self._widget.selections, MAP_SELECTION).value
        return dict(value) if value else None

    def selected(self, box: dict[str, list[float]] | None = None) -> pd.DataFrame:
        """The samples inside ``box`` (default: the box dragged on the map): rows of :attr:`samples`, all points.

        Every sample counts, not only the ones drawn. Empty when nothing is selected.
        """
        from analysis.maps.explore import in_box

        box = box if box is not None else self.selection()
        mask = in_box(self.points, box)
        rows = self.points.loc[mask, "row"].to_numpy()
        return self.samples.iloc[rows].assign(set=self.points.loc[mask, "set"].to_numpy())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {}
        with contextlib.suppress(ImportError):  # no anywidget: the static chart only
            widget = self.widget._repr_mimebundle_()
            bundle.update(widget[0] if isinstance(widget, tuple) else widget)  # ipywidgets: (data, metadata)
        bundle["text/html"] = chart_html(self.chart)
        bundle["text/plain"] = f"<MapExplorer: {len(self.points):,} samples; drag a box, then .selected()>"
        return bundle


def explore(
    samples: pd.DataFrame,
    embeddings: np.ndarray | None = None,
    *,
    xy: np.ndarray | None = None,
    color_by: str = "set",
    height: int = 460,
    **project_options: Any,
) -> MapExplorer:
    """The embedding map of ``samples`` as a :class:`MapExplorer` (interactive in Jupyter).

    Parameters
    ----------
    embeddings
        Rows aligned with ``samples``; default :func:`analysis.vectors.embed.embed` (cached).
    xy
        The 2-D map; default :func:`analysis.maps.project.project` of the embeddings (cached on disk),
        with ``project_options`` (``n_neighbors``, ``min_dist``, ``seed``, ``fit_rows``).
    color_by
        ``set``, ``source``, ``method``, ``generation`` or ``label``.
    """
    from analysis.maps.explore import map_points
    from analysis.maps.mapview import points_map

    samples = samples.reset_index(drop=True)
    if xy is None:
        if embeddings is None:
            from analysis.vectors.embed import embed

            embeddings = embed(samples["text"])
        from analysis.maps.project import project

        xy = project(embeddings, **project_options)
    points = map_points(samples, np.asarray(xy), hover=False)
    return MapExplorer(samples, points, points_map(points, samples["text"], color_by=color_by, height=height))


def save_chart(chart: Any, path: str | Path) -> Path:
    """Write a chart as PNG or SVG (rendered offline by vl-convert) or as offline HTML, by the extension."""
    from analysis.errors import CollapseLabError

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        from analysis.views.charts import to_png

        path.write_bytes(to_png(chart))
    elif suffix == ".svg":
        from analysis.views.charts import to_svg

        path.write_text(to_svg(chart), encoding="utf-8")
    elif suffix in (".html", ".htm"):
        page = f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{chart_html(chart)}</body></html>'
        path.write_text(page, encoding="utf-8")
    else:
        raise CollapseLabError(
            f"{path}: cannot save a chart as {suffix or 'a file without extension'}; use .png, .svg or .html."
        )
    return path
