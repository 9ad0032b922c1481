"""Issue 31 in a real browser: a session that goes away while the map is being fitted never wedges the page.

Both cases use a fresh ``streamlit run`` (not the shared one of tests/app/conftest.py: one is killed, and each needs
caches where nothing of the map is computed yet) with its own empty cache folder and a workspace holding a small part of
the demo (real and synthetic samples): its vectors are the demo's shipped ones, but its comparison and its UMAP
map are not cached anywhere, so the first visitor of Method comparison computes them (the map for the named gaps,
with a "UMAP: …" progress bar).

- **Closed tab.** Session 1 opens Method comparison and is closed as soon as the page shows UMAP progress; session
  2 then opens the same page and must get it complete (the metric charts, drawn last). Before issue 31 the stop
  exception of the closed session left tqdm's lock held inside UMAP and every later visitor hung on "Finding
  nearest neighbours" until a restart; now the closed session's fit finishes and is cached, and a session asking
  meanwhile waits for it (analysis/once.py) instead of fitting the same map again.
- **Killed server.** The issue asks for the same "with the first session's server thread killed mid-run". Python
  cannot kill one thread, and a thread that dies holding a lock is what the first case already covers, so this
  case kills what can be killed: the whole server process, with SIGKILL, while session 1 shows UMAP progress. A
  new server on the same workspace and cache then serves the page complete: nothing left on disk by the killed
  process (a lock file, a half-written map, cache or workspace file) blocks or breaks the next run.

Each case takes one to three minutes on 2 busy cores (a fresh server imports UMAP and compiles its numba code);
the page gets 300 s to complete and the UMAP progress 240 s to show, waits that only a hang reaches.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.servers import streamlit_app

pytestmark = pytest.mark.browser

PAGE = "comparison?workspace=small"
DONE = "Metrics by family"  # the page's last section: its charts are drawn at the end of the run
UMAP_SHOWN = re.compile(r"UMAP: ")  # the map's progress bar, once the fit has started
WAIT_NOTE = "Another session is computing"  # pages/_compute.py, while another session fits the map or compares
CHART = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks'
UMAP_WAIT, PAGE_WAIT = 240_000, 300_000  # ms: waits that only a hang reaches


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """A workspace whose shared workspace ``small`` holds 400 real demo samples and 80 of each of three synthetic
    sets, and an empty cache folder; their vectors are in the demo's shipped (read-only) vectors."""
    import pandas as pd

    from analysis import demo
    from analysis.corpus import combine_samples
    from analysis.workspace import Workspaces

    frames, parts = [], []
    for frame, part in demo.read_demo_parts()[:4]:  # the real corpus, rule-based, paraphrase, llm (generation 1)
        rows = 400 if part["source"] == "real" else 80
        frames.append(frame.head(rows))
        parts.append({**part, "rows": rows})
    samples = combine_samples(*frames)[0]
    assert isinstance(samples, pd.DataFrame) and len(samples) == 640
    Workspaces(tmp_path / "workspace").shared("small").save(samples, name="demo, small", parts=parts)
    (tmp_path / "cache").mkdir()
    return {"folder": tmp_path, "workspace": tmp_path / "workspace", "cache": tmp_path / "cache"}


def start_and_leave_at_umap(browser, url: str):
    """Session 1: opens the page and waits until it shows UMAP progress; returns the page, still open."""
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{url}/{PAGE}", wait_until="domcontentloaded")
    page.get_by_text(UMAP_SHOWN).first.wait_for(timeout=UMAP_WAIT)
    return page


def open_complete(browser, url: str):
    """Session 2: opens the page and waits until it is complete (its last section and a chart drawn, as ``open_page``
    waits); returns the page and whether it said on the way that it waits for another session's work."""
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{url}/{PAGE}", wait_until="domcontentloaded")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "() => { const text = document.body.innerText;"
            f" if (text.includes({WAIT_NOTE!r})) window.sawWaitNote = true; return text.includes({DONE!r}); }}",
            polling=250,
            timeout=PAGE_WAIT,
        )
    except PlaywrightTimeout:
        pytest.fail(f"the page did not complete in {PAGE_WAIT // 1000} s; it shows:\n{page.inner_text('body')[-1500:]}")
    page.wait_for_function(f"document.querySelectorAll({CHART!r}).length >= 1", timeout=PAGE_WAIT)
    page.wait_for_timeout(1500)  # let the chart finish drawing
    return page, bool(page.evaluate("window.sawWaitNote === true"))


def assert_complete(page, log: Path) -> None:
    """The page ran to its end without an error of the app (a collapse-risk alarm is an ``st.error`` too: allowed)."""
    body = page.inner_text("body")
    assert DONE in body
    assert page.locator('[data-testid="stException"]').count() == 0, body[:2000]
    assert "Traceback" not in body and " failed: " not in body, body[:2000]
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def test_a_tab_closed_during_umap_leaves_the_page_working_for_the_next_session(folders, browser):
    folder = folders["folder"]
    with streamlit_app(folder, workspace=folders["workspace"], cache=folders["cache"]) as (url, _):
        first = start_and_leave_at_umap(browser, url)
        first.close()  # the tab goes away mid-fit: Streamlit stops that session's run
        start = time.monotonic()
        second, waited = open_complete(browser, url)
        took = time.monotonic() - start
        try:
            assert_complete(second, folder / "streamlit.log")
        finally:
            second.close()
    print(f"second session complete {took:.0f} s after the first one closed; it waited for the first: {waited}")
    assert list((folders["cache"] / "projections").glob("*.npy")), "the map was not cached"


def test_a_server_killed_during_umap_leaves_nothing_that_blocks_the_next_server(folders, browser):
    folder = folders["folder"]
    with streamlit_app(folder, workspace=folders["workspace"], cache=folders["cache"], log_name="killed.log") as (
        url,
        process,
    ):
        first = start_and_leave_at_umap(browser, url)
        os.kill(process.pid, signal.SIGKILL)  # mid-fit: no finally, no atexit, no lock released by Python
        process.wait(timeout=30)
        first.close()
    with streamlit_app(folder, workspace=folders["workspace"], cache=folders["cache"], log_name="next.log") as (url, _):
        start = time.monotonic()
        page, _ = open_complete(browser, url)
        took = time.monotonic() - start
        try:
            assert_complete(page, folder / "next.log")
        finally:
            page.close()
    print(f"the new server's session complete in {took:.0f} s")
