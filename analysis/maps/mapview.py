"""The Embedding map at any size: every point in a density image drawn on the server, a bounded payload.

A browser cannot take a million points as marks (Vega-Lite draws a few tens of thousands before it
stalls, and Streamlit ships every row over its websocket). So the map is an image: datashader
aggregates every point of the current extent into ``IMAGE_WIDTH`` × ``IMAGE_HEIGHT`` pixels, each
pixel coloured by the mix of categories (set, source, method, generation or label) that fall in it,
optionally over the binned synthetic − real difference. The PNG goes into an Altair chart as an
image mark spanning the extent on the chart's own x/y scales, so other layers (points where there
are few enough, real samples no synthetic sample covers, region names) sit on it in map
coordinates, and Altair's interval selection returns a box in map coordinates that the server
answers over all points (:func:`analysis.maps.explore.in_box`; a lasso, :func:`analysis.maps.explore.in_polygon`).

What the browser receives is bounded whatever the number of points: one PNG of at most
``IMAGE_WIDTH × IMAGE_HEIGHT`` pixels (base64 in the chart spec) plus at most ``POINT_LIMIT``
hoverable points and ``MARK_LIMIT`` ringed marks (:func:`payload_bytes` measures a chart).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

from analysis.colors import palette, set_colors

__all__ = [
    "MAP_SELECTION",
    "map_tooltip",
    "IMAGE_WIDTH",
    "IMAGE_HEIGHT",
    "POINT_LIMIT",
    "MARK_LIMIT",
    "DENSITY_CELL",
    "OTHERS",
    "Extent",
    "color_key",
    "data_uri",
    "density_image",
    "map_chart",
    "map_image",
    "points_map",
    "ringed",
    "payload_bytes",
]

#: The box selection's name on the map; the page reads ``event.selection[MAP_SELECTION]``.
MAP_SELECTION = "box"
#: Pixels of the density image (the chart's plotting area is drawn at this size).
IMAGE_WIDTH, IMAGE_HEIGHT = 1100, 640
#: Hoverable points drawn on top of the image when the extent holds this many or fewer.
POINT_LIMIT = 3_000
#: Ringed marks (e.g. uncovered real samples) drawn at most; above it a seeded sample of them.
MARK_LIMIT = 2_000
#: The category of the points a highlight leaves out (drawn grey under the highlighted ones).
OTHERS = "(others)"
_OTHERS_GREY = "#d4d4d4"
#: Points in view below which each is drawn 3 × 3 pixels instead of one (the demo's 13,633 are; a million are not).
SPREAD_BELOW = 60_000
#: Pixels per side of a cell of the density layers (synthetic − real, real, synthetic).
DENSITY_CELL = 16


@dataclass(frozen=True)
class Extent:
    """A rectangle of the map, in map coordinates: x from ``x0`` to ``x1``, y from ``y0`` to ``y1``."""

    x0: float
    x1: float
    y0: float
    y1: float

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray, *, pad: float = 0.02) -> Extent:
        """The smallest extent holding every point, widened by ``pad`` of its size on each side."""
        x0, x1, y0, y1 = float(np.min(x)), float(np.max(x)), float(np.min(y)), float(np.max(y))
        dx, dy = max(x1 - x0, 1e-6) * pad, max(y1 - y0, 1e-6) * pad
        return cls(x0 - dx, x1 + dx, y0 - dy, y1 + dy)

    @classmethod
    def of_box(cls, box: dict | None) -> Extent | None:
        """The extent of a Vega-Lite interval selection (``{"x": [a, b], "y": [c, d]}``), None without one."""
        if not box or len(box.get("x") or ()) != 2 or len(box.get("y") or ()) != 2:
            return None
        (x0, x1), (y0, y1) = sorted(map(float, box["x"])), sorted(map(float, box["y"]))
        if not (x1 > x0 and y1 > y0):
            return None
        return cls(x0, x1, y0, y1)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Mask of the points inside (edges included)."""
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


