"""Colours every chart shares: a set keeps its colour from page to page, and many categories stay apart.

The ground floor of the charts: the map (:mod:`analysis.maps.mapview`) and the charts
(:mod:`analysis.views.charts`) both colour by these.
"""

from __future__ import annotations

import altair as alt

__all__ = ["set_colors", "palette"]

#: Real data in greys (darkest: the holdout reference; "real" light, so synthetic points read over it on a map),
#: synthetic sets in a categorical palette.
_REAL_COLORS = {"real": "#bdbdbd", "real holdout": "#2b2b2b", "real train": "#8c9aa3"}
_SYNTHETIC_COLORS = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
]


#: The categorical palette of labels, methods and generations (20 colours; :func:`palette` extends it).
_PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
]


def set_colors(names) -> alt.Scale:
    """The colour scale of set names, the same in every chart: a set keeps its colour from page to page.

    Real sets are grey; synthetic sets take the palette in sorted order of name, so "llm" has the
    same colour wherever the same sets are shown.
    """
    names = sorted({str(name) for name in names})
    synthetic = [name for name in names if name not in _REAL_COLORS]
    colors = {name: _SYNTHETIC_COLORS[i % len(_SYNTHETIC_COLORS)] for i, name in enumerate(synthetic)}
    colors.update({name: _REAL_COLORS[name] for name in names if name in _REAL_COLORS})
    return alt.Scale(domain=names, range=[colors[name] for name in names])


def palette(n: int) -> list[str]:
    """``n`` distinct colours: the 20 of the categorical palette, then hues a golden angle apart at three
    lightnesses (41 labels get 41 colours, not the palette twice)."""
    import colorsys

    extra = []
    for i in range(max(0, n - len(_PALETTE))):
        hue = (i * 0.381966) % 1.0
        lightness = (0.38, 0.55, 0.7)[i % 3]
        r, g, b = colorsys.hls_to_rgb(hue, lightness, 0.65)
        extra.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return (_PALETTE + extra)[:n]
