"""What every page shares: the current dataset (from the workspace) and errors shown as messages.

The workspace on disk is the source of truth, so a refresh or a restart of ``streamlit run``
shows the same dataset. Streamlit caching wraps the analysis calls here, at the page edge.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

import pandas as pd
import streamlit as st

from analysis import demo
from analysis.corpus import CorpusError, combine_samples
from analysis.embed import EmbeddingError
from analysis.generate.backends import GenerationError
from analysis.workspace import Workspace, WorkspaceError

log = logging.getLogger("collapse_lab")

#: Errors whose message is written for the user: shown as they are.
USER_ERRORS: tuple[type[Exception], ...] = (CorpusError, WorkspaceError, EmbeddingError, GenerationError)


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


def save_demo(ws: Workspace) -> None:
    """Make the built-in demo (real corpus and committed synthetic sets) the current dataset."""
    parts = demo.read_demo_parts()
    samples, _ = combine_samples(*(frame for frame, _ in parts))
    ws.save(samples, name=demo.DEMO_NAME, parts=[part for _, part in parts])


@st.cache_data(show_spinner=False, max_entries=4)
def _read_workspace(root: str, sha256: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The saved dataset; keyed by its checksum so a new save is read once, then served from memory."""
    loaded = Workspace(root).load()
    if loaded is None or loaded[1]["sha256"] != sha256:
        raise WorkspaceError("The workspace changed while it was read. Reload the page.")
    return loaded


ROUTER_FLAG = "_collapse_lab_router"


def mark_router() -> None:
    """Called by app.py: this session runs through the router (st.navigation)."""
    st.session_state[ROUTER_FLAG] = True


def current_dataset() -> tuple[pd.DataFrame, dict[str, Any]]:
    """The current dataset; on the very first run, the demo corpus. Stops the page on an error."""
    if ROUTER_FLAG not in st.session_state:
        # Streamlit runs a page file directly (its older pages/ mode) when the very first request
        # to a fresh server opens a page's URL; send it through the router in app.py instead.
        st.switch_page("app.py")
    ws = workspace()
    try:
        manifest = ws.manifest()
        if manifest is None:
            with st.spinner("First start: loading the demo corpus…"):
                save_demo(ws)
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
