"""Altair chart builders: a DataFrame in, a chart out. Pages and the report share them."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

__all__ = ["count_bars", "length_histogram"]


def count_bars(table: pd.DataFrame, by: str, *, title: str | None = None) -> alt.Chart:
    """Horizontal bars of a :func:`analysis.summary.counts` table, largest first."""
    return (
        alt.Chart(table, title=title or f"Samples per {by}")
        .mark_bar()
        .encode(
            x=alt.X("samples:Q", title="samples"),
            y=alt.Y(f"{by}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=220)),
            tooltip=[alt.Tooltip(f"{by}:N"), alt.Tooltip("samples:Q", format=","), alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(height=alt.Step(22))
    )


def length_histogram(samples: pd.DataFrame, *, by: str = "method", bins: int = 40) -> alt.Chart:
    """Share of samples per text-length bin (words), one line per group, binned here not in the browser."""
    words = samples["text"].str.split().str.len()
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
