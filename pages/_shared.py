"""What every page shares: the session's workspace, its current dataset, and errors shown as messages.

The workspace on disk is the source of truth, so a refresh or a restart of ``streamlit run``
shows the same dataset. Each browser session has its own private workspace, named by an
unguessable token kept in the page's URL (``?session=…``, which a refresh keeps); a team opens a
named shared workspace with ``?workspace=<name>`` or the sidebar. An empty workspace shows the
built-in demo, read once per server process. Streamlit caching wraps the analysis calls here, at
the page edge.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from analysis import demo
from analysis.errors import CollapseLabError
from analysis.export import csv_bytes
from analysis.io import bytes_sha256
from analysis.judge.compare import cached_compare
from analysis.maps.explore import set_names
from analysis.maps.project import cached_projection, project
from analysis.mixture import MixtureEngine
from analysis.once import run_once
from analysis.progress import ProgressMeter
from analysis.vectors.embed import PreparedTexts, cached_count, embed, model_id, prepare_texts
from analysis.views import charts
from analysis.workspace import (
    DEFAULT_SHARED,
    Workspace,
    WorkspaceDamaged,
    WorkspaceError,
    Workspaces,
    describe_version,
    valid_session_token,
    validate_workspace_name,
)

log = logging.getLogger("collapse_lab")


@contextlib.contextmanager
def user_errors(action: str) -> Iterator[None]:
    """Show any error raised inside as an ``st.error`` message, never as a traceback.

    A :class:`~analysis.errors.CollapseLabError` is written for the user and shown as it is; any
    other error is a bug: logged with its traceback, and the user is told so.
    """
    try:
        yield
    except CollapseLabError as exc:  # messages name files and sets: shown as plain text
        st.error(plain(exc), icon=":material/error:")
    except Exception as exc:  # the app never shows a traceback; the log keeps it
        log.exception("%s failed", action)
        st.error(
            plain(
                f"{action} failed: {type(exc).__name__}: {exc}. Nothing you loaded was lost; "
                f"the details are in the log of the terminal running the app."
            ),
            icon=":material/error:",
        )


# --- Which workspace: private to this session, or a named shared one ---------------------------

_WORKSPACE = "_collapse_lab_workspace"  # session state: {"private": token, "shared": name or None}
SESSION_PARAM, SHARED_PARAM = "session", "workspace"
BAD_NAME = "name is not a workspace name: use 1 to 64 letters, digits, '_' or '-' (for example team-review)."


def choose_workspace() -> None:
    """Called by app.py on every run: settle this session's workspace and keep it in the URL.

    The URL says which workspace a session uses, so a refresh (which starts a new Streamlit
    session but keeps the URL) opens the same one. Page switches drop the URL's query parameters;
    the session state puts them back.
    """
    state = st.session_state.setdefault(_WORKSPACE, {"private": None, "shared": None})
    token = st.query_params.get(SESSION_PARAM)
    if token is not None and token != state["private"]:
        if Workspaces().session_known(token):
            state["private"] = token
        elif not state["private"]:
            st.warning(unknown_session_message(token), icon=":material/link_off:")
    shared = st.query_params.get(SHARED_PARAM)
    if shared is not None:
        try:
            state["shared"] = validate_workspace_name(shared)
        except WorkspaceError:  # the name is not repeated: it is the link's text, not ours
            st.error(
                f"The link's workspace {BAD_NAME} This session's private workspace is open instead.",
                icon=":material/error:",
            )
            state["shared"] = None
    if not state["private"]:
        state["private"] = Workspaces().new_session()
    Workspaces().migrate_legacy()
    _sync_url()


def unknown_session_message(token: str) -> str:
    """What a link whose ``?session=`` names no workspace here opens, and why (the id itself is not shown)."""
    why = (
        "names no workspace on this server (it was removed, or the link is from another server)"
        if valid_session_token(token)
        else "is malformed (cut short or mistyped)"
    )
    return (
        f"The link's session {why}: a fresh private workspace was opened, with a new link. "
        "To reopen a workspace, use the full link it was opened with; a team shares a named workspace "
        "(?workspace=NAME) instead."
    )


def workspace_query() -> dict[str, str]:
    """The query parameter that names this session's workspace (what a refresh needs to reopen it)."""
    state = st.session_state.get(_WORKSPACE) or {}
    if state.get("shared"):
        return {SHARED_PARAM: state["shared"]}
    return {SESSION_PARAM: state["private"]} if state.get("private") else {}


