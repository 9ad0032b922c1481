"""Which workspace a session works in (private, or a named shared one) and its current dataset.

The workspace on disk is the source of truth, so a refresh or a restart of ``streamlit run``
shows the same dataset. Each browser session has its own private workspace, named by an
unguessable token kept in the page's URL (``?session=…``, which a refresh keeps); a team opens a
named shared workspace with ``?workspace=<name>`` or the sidebar. An empty workspace shows the
built-in demo, read once per server process.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from analysis import demo
from analysis.errors import CollapseLabError
from analysis.judge.reference import COVERAGE_LABELS
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
from analysis.workspace_settings import change_setting, read_settings
from pages._shared import plain, user_errors

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


def coverage_choice() -> str:
    """Coverage's reference for this workspace (the Data page sets it): ``crossfit`` (default) or ``holdout``."""
    return read_settings(workspace())["coverage"]


def coverage_picker(*, key: str) -> None:
    """The workspace's coverage reference as a radio: it shows the stored choice (another session of a shared
    workspace may have changed it) and stores a new one."""
    now = coverage_choice()
    if st.session_state.get(key) != now:
        st.session_state[key] = now

    def store() -> None:
        chosen = st.session_state.get(key)
        if chosen in COVERAGE_LABELS:
            change_setting(workspace(), "coverage", chosen)

    st.radio(
        "Coverage reference", list(COVERAGE_LABELS), key=key, format_func=COVERAGE_LABELS.__getitem__,
        horizontal=True, on_change=store,
    )  # fmt: skip


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
