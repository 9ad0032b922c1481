"""The Embedding map for a lasso: the same server-drawn image in a Plotly figure, whose selections include a lasso.

Vega-Lite (the Altair map of :mod:`analysis.maps.mapview`) selects with a box only. Plotly selects with a box and a
lasso, and Streamlit's ``st.plotly_chart(..., on_select="rerun")`` returns either shape in data coordinates. So the
figure here shows the map's density image (:func:`analysis.maps.mapview.map_image`: every point, drawn on the
server) as a layout image spanning the extent on the figure's own axes, under a seeded sample of at most
:data:`LASSO_POINTS` nearly invisible points: Plotly draws a lasso over a trace it can select from, and these are
the only points the browser gets. The shape it returns is applied to every point on the server
(:func:`analysis.maps.explore.selection_mask`), so the answer counts all points, not the sample.

What the browser receives is bounded whatever the number of points: the PNG, at most :data:`LASSO_POINTS` points
(coordinates only, no text) and the region names (:func:`figure_bytes` measures a figure).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.maps.mapview import Extent, data_uri

__all__ = ["LASSO_POINTS", "lasso_figure", "selection_extent", "figure_bytes"]

#: Points the figure carries at most (a seeded sample of those in view): something for Plotly's lasso to select.
LASSO_POINTS = 3_000
#: Opacity of the sample's points: the image shows the map; the points are there to be lassoed.
_FAINT = 0.03


def lasso_figure(
    png: bytes,
    extent: Extent,
    colors: dict[str, str],
    points: pd.DataFrame,
    *,
    names: pd.DataFrame | None = None,
    color_by: str = "set",
    sample: int = LASSO_POINTS,
    height: int = 560,
    seed: int = 0,
) -> go.Figure:
    """A Plotly figure of the map image ``png`` (:func:`analysis.maps.mapview.map_image`) spanning ``extent``.

    ``colors`` gives the legend (one entry per category, as the Altair map's key); of ``points`` (columns x and
    y) at most ``sample`` inside the extent are drawn, nearly invisible, a seeded choice; ``names`` (columns x, y,
    name: :func:`analysis.maps.regions.label_positions`) are written on the map as plain text. The drag mode is
    the lasso; the box is one click away in the mode bar. Axes are fixed to the extent (zoom is the page's).
    """
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    in_view = np.flatnonzero(extent.contains(x, y))
    if len(in_view) > sample:
        in_view = np.sort(np.random.default_rng(seed).choice(in_view, sample, replace=False))
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=x[in_view].astype(float),
            y=y[in_view].astype(float),
            mode="markers",
            name="samples",
            showlegend=False,
            hoverinfo="skip",
            marker={"size": 5, "color": "#333333", "opacity": _FAINT},
            selected={"marker": {"opacity": _FAINT}},
            unselected={"marker": {"opacity": _FAINT}},
        )
    )
    for category, color in colors.items():  # the colour key: an empty trace per category (the image has no legend)
        figure.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="markers", name=category, marker={"size": 9, "color": color},
                hoverinfo="skip", legendgroup=category,
            )
        )  # fmt: skip
    annotations = [
        {
            "x": float(row.x),
            "y": float(row.y),
            "text": html.escape(str(row.name)),  # Plotly reads a few tags in text: a name is shown as it is
            "showarrow": False,
            "font": {"size": 12, "color": "#1a1a1a", "weight": "bold"},
            "bgcolor": "rgba(255,255,255,0.6)",
        }
        for row in (names.itertuples() if names is not None else ())
    ]
    axis = {"showgrid": False, "zeroline": False, "showticklabels": False, "ticks": "", "fixedrange": True}
    figure.update_layout(
        height=height,
        dragmode="lasso",
        margin={"l": 30, "r": 10, "t": 10, "b": 30},
        plot_bgcolor="white",
        legend={"title": {"text": color_by}, "itemclick": False, "itemdoubleclick": False},
        xaxis={**axis, "title": {"text": "UMAP 1"}, "range": [extent.x0, extent.x1]},
        yaxis={**axis, "title": {"text": "UMAP 2"}, "range": [extent.y0, extent.y1]},
        images=[
            {
                "source": data_uri(png),
                "xref": "x",
                "yref": "y",
                "x": extent.x0,
                "y": extent.y1,
                "sizex": extent.x1 - extent.x0,
                "sizey": extent.y1 - extent.y0,
                "xanchor": "left",
                "yanchor": "top",
                "sizing": "stretch",
                "layer": "below",
            }
        ],
        annotations=annotations,
        newselection={"line": {"color": "#1a1a1a", "width": 2, "dash": "dot"}},
    )
    return figure


def figure_bytes(figure: go.Figure) -> int:
    """Bytes of the figure's JSON as Streamlit sends it (``plotly.io.to_json``): what the lasso map costs."""
    import plotly.io

    return len(plotly.io.to_json(figure, validate=False).encode())


def selection_extent(selection: dict | None) -> Extent | None:
    """The smallest extent holding every box and lasso of a Plotly selection (what "Zoom to selection" shows),
    None without one."""
    xs: list[float] = []
    ys: list[float] = []
    for shape in [*((selection or {}).get("box") or ()), *((selection or {}).get("lasso") or ())]:
        xs.extend(float(value) for value in shape.get("x") or ())
        ys.extend(float(value) for value in shape.get("y") or ())
    if not xs or not ys:
        return None
    return Extent.of_box({"x": [min(xs), max(xs)], "y": [min(ys), max(ys)]})