def map_tooltip() -> list[alt.Tooltip]:
    """The hover of a point on the map: its text (plain), set, label, generation and id."""
    return [
        alt.Tooltip("hover:N", title="text"),
        alt.Tooltip("set:N"),
        alt.Tooltip("label:N"),
        alt.Tooltip("generation:Q"),
        alt.Tooltip("id:N"),
    ]


def color_key(values: pd.Series, by: str) -> dict[str, str]:
    """Colour of each category of ``values``: the sets' colours of :func:`analysis.colors.set_colors`
    for ``by="set"`` (a set keeps its colour from page to page), a fixed palette in sorted order otherwise."""
    names = sorted({str(value) for value in pd.unique(values)})
    if by == "set":
        scale = set_colors(names)
        return dict(zip(scale.domain, scale.range))
    return dict(zip(names, palette(len(names))))


def _canvas(extent: Extent, width: int, height: int):
    import datashader as ds

    return ds.Canvas(
        plot_width=width, plot_height=height, x_range=(extent.x0, extent.x1), y_range=(extent.y0, extent.y1)
    )


def _rgb(color: str) -> list[int]:
    return [int(color[i : i + 2], 16) for i in (1, 3, 5)]


def _category_rgba(frame: pd.DataFrame, extent: Extent, colors: dict[str, str], width: int, height: int) -> np.ndarray:
    """(height, width, 4) uint8 image, top row = largest y: each pixel the count-weighted mix of its
    categories' colours, opacity rising with the logarithm of its count (so a lone point still shows).

    datashader aggregates (``count_cat``); the shading is a few array operations here, several
    times cheaper than ``tf.shade`` with histogram equalisation at this size.
    """
    import datashader as ds

    aggregate = _canvas(extent, width, height).points(frame, "x", "y", agg=ds.count_cat("category"))
    counts = np.asarray(aggregate.values, dtype=np.float32)  # (height, width, categories), row 0 = smallest y
    if len(frame) <= SPREAD_BELOW:  # few points: each one 3 × 3 pixels, or a lone point is a speck on the page
        from scipy.ndimage import uniform_filter

        counts = uniform_filter(counts, size=(3, 3, 1), mode="constant") * 9
    palette = np.array([_rgb(colors[str(name)]) for name in aggregate.coords["category"].values], np.float32)
    total = counts.sum(axis=2)
    rgb = (counts @ palette) / np.maximum(total, 1.0)[..., None]
    top = float(total.max()) or 1.0
    alpha = np.where(total > 0, 110 + 145 * np.log1p(total) / np.log1p(top), 0.0)
    image = np.concatenate([rgb, alpha[..., None]], axis=2)[::-1]
    return np.ascontiguousarray(image.round().astype(np.uint8))


