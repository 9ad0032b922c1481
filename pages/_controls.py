"""Controls the pages share: widget state kept in the URL, the set and subset pickers, and downloads."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from analysis.export import csv_bytes
from analysis.views import charts
from pages._shared import plain
from pages._workspace import workspace, workspace_query


def url_state(prefix: str, defaults: dict[str, Any], *, limits: dict[str, Any] | None = None) -> dict[str, str]:
    """Widget state that lives in the URL's query parameters, so a shared link opens the same view.

    ``defaults`` maps each parameter name to its default (its type is the parameter's type);
    ``limits`` maps a name to ``(low, high)`` for numbers or to the allowed strings. A widget
    without a value (a new session, or a return to the page: Streamlit forgets the widgets of a
    page that is not shown) takes the URL's value where it is valid (invalid ones are ignored,
    with a note), else the value it had when the page was last shown, else the default. On every
    run the URL is rewritten from the current values. Returns name -> the widget's session key.
    """
    keys = {name: f"{prefix}_{name}" for name in defaults}
    limits = limits or {}
    kept = st.session_state.setdefault(f"{prefix}_kept", {})
    ignored = []
    for name, default in defaults.items():
        if keys[name] in st.session_state:
            continue
        value = kept.get(name, default)
        if name in st.query_params:
            raw = st.query_params[name]
            try:
                parsed = type(default)(raw)
                allowed = limits.get(name)
                if isinstance(allowed, tuple) and len(allowed) == 2 and not isinstance(allowed[0], str):
                    ok = allowed[0] <= parsed <= allowed[1]
                else:
                    ok = allowed is None or parsed in allowed
            except ValueError:
                ok = False
            if ok:
                value = parsed
            else:
                ignored.append(f"{name}={raw}")
        st.session_state[keys[name]] = value
    if ignored:
        st.toast(
            f"Ignored link settings that are out of range: {plain(', '.join(ignored))}.", icon=":material/link_off:"
        )
    kept.update({name: st.session_state[key] for name, key in keys.items()})
    st.query_params.from_dict({**workspace_query(), **{name: str(value) for name, value in kept.items()}})
    return keys


def subset_picker(samples: pd.DataFrame, *, key: str) -> pd.DataFrame:
    """A 'Samples' picker over the named subsets kept from the Embedding map; returns the rows to analyse."""
    subsets = workspace().subsets()
    if not subsets:
        return samples
    choice = st.selectbox(
        "Samples",
        ["all samples", *subsets],
        key=key,
        help="Named subsets are kept from a selection on the Embedding map.",
    )
    if choice == "all samples":
        return samples
    picked = samples["id"].astype(str).isin(set(subsets[choice]))
    holdout = (samples["source"] == "real") & (samples["split"] == "holdout")
    chosen = samples[picked | holdout]  # the holdout is the yardstick, whatever the subset
    st.caption(
        f"Subset **{plain(choice)}**: {int(picked.sum()):,} of {len(samples):,} samples, measured against all "
        f"{int(holdout.sum()):,} real holdout samples."
    )
    return chosen


def set_controls(samples: pd.DataFrame, *, key: str, size_help: str):
    """The controls the analysis pages share: which samples (a kept subset), samples per set, seed.

    Returns the chosen rows, the size (None: the smallest set), the seed and a free column for a
    page's own control; widget keys are ``<key>_subset``, ``<key>_size`` and ``<key>_seed``.
    """
    columns = st.columns([2, 1, 1, 1])
    with columns[0]:
        chosen = subset_picker(samples, key=f"{key}_subset")
    size = columns[1].number_input(
        "Samples per set (0 = smallest set)",
        0,
        100_000,
        0,
        step=100,
        key=f"{key}_size",
        help=f"Every set is subsampled to this size, because {size_help}.",
    )
    seed = columns[2].number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed")
    return chosen, int(size) or None, int(seed), columns[3]


def chart_downloads(chart, name: str, *, key: str) -> None:
    """PNG and SVG downloads of a chart, rendered only when clicked."""
    row = st.container(horizontal=True)
    row.download_button(
        "PNG",
        data=lambda: charts.to_png(chart),
        file_name=f"{name}.png",
        mime="image/png",
        key=f"{key}_png",
        icon=":material/download:",
    )
    row.download_button(
        "SVG",
        data=lambda: charts.to_svg(chart),
        file_name=f"{name}.svg",
        mime="image/svg+xml",
        key=f"{key}_svg",
        icon=":material/download:",
    )


def table_download(table: pd.DataFrame, name: str, *, key: str, label: str = "CSV") -> None:
    st.download_button(
        label, data=csv_bytes(table), file_name=f"{name}.csv", mime="text/csv", key=key, icon=":material/download:"
    )
