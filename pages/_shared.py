"""What every page shares: the current dataset (from the workspace) and errors shown as messages.

The workspace on disk is the source of truth, so a refresh or a restart of ``streamlit run``
shows the same dataset. Streamlit caching wraps the analysis calls here, at the page edge.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import streamlit as st

from analysis import charts, demo
from analysis.compare import CompareError
from analysis.corpus import CorpusError
from analysis.embed import EmbeddingError, cached_count, embed
from analysis.progress import ProgressMeter
from analysis.project import ProjectionError, cached_projection, project
from analysis.generate.backends import GenerationError
from analysis.mixture import MixturePreview
from analysis.workspace import Workspace, WorkspaceError
from analysis.export import csv_bytes

log = logging.getLogger("collapse_lab")

#: Errors whose message is written for the user: shown as they are.
USER_ERRORS: tuple[type[Exception], ...] = (
    CorpusError, WorkspaceError, EmbeddingError, GenerationError, CompareError, ProjectionError,
)


@contextlib.contextmanager
def user_errors(action: str) -> Iterator[None]:
    """Show any error raised inside as an ``st.error`` message, never as a traceback."""
    try:
        yield
    except USER_ERRORS as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception as exc:  # the app never shows a traceback; the log keeps it
        log.exception("%s failed", action)
        st.error(
            f"{action} failed: {type(exc).__name__}: {exc}. Nothing you loaded was lost; "
            f"the details are in the log of the terminal running the app.",
            icon=":material/error:",
        )


def workspace() -> Workspace:
    return Workspace()


@st.cache_data(show_spinner=False, max_entries=4)
def _read_workspace(root: str, sha256: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The saved dataset; keyed by its checksum so a new save is read once, then served from memory."""
    loaded = Workspace(root).load()
    if loaded is None or loaded[1]["sha256"] != sha256:
        raise WorkspaceError("The workspace changed while it was read. Reload the page.")
    return loaded


ROUTER_FLAG = "_collapse_lab_router"
_REDIRECT, _RESTORE_QUERY = "_collapse_lab_redirect", "_collapse_lab_restore_query"


def mark_router() -> None:
    """Called by app.py after st.navigation: this session runs through the router.

    Finishes a redirect that :func:`current_dataset` started: open the page the URL named, with
    the URL's query parameters (a shared link to a page keeps its settings).
    """
    st.session_state[ROUTER_FLAG] = True
    redirect = st.session_state.pop(_REDIRECT, None)
    if redirect:
        st.session_state[_RESTORE_QUERY] = redirect["query"]
        st.switch_page(redirect["page"])
    query = st.session_state.pop(_RESTORE_QUERY, None)
    if query:
        st.query_params.from_dict(query)


def current_dataset() -> tuple[pd.DataFrame, dict[str, Any]]:
    """The current dataset; on the very first run, the demo corpus. Stops the page on an error."""
    if ROUTER_FLAG not in st.session_state:
        # Streamlit runs a page file directly (its older pages/ mode) when the very first request
        # to a fresh server opens a page's URL; send it through the router in app.py, which then
        # opens this page with the same query parameters (mark_router).
        page = Path(inspect.stack()[1].filename).resolve().relative_to(Path(__file__).resolve().parents[1])
        st.session_state[_REDIRECT] = {"page": page.as_posix(), "query": st.query_params.to_dict()}
        st.switch_page("app.py")
    ws = workspace()
    try:
        manifest = ws.manifest()
        if manifest is None:
            with st.spinner("First start: loading the demo corpus…"):
                demo.save_demo(ws)
            manifest = ws.manifest()
        return _read_workspace(str(ws.root), manifest["sha256"])
    except (WorkspaceError, CorpusError) as exc:
        st.error(str(exc), icon=":material/error:")
        if st.button("Start again with the demo corpus", key="reset_workspace"):
            ws.clear()
            st.rerun()
        st.stop()


def sidebar_dataset() -> None:
    """The sidebar card: which dataset is current and what is in it."""
    with st.sidebar:
        try:
            manifest = workspace().manifest()
        except WorkspaceError:
            manifest = None
        st.markdown("**Current dataset**")
        if manifest is None:
            st.caption("None yet: the demo loads on the first page.")
            return
        st.text(manifest["name"])
        for part in manifest["parts"]:
            kind = part["source"] if part["source"] == "real" else f"synthetic, {part['method']}"
            st.text(f"{part['name']}: {part['rows']:,} {kind}")
        saved = manifest["saved_at"][:16].replace("T", " ")
        st.caption(f"{manifest['rows']:,} samples in all · saved {saved}")


# --- Work shared by the analysis pages ---------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=2)
def _embeddings(sha256: str, _texts: tuple[str, ...]) -> np.ndarray:
    """Kept per dataset checksum; the vectors come from the on-disk cache (filled by :func:`dataset_embeddings`)."""
    vectors = embed(list(_texts))
    vectors.setflags(write=False)
    return vectors


def dataset_embeddings(samples: pd.DataFrame, sha256: str) -> np.ndarray:
    """The dataset's embeddings; texts not yet in the cache are embedded first, with a progress bar."""
    texts = tuple(samples["text"])
    missing = len(set(texts)) - cached_count(texts)
    if missing > 0:
        bar = st.progress(0.0, text=f"Embedding {missing:,} samples not yet in the cache…")
        meter = ProgressMeter(len(texts), unit="samples")
        embed(texts, progress=lambda done, total: bar.progress(meter.fraction(done), text="Embedding: " + meter.text(done)))
        bar.empty()
    return _embeddings(sha256, texts)