def _layer_rgba(
    frame: pd.DataFrame, extent: Extent, layer: str, width: int, height: int, cell: int = DENSITY_CELL
) -> np.ndarray:
    """The density layer as (height, width, 4) uint8, top row = largest y.

    Cells of ``cell`` pixels; ``difference`` = share of the chosen synthetic points in the cell −
    share of the real points (red where synthetic piles up, blue where real data lives and
    synthetic rarely goes), ``real`` / ``synthetic`` = that share in greys. Shares are of the
    points inside the extent, so a zoomed map shows the difference of what it shows.
    """
    import datashader as ds

    columns, rows = max(1, width // cell), max(1, height // cell)
    counts = _canvas(extent, columns, rows).points(frame, "x", "y", agg=ds.count_cat("role"))
    values = np.asarray(counts.transpose(*counts.dims[:2], "role").values, dtype=np.float64)  # (rows, cols, roles)
    roles = list(counts.coords["role"].values)
    real = values[..., roles.index("real")]
    synthetic = values[..., roles.index("synthetic")]
    real_share = real / max(real.sum(), 1.0)
    synthetic_share = synthetic / max(synthetic.sum(), 1.0)
    rgba = np.zeros((rows, columns, 4), dtype=np.float64)
    if layer == "difference":
        value = synthetic_share - real_share
        limit = np.abs(value).max() or 1.0
        strength = np.sqrt(np.abs(value) / limit)
        rgba[..., :3] = np.where(value[..., None] > 0, [214, 39, 40], [31, 119, 180])
    else:
        value = real_share if layer == "real" else synthetic_share
        strength = np.sqrt(value / (value.max() or 1.0))
        rgba[..., :3] = 60
    rgba[..., 3] = 140 * strength
    rgba = rgba[::-1].astype(np.uint8)  # row 0 of the aggregate is the smallest y; of an image, the top
    # each cell becomes cell × cell pixels (nearest), then the image is cut to the full size
    big = np.repeat(np.repeat(rgba, cell, axis=0), cell, axis=1)
    out = np.zeros((height, width, 4), dtype=np.uint8)
    out[: big.shape[0], : big.shape[1]] = big[:height, :width]
    return out


def _over(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top`` composited over ``bottom`` (both RGBA uint8, straight alpha)."""
    a_top = top[..., 3:4] / 255.0
    a_bottom = bottom[..., 3:4] / 255.0
    alpha = a_top + a_bottom * (1 - a_top)
    rgb = (top[..., :3] * a_top + bottom[..., :3] * a_bottom * (1 - a_top)) / np.maximum(alpha, 1e-9)
    return np.concatenate([rgb, alpha * 255], axis=-1).round().astype(np.uint8)


def density_image(
    x: np.ndarray,
    y: np.ndarray,
    categories: pd.Series,
    colors: dict[str, str],
    extent: Extent,
    *,
    layer: str = "none",
    real: np.ndarray | None = None,
    synthetic: np.ndarray | None = None,
    width: int = IMAGE_WIDTH,
    height: int = IMAGE_HEIGHT,
) -> bytes:
    """A PNG of every point inside ``extent``: coloured by ``categories`` (one per point; ``colors``
    from :func:`color_key`), over the density ``layer`` (``none``, ``difference``, ``real`` or
    ``synthetic``; ``real`` and ``synthetic`` are masks over the points, needed for a layer).

    The image has ``width`` × ``height`` pixels whatever the number of points; its top row is the
    extent's largest y, its first column the smallest x, so it spans the extent on a chart's scales.
    """
    from PIL import Image

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    frame = pd.DataFrame({"x": x, "y": y, "category": _categorical(categories, list(colors))})
    image = _category_rgba(frame, extent, colors, width, height)
    if layer != "none":
        if real is None or synthetic is None:
            raise ValueError("a density layer needs the real and synthetic masks")
        codes = np.where(np.asarray(synthetic, bool), 1, np.where(np.asarray(real, bool), 0, 2)).astype(np.int8)
        frame["role"] = pd.Categorical.from_codes(codes, categories=["real", "synthetic", "other"])
        image = _over(_layer_rgba(frame, extent, layer, width, height), image)  # the cells tint the points
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGBA").save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _categorical(values: pd.Series, names: list[str]) -> pd.Categorical:
    """``values`` as a categorical over ``names`` (cheap when it is categorical already: codes are remapped)."""
    values = pd.Series(values)
    if isinstance(values.dtype, pd.CategoricalDtype):
        source = [str(name) for name in values.cat.categories]
        lookup = np.array([names.index(name) if name in names else -1 for name in source] + [-1])
        return pd.Categorical.from_codes(lookup[values.cat.codes.to_numpy()], categories=names)
    return pd.Categorical(values.astype(str), categories=names)


def data_uri(png: bytes) -> str:
    """The PNG as a ``data:`` URI (what an image mark's ``url`` takes; nothing is fetched)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def map_chart(
    png: bytes,
    extent: Extent,
    *,
    color_by: str,
    colors: dict[str, str],
    points: pd.DataFrame | None = None,
    marked: pd.DataFrame | None = None,
    marked_title: str = "marked",
    layers: list[alt.Chart] | None = None,
    height: int = 560,
) -> alt.LayerChart:
    """The map as an Altair layer chart in map coordinates: the density image spanning ``extent``,
    then ``points`` (hoverable; columns x, y, ``color_by``, hover, set, label, generation, id),
    ``marked`` points (black rings), and any further ``layers`` (e.g. region names as text marks
    on the same x/y fields). The box selection :data:`MAP_SELECTION` returns
    ``{"x": [a, b], "y": [c, d]}`` in map coordinates.
    """
    scale_x = alt.Scale(domain=[extent.x0, extent.x1], zero=False, nice=False)
    scale_y = alt.Scale(domain=[extent.y0, extent.y1], zero=False, nice=False)
    x = alt.X("x:Q", title="UMAP 1", axis=alt.Axis(labels=False, ticks=False, grid=False), scale=scale_x)
    y = alt.Y("y:Q", title="UMAP 2", axis=alt.Axis(labels=False, ticks=False, grid=False), scale=scale_y)
    box = alt.selection_interval(name=MAP_SELECTION, encodings=["x", "y"])
    image = (
        alt.Chart(
            pd.DataFrame(
                {"x": [extent.x0], "x2": [extent.x1], "y": [extent.y0], "y2": [extent.y1], "url": [data_uri(png)]}
            )
        )
        .mark_image(aspect=False, align="left", baseline="bottom")
        .encode(x=x, x2="x2:Q", y=y, y2="y2:Q", url="url:N")
        .add_params(box)
    )
    domain = list(colors)
    color_scale = alt.Scale(domain=domain, range=[colors[name] for name in domain])
    # the colour key: one invisible point per category (the image itself has no legend)
    key = (
        alt.Chart(pd.DataFrame({color_by: domain, "x": extent.x0, "y": extent.y0}))
        .mark_point(opacity=0, filled=True, size=1)
        .encode(
            x=x,
            y=y,
            color=alt.Color(f"{color_by}:N", scale=color_scale, title=color_by, legend=alt.Legend(symbolOpacity=1)),
        )
    )
    tooltip = map_tooltip()
    charts: list[alt.Chart] = [image, key]
    if points is not None and not points.empty:
        used = list(dict.fromkeys(["x", "y", color_by, "hover", "set", "label", "generation", "id"]))
        charts.append(
            alt.Chart(points[used].assign(**{color_by: points[color_by].astype(str)}))
            .mark_circle(size=22, opacity=0.85, stroke="white", strokeWidth=0.4, clip=True)
            .encode(x=x, y=y, color=alt.Color(f"{color_by}:N", scale=color_scale, legend=None), tooltip=tooltip)
        )
    if marked is not None and not marked.empty:
        used = list(dict.fromkeys(["x", "y", "hover", "set", "label", "generation", "id"]))
        charts.append(
            alt.Chart(marked[used].assign(mark=marked_title))
            .mark_point(shape="circle", size=60, filled=False, strokeWidth=1.4, color="black", clip=True)
            .encode(x=x, y=y, tooltip=tooltip, shape=alt.Shape("mark:N", title=None))
        )
    charts.extend(layers or [])
    return alt.LayerChart(layer=charts).properties(height=height)


def map_image(
    points: pd.DataFrame,
    *,
    color_by: str = "set",
    extent: Extent | None = None,
    layer: str = "none",
    highlight: np.ndarray | None = None,
) -> tuple[bytes, dict[str, str], pd.Categorical, Extent]:
    """The density image of ``points`` as :func:`points_map` draws it, for any renderer: (the PNG, the colour of
    each category, each point's category, the extent it spans). With a ``highlight`` mask the points it leaves
    out are the category :data:`OTHERS` (grey); the greying works on category codes, so a million points take
    milliseconds (their text is never built per point)."""
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    extent = extent if extent is not None else Extent.of(x, y)
    column = points[color_by].astype(str) if color_by == "generation" else points[color_by]
    categories = _categorical(column, sorted({str(value) for value in pd.unique(column)}))
    colors = color_key(pd.Series(categories.categories), color_by)
    if highlight is not None:
        highlight = np.asarray(highlight, dtype=bool)
        codes = np.where(highlight, categories.codes, len(categories.categories))
        kept = [str(name) for name in categories.categories] + [OTHERS]
        categories = pd.Categorical.from_codes(codes, categories=kept)
        present = set(np.asarray(kept, dtype=object)[np.unique(codes)])
        colors = {name: color for name, color in colors.items() if name in present} | {OTHERS: _OTHERS_GREY}
    real = (points["source"] == "real").to_numpy()
    png = density_image(x, y, categories, colors, extent, layer=layer, real=real, synthetic=~real)
    return png, colors, categories, extent


def points_map(
    points: pd.DataFrame,
    texts: pd.Series,
    *,
    color_by: str = "set",
    extent: Extent | None = None,
    layer: str = "none",
    marked: pd.DataFrame | None = None,
    marked_title: str = "marked",
    layers: list[alt.Chart] | None = None,
    highlight: np.ndarray | None = None,
    height: int = 560,
) -> alt.LayerChart:
    """The map of ``points`` (:func:`analysis.maps.explore.map_points`) at any size: every point inside
    ``extent`` (default: all of them) in the density image, over the density ``layer``; where
    :data:`POINT_LIMIT` or fewer are in view they are drawn as hoverable points too, their hover text
    cut from ``texts`` (the sample texts, by ``points["row"]``). With a ``highlight`` mask (a set or a
    label clicked, a search) the other points stay on the map in grey (:data:`OTHERS`), so the
    highlighted ones read against the whole. The Embedding map page and the notebook's
    :func:`analysis.views.api.explore` draw with it; :func:`map_chart` says what the chart holds;
    :func:`analysis.maps.lasso.lasso_figure` draws the same image for a lasso.
    """
    from analysis.maps.explore import hover_text

    png, colors, categories, extent = map_image(
        points, color_by=color_by, extent=extent, layer=layer, highlight=highlight
    )
    in_view = extent.contains(points["x"].to_numpy(), points["y"].to_numpy())
    shown = None
    if in_view.sum() <= POINT_LIMIT:
        shown = points[in_view]
        shown = shown.assign(
            hover=hover_text(texts.iloc[shown["row"].to_numpy()]).to_numpy(),
            **{color_by: np.asarray(categories[in_view], dtype=object)},
        )
    return map_chart(
        png, extent, color_by=color_by, colors=colors, points=shown, marked=marked, marked_title=marked_title,
        layers=layers, height=height,
    )  # fmt: skip


def ringed(points: pd.DataFrame, rows: np.ndarray, texts: pd.Series, extent: Extent) -> tuple[pd.DataFrame, int]:
    """The points of ``rows`` (index labels of ``points``) inside ``extent``, ready to ring on the map: at most
    :data:`MARK_LIMIT` (a seeded sample above it), each with its hover text; and how many were in view."""
    from analysis.maps.explore import hover_text

    marked = points.loc[rows]
    marked = marked[extent.contains(marked["x"].to_numpy(), marked["y"].to_numpy())]
    in_view = len(marked)
    if in_view > MARK_LIMIT:
        marked = marked.sample(MARK_LIMIT, random_state=0)
    return marked.assign(hover=hover_text(texts.iloc[marked["row"].to_numpy()]).to_numpy()), in_view


def payload_bytes(chart: alt.TopLevelMixin) -> int:
    """Bytes of the chart's Vega-Lite spec with its data inlined: what the page sends for the map."""
    return len(chart.to_json(indent=None).encode())