def _sync_url() -> None:
    wanted = workspace_query()
    for name in (SESSION_PARAM, SHARED_PARAM):
        if name not in wanted and name in st.query_params:
            del st.query_params[name]
    for name, value in wanted.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value


def shared_workspace_name() -> str | None:
    """The name of the shared workspace this session opened, or None: its private one."""
    return (st.session_state.get(_WORKSPACE) or {}).get("shared")


def workspace() -> Workspace:
    """This session's workspace: its private one, or the shared one it opened."""
    if _WORKSPACE not in st.session_state:
        choose_workspace()
    state = st.session_state[_WORKSPACE]
    store = Workspaces()
    return store.shared(state["shared"]) if state["shared"] else store.session(state["private"])


def workspace_statement() -> str:
    """Who sees this session's workspace, in one sentence."""
    name = shared_workspace_name()
    if name:
        return f"Shared workspace '{name}': everyone who opens it sees and changes it."
    return (
        "Private workspace of this browser session: no other session sees or changes it. This page's "
        "link reopens it (a refresh keeps it); do not share that link."
    )


def _open_shared() -> None:
    """On click of the sidebar's Open: switch this session to the shared workspace typed in."""
    try:
        name = validate_workspace_name(st.session_state.get("shared_workspace_name", ""))
    except WorkspaceError:
        st.session_state["_workspace_switch_error"] = f"That {BAD_NAME}"
        return
    st.session_state[_WORKSPACE]["shared"] = name
    _sync_url()


def _leave_shared() -> None:
    st.session_state[_WORKSPACE]["shared"] = None
    _sync_url()


def sidebar_workspace() -> None:
    """The sidebar's workspace card: private or shared, and a way to open or leave a shared one."""
    name = shared_workspace_name()
    st.markdown("**Workspace**")
    if name:
        st.info(workspace_statement().replace("_", "\\_"), icon=":material/group:")
        st.caption(f"Others open it with the link ?workspace={name} or by its name here.".replace("_", "\\_"))
        st.button("Back to my private workspace", key="leave_shared", on_click=_leave_shared)
        return
    st.caption(workspace_statement())
    if Workspaces().shared(DEFAULT_SHARED).manifest_path.exists():
        st.caption(
            f"The shared workspace '{DEFAULT_SHARED}' holds a dataset (a workspace from an earlier version "
            f"of Collapse Lab is moved there)."
        )
    with st.expander("Open a shared workspace"):
        st.text_input(
            "Name",
            key="shared_workspace_name",
            placeholder="team-review",
            max_chars=64,
            help="Letters, digits, '_' and '-'. Everyone who opens a shared workspace by this name "
            "sees and changes it; your private workspace stays as it is.",
        )
        st.button("Open", key="open_shared", on_click=_open_shared)
        if error := st.session_state.pop("_workspace_switch_error", None):
            st.error(error, icon=":material/error:")