@st.cache_resource(show_spinner=False, max_entries=4)
def _projection(sha256: str, fit_on_real: bool, params: tuple, _embeddings_: np.ndarray, _fit_rows) -> np.ndarray:
    return project(_embeddings_, fit_rows=_fit_rows, **dict(params))


_SERVED: dict[tuple, None] = {}  # maps _projection served lately: a rerun skips the disk check (a 21 MB hash)


def dataset_projection(samples: pd.DataFrame, embeddings: np.ndarray, sha256: str, *, fit_on_real: bool, **params) -> np.ndarray:
    """The 2-D map of the dataset: from memory, from the disk cache, or fitted now with a progress bar."""
    fit_rows = (samples["source"] == "real").to_numpy() if fit_on_real else None
    key = (sha256, fit_on_real, tuple(sorted(params.items())))
    if key not in _SERVED and cached_projection(embeddings, fit_rows=fit_rows, **params) is None:
        bar = st.progress(0.0, text=f"Fitting the UMAP map of {len(samples):,} samples (once; then it is cached)…")
        xy = project(embeddings, fit_rows=fit_rows, progress=lambda stage, fraction: bar.progress(fraction, text=f"UMAP: {stage}"), **params)
        bar.empty()
        return xy
    xy = _projection(*key, embeddings, fit_rows)
    _SERVED[key] = None
    while len(_SERVED) > 4:  # as many as _projection keeps
        _SERVED.pop(next(iter(_SERVED)))
    return xy


_PREVIEWS: dict[str, MixturePreview] = {}  # per server process, the last two datasets' mixture engines
_PREVIEW_LOCK = threading.Lock()


def mixture_preview(samples: pd.DataFrame, embeddings: np.ndarray, sha256: str) -> MixturePreview:
    """The mixture engine of the dataset: built once per server process (a progress bar meanwhile), then shared."""
    with _PREVIEW_LOCK:
        if sha256 not in _PREVIEWS:
            bar = st.progress(0.0, text=f"Precomputing neighbourhoods of {len(samples):,} samples (once per dataset)…")
            preview = MixturePreview(samples, embeddings, progress=lambda done, total: bar.progress(
                done / max(total, 1), text=f"Precomputing neighbourhoods: {done:,} of {total:,}…"))
            bar.empty()
            while len(_PREVIEWS) >= 2:
                _PREVIEWS.pop(next(iter(_PREVIEWS)))
            _PREVIEWS[sha256] = preview
        return _PREVIEWS[sha256]


def built_preview(sha256: str) -> MixturePreview | None:
    """The dataset's mixture engine if the Mixture designer built it in this server process, else None."""
    return _PREVIEWS.get(sha256)


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
        st.toast(f"Ignored link settings that are out of range: {', '.join(ignored)}.", icon=":material/link_off:")
    kept.update({name: st.session_state[key] for name, key in keys.items()})
    st.query_params.from_dict({name: str(value) for name, value in kept.items()})
    return keys

def subset_picker(samples: pd.DataFrame, *, key: str) -> pd.DataFrame:
    """A 'Samples' picker over the named subsets kept from the Embedding map; returns the rows to analyse."""
    subsets = workspace().subsets()
    if not subsets:
        return samples
    choice = st.selectbox(
        "Samples", ["all samples", *subsets], key=key,
        help="Named subsets are kept from a selection on the Embedding map.",
    )
    if choice == "all samples":
        return samples
    picked = samples["id"].astype(str).isin(set(subsets[choice]))
    holdout = (samples["source"] == "real") & (samples["split"] == "holdout")
    chosen = samples[picked | holdout]  # the holdout is the yardstick, whatever the subset
    st.caption(f"Subset **{choice}**: {int(picked.sum()):,} of {len(samples):,} samples, measured against all "
               f"{int(holdout.sum()):,} real holdout samples.")
    return chosen


def set_controls(samples: pd.DataFrame, *, key: str, size_help: str):
    """The controls the analysis pages share: which samples (a kept subset), samples per set, seed.

    Returns the chosen rows, the size (None: the smallest set), the seed and a free column for a
    page's own control; widget keys are ``<key>_subset``, ``<key>_size`` and ``<key>_seed``.
    """
    columns = st.columns([2, 1, 1, 1])
    with columns[0]:
        chosen = subset_picker(samples, key=f"{key}_subset")
    size = columns[1].number_input("Samples per set (0 = smallest set)", 0, 100_000, 0, step=100, key=f"{key}_size",
                                   help=f"Every set is subsampled to this size, because {size_help}.")
    seed = columns[2].number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed")
    return chosen, int(size) or None, int(seed), columns[3]


def chart_downloads(chart, name: str, *, key: str) -> None:
    """PNG and SVG downloads of a chart, rendered only when clicked."""
    row = st.container(horizontal=True)
    row.download_button("PNG", data=lambda: charts.to_png(chart), file_name=f"{name}.png", mime="image/png",
                         key=f"{key}_png", icon=":material/download:")
    row.download_button("SVG", data=lambda: charts.to_svg(chart), file_name=f"{name}.svg", mime="image/svg+xml",
                          key=f"{key}_svg", icon=":material/download:")


def table_download(table: pd.DataFrame, name: str, *, key: str, label: str = "CSV") -> None:
    st.download_button(label, data=csv_bytes(table), file_name=f"{name}.csv",
                       mime="text/csv", key=key, icon=":material/download:")