@st.cache_data(show_spinner=False, max_entries=4)
def _read_workspace(root: str, sha256: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The saved dataset; keyed by its checksum so a new save is read once, then served from memory."""
    loaded = Workspace(root).load()
    if loaded is None or loaded[1]["sha256"] != sha256:
        raise _Changed
    return loaded


class _Changed(Exception):
    """Another session of a shared workspace saved between reading its manifest and its samples."""


@st.cache_data(show_spinner="Loading the demo corpus…", max_entries=1)
def demo_dataset() -> tuple[pd.DataFrame, dict[str, Any]]:
    """The built-in demo, as a workspace saves and reads it; what an empty workspace shows (read once)."""
    with tempfile.TemporaryDirectory() as folder:
        scratch = Workspace(folder)
        demo.save_demo(scratch)
        loaded = scratch.load()
    if loaded is None:  # save_demo has just written the dataset, so an empty workspace is a bug
        raise RuntimeError("The demo dataset was not saved to the scratch workspace.")
    return loaded


def _dataset_of(ws: Workspace) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The workspace's dataset (the demo when it is empty); raises WorkspaceDamaged."""
    for _ in range(5):
        ws.subsets()
        manifest = ws.manifest()
        if manifest is None:
            return demo_dataset()
        try:
            return _read_workspace(str(ws.root), manifest["sha256"])
        except _Changed:
            continue
    raise WorkspaceError("The shared workspace keeps changing while it is read. Reload the page.")


ROUTER_FLAG = "_collapse_lab_router"
_APP_FOLDER = Path(__file__).resolve().parents[1]  # where app.py is; st.switch_page takes paths relative to it
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


def current_dataset(page: str | Path, *, needs_real: bool = True) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The current dataset; on the very first run, the demo corpus. Stops the page on an error.

    ``page`` is the calling script's file (``__file__``): a page run without the router is sent
    through it and back to this page. A page that ``needs_real`` samples (every analysis measures
    synthetic data against real data) stops with a message that says what to load when the dataset
    has none, instead of failing deep inside an analysis.
    """
    if ROUTER_FLAG not in st.session_state:
        # Streamlit runs a page file directly (its older pages/ mode) when the very first request
        # to a fresh server opens a page's URL; send it through the router in app.py, which then
        # opens this page with the same query parameters (mark_router).
        relative = Path(page).resolve().relative_to(_APP_FOLDER)
        st.session_state[_REDIRECT] = {"page": relative.as_posix(), "query": st.query_params.to_dict()}
        st.switch_page("app.py")
    ws = workspace()
    try:
        try:
            dataset = _dataset_of(ws)
        except WorkspaceDamaged as exc:
            # Moved aside (kept) and the last complete state restored; recovery_notice says so.
            ws.recover(str(exc))
            dataset = _dataset_of(ws)
    except CollapseLabError as exc:  # WorkspaceError, or a CorpusError from the demo files
        st.error(plain(exc), icon=":material/error:")
        if st.button("Start again with the demo corpus", key="reset_workspace"):
            ws.clear()
            st.rerun()
        st.stop()
    if needs_real and not (dataset[0]["source"] == "real").any():
        st.warning(no_real_message(dataset[0]), icon=":material/warning:")
        st.page_link("pages/data.py", label="Load real samples on the Data page", icon=":material/upload:")
        undo_button(dataset[1], key="undo_no_real")
        st.stop()
    return dataset


def _remember_version(key: str, version: str) -> None:
    st.session_state[f"{key}_seen_version"] = version


def button_on_version(manifest: dict[str, Any], label: str, *, key: str, **options: Any) -> str | None:
    """A button that changes the dataset: when clicked, the version (SHA-256) of the dataset the page showed
    at the click, else None. The click's rerun reads the workspace afresh, so in a shared workspace the
    page's ``manifest`` may already be another session's newer save; a replace or an undo checks against
    what the user saw."""
    if st.button(label, key=key, on_click=_remember_version, args=(key, manifest["sha256"]), **options):
        return st.session_state.pop(f"{key}_seen_version", manifest["sha256"])
    return None


def no_real_message(samples: pd.DataFrame) -> str:
    """What a dataset without real samples holds, why the analyses need real ones, and what to load."""
    if samples.empty:
        held = "no samples at all"
    else:
        sets = samples.groupby("method").size()
        held = "only synthetic samples (" + ", ".join(f"{plain(m)}: {n:,}" for m, n in sets.items()) + ")"
    return (
        f"The current dataset holds {held} and no real samples. Every analysis measures synthetic data against "
        f"real data, so there is nothing to compare with yet. On the Data page, load your real samples (Upload a "
        f"file, These samples are: real, then Add to the current dataset), or load the built-in demo; if a "
        f"load replaced your real samples, **Undo last change** brings them back."
    )


def undo_button(manifest: dict[str, Any], *, key: str) -> None:
    """'Undo last change': one click restores the dataset before the last load, replace or reset (the
    workspace keeps a few earlier versions); refused if another session changed the dataset meanwhile."""
    ws = workspace()
    history = ws.history()
    if not history:
        return
    earlier = describe_version(history[0])
    seen = button_on_version(
        manifest,
        "Undo last change",
        key=key,
        icon=":material/undo:",
        help=f"Restores the dataset as it was before the last change: {earlier}. The workspace keeps "
        f"{len(history)} earlier version(s).",
    )
    if seen is not None:
        with user_errors("Undoing the last change"):
            ws.undo(expected=seen, empty=demo_dataset)
            st.session_state["flash"] = f"Undone: the dataset is {plain(earlier)} again."
            st.rerun()


def recovery_notice() -> None:
    """After a damaged workspace was recovered: what happened, where the damaged copy is, how to get it back."""
    ws = workspace()
    note = ws.recovery_note()
    if note is None:
        return
    st.warning(note.message(), icon=":material/healing:")
    st.button(
        "Dismiss",
        key="dismiss_recovery",
        help="Hides this message; the damaged copy stays on disk.",
        on_click=ws.dismiss_recovery,
    )


def sidebar_dataset(manifest: dict[str, Any]) -> None:
    """The sidebar: the workspace, and which dataset is current and what is in it."""
    with st.sidebar:
        sidebar_workspace()
        st.markdown("**Current dataset**")
        st.text(manifest["name"])
        for part in manifest["parts"]:
            kind = part["source"] if part["source"] == "real" else f"synthetic, {part['method']}"
            st.text(f"{part['name']}: {part['rows']:,} {kind}")
        saved = manifest["saved_at"][:16].replace("T", " ")
        st.caption(f"{manifest['rows']:,} samples in all · saved {saved}")


# --- Work shared by the analysis pages ---------------------------------------------------------


class _DatasetVectors:
    """One dataset version's texts, prepared for the embedding cache (hashed once per process), and its vectors
    once every text has one: what every later run of every page returns, with no look at the cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: PreparedTexts | None = None
        self.vectors: np.ndarray | None = None  # read-only, set once complete

    def texts(self, samples: pd.DataFrame) -> PreparedTexts:
        with self._lock:  # a second session waits for the first one's hashing instead of repeating it
            if self._texts is None:
                self._texts = prepare_texts(samples["text"])
            return self._texts


@st.cache_resource(show_spinner=False, max_entries=2)
def _dataset_vectors(sha256: str, identity: str) -> _DatasetVectors:
    """Kept per dataset checksum and embedding identity (model and backend: a backend that falls back changes it)."""
    return _DatasetVectors()


def dataset_embeddings(samples: pd.DataFrame, sha256: str) -> np.ndarray:
    """The dataset's embeddings; texts not yet in the cache are embedded first, with a progress bar.

    Per dataset version and process, the texts are hashed and looked up in the cache once (by ``embed`` itself:
    its first progress call says how many are cached); after that every call returns the same read-only array.
    """
    held = _dataset_vectors(sha256, model_id())
    if held.vectors is not None:
        return held.vectors
    texts = held.texts(samples)
    shown: dict[str, Any] = {}

    def show(done: int, total: int) -> None:
        if "bar" not in shown:  # the first call: done counts the samples already cached
            if done < total:
                shown["meter"] = ProgressMeter(total, unit="samples")
                shown["bar"] = st.progress(
                    shown["meter"].fraction(done), text=f"Embedding {total - done:,} samples not yet in the cache…"
                )
            else:
                shown["bar"] = None
            return
        shown["bar"].progress(shown["meter"].fraction(done), text="Embedding: " + shown["meter"].text(done))

    vectors = embed(texts, progress=show)
    if shown.get("bar") is not None:
        shown["bar"].empty()
    vectors.setflags(write=False)
    held.vectors = vectors
    return vectors


def dataset_cache_counts(samples: pd.DataFrame, sha256: str) -> tuple[int, int]:
    """(distinct texts with a cached vector, distinct texts) of the dataset, for the Data page: the texts are
    hashed once per process (with :func:`dataset_embeddings`) and the count is remembered until the cache changes."""
    held = _dataset_vectors(sha256, model_id())
    texts = held.texts(samples)
    distinct = len(texts.unique)
    if held.vectors is not None:  # every text has a vector
        return distinct, distinct
    return cached_count(texts), distinct


@st.cache_resource(show_spinner=False, max_entries=4)
def _projection(
    sha256: str, fit_on_real: bool, params: tuple, _embeddings_: np.ndarray, _fit_rows, _strata=None
) -> np.ndarray:
    return project(_embeddings_, fit_rows=_fit_rows, strata=_strata, **dict(params))


_SERVED: dict[tuple, None] = {}  # maps _projection served lately: a rerun skips the disk check (a 21 MB hash)


def _waiting_note(text: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """A ``waiting`` callback for :func:`analysis.once.run_once` that shows ``text`` with the seconds waited, and a
    function that removes the note. Each update is an ``st`` call, where Streamlit stops the run of a closed tab
    (or reruns after a widget change): the wait then ends there, holding nothing."""
    shown: dict[str, Any] = {}
    start = time.monotonic()

    def waiting() -> None:
        if "note" not in shown:
            shown["note"] = st.empty()
        shown["note"].info(f"{text} ({time.monotonic() - start:.0f} s)", icon=":material/hourglass_top:")

    def done() -> None:
        if "note" in shown:
            shown["note"].empty()

    return waiting, done


def dataset_projection(
    samples: pd.DataFrame, embeddings: np.ndarray, sha256: str, *, fit_on_real: bool, **params
) -> np.ndarray:
    """The 2-D map of the dataset: from memory, from the disk cache, or fitted now with a progress bar.

    A map is fitted once per dataset version and parameters in the server (:func:`analysis.once.run_once`): a
    session that asks while another fits it waits (a note says so), then reads the map from the disk cache; if
    the fitting session failed, the next one fits it.
    """
    fit_rows = (samples["source"] == "real").to_numpy() if fit_on_real else None
    strata = np.asarray(set_names(samples))  # above FIT_LIMIT rows each set keeps its share of the fitted sample
    key = (sha256, fit_on_real, tuple(sorted(params.items())))

    def cached() -> np.ndarray | None:
        return cached_projection(embeddings, fit_rows=fit_rows, strata=strata, **params)

    if key not in _SERVED and cached() is None:

        def fit() -> np.ndarray:
            bar = st.progress(0.0, text=f"Fitting the UMAP map of {len(samples):,} samples (once; then it is cached)…")

            def show(stage: str, fraction: float) -> None:
                bar.progress(fraction, text=f"UMAP: {stage}")

            xy = project(embeddings, fit_rows=fit_rows, strata=strata, progress=show, **params)
            bar.empty()
            return xy

        waiting, done = _waiting_note("Another session is computing this map; waiting…")
        xy = run_once(("map", *key), fit, ready=cached, waiting=waiting)
        done()
        return xy
    xy = _projection(*key, embeddings, fit_rows, strata)
    _SERVED[key] = None
    while len(_SERVED) > 4:  # as many as _projection keeps
        _SERVED.pop(next(iter(_SERVED)))
    return xy


def dataset_compare(samples: pd.DataFrame, embeddings: np.ndarray, **params: Any) -> pd.DataFrame:
    """:func:`analysis.judge.compare.cached_compare` of the rows given, with a progress bar while it computes: the
    Method comparison page and the report share one table per dataset and parameters (kept on disk).

    Computed once per rows and parameters in the server (:func:`analysis.once.run_once`): a session that asks
    while another computes it waits, then reads the table from the disk cache (``cached_compare`` reads it
    first); if the computing session failed or was stopped, the next one computes it.
    """
    rows = pd.util.hash_pandas_object(samples["id"].astype(str), index=False).to_numpy().tobytes()
    key = ("compare", bytes_sha256(rows), json.dumps(params, sort_keys=True, default=str))

    def compute() -> pd.DataFrame:
        bar = st.progress(0.0, text="Comparing sets (once; then it is cached on disk)…")
        table = cached_compare(
            samples,
            embeddings,
            progress=lambda done, total: bar.progress(done / total, text=f"Compared {done} of {total} sets…"),
            **params,
        )
        bar.empty()
        return table

    waiting, done = _waiting_note("Another session is computing this comparison; waiting…")
    table = run_once(key, compute, waiting=waiting)
    done()
    return table


_ENGINES: dict[str, MixtureEngine] = {}  # per server process, the last two datasets' mixture engines
_ENGINE_LOCK = threading.Lock()


@st.cache_data(show_spinner="Naming the regions each set misses…", max_entries=8)
def _gaps(sha256: str, ids: tuple[str, ...], size: int | None, seed: int, _samples, _embeddings, _xy):
    from analysis.views.review import named_gaps

    return named_gaps(_samples, _embeddings, xy=_xy, size=size, seed=seed)


def dataset_gaps(
    samples: pd.DataFrame, embeddings: np.ndarray, sha256: str, chosen: pd.DataFrame, size: int | None, seed: int
) -> tuple[Any, str]:
    """The regions each chosen set misses on the dataset's default map (:func:`analysis.views.review.named_gaps`):
    ``(GapReport, "")``, or ``(None, why not)``; computed once per dataset, sets, size and seed for every page."""
    rows = chosen.index.to_numpy()
    xy = dataset_projection(samples, embeddings, sha256, fit_on_real=False, n_neighbors=15, min_dist=0.1, seed=None)
    return _gaps(
        sha256,
        tuple(chosen["id"].astype(str)),
        size,
        seed,
        chosen.reset_index(drop=True),
        embeddings[rows],
        np.asarray(xy)[rows],
    )


def mixture_engine(samples: pd.DataFrame, embeddings: np.ndarray, sha256: str) -> MixtureEngine:
    """The mixture engine of the dataset: built once per server process (a progress bar meanwhile), then shared."""
    with _ENGINE_LOCK:
        if sha256 not in _ENGINES:
            bar = st.progress(0.0, text=f"Precomputing neighbourhoods of {len(samples):,} samples (once per dataset)…")
            engine = MixtureEngine(
                samples,
                embeddings,
                progress=lambda done, total: bar.progress(
                    done / max(total, 1), text=f"Precomputing neighbourhoods: {done:,} of {total:,}…"
                ),
            )
            bar.empty()
            while len(_ENGINES) >= 2:
                _ENGINES.pop(next(iter(_ENGINES)))
            _ENGINES[sha256] = engine
        return _ENGINES[sha256]


def built_mixture_engine(sha256: str) -> MixtureEngine | None:
    """The dataset's mixture engine if the Mixture designer built it in this server process, else None."""
    return _ENGINES.get(sha256)


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


#: Characters that Streamlit's markdown reads as syntax anywhere in a line: emphasis, code, links and
#: images, HTML, LaTeX ($), coloured text (:red[…], a directive: its brackets), tables,
#: strikethrough, entities, autolinked URLs and e-mail addresses (/ and @). Each is shown as itself
#: when escaped with a backslash.
_MARKDOWN_ESCAPES = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>$~|!&@^/"})


def plain(text: Any) -> str:
    """User-given text (a file, set, subset, method or label name) made safe to put in markdown.

    ``st.markdown``, ``st.caption``, alerts, toasts and widget labels read markdown; a name such as
    ``:red[x]``, ``$$x$$`` or ``[link](http://e.x)`` would be coloured, typeset or linked. Escaped
    here, it shows exactly as written. Line breaks become spaces (a name is one line), and what
    only starts a block at the beginning of a line (``#``, ``-``, ``+``, ``=``, ``1.``) is escaped
    there; ``www.`` is broken so that it is not autolinked. (Emoji shortcodes such as ``:smile:``
    are the one thing a backslash cannot stop; they show an emoji, never markup or a link.)
    """
    import re

    escaped = " ".join(str(text).splitlines()).translate(_MARKDOWN_ESCAPES)
    escaped = re.sub(r"^([#>+=-])|^(\d+)([.)])", lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", escaped)
    return re.sub(r"(?i)\b(www)\.", r"\1\\.", escaped)
