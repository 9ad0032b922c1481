"""Start a real server on a free loopback port for a test, wait until it answers, stop it after; and the headless
Chromium the browser tests drive."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(
    command: list[str], ready_url: str, log_path: Path, *, timeout: float = 90, stop_timeout: float = 20, **popen
) -> Iterator[subprocess.Popen]:
    """Run ``command`` until ``ready_url`` answers 200 and yield its process; terminate it at the end, and kill it
    if it has not stopped ``stop_timeout`` seconds later."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(ready_url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{command[:4]} did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
                time.sleep(0.3)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()


REPO = Path(__file__).resolve().parents[1]
#: Where the browser tests put their screenshots (git-ignored), and a failed browser test a picture of each page.
SCREENSHOTS = REPO / "tests" / "app" / "screenshots"


@contextlib.contextmanager
def streamlit_app(
    folder: Path, *, workspace: Path, cache: Path, log_name: str = "streamlit.log"
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app.py` on a free loopback port (headless, offline) with its own workspace and cache folders.

    Yields its URL and process; its output goes to ``folder / log_name``; stopped at the end (:func:`running`).
    """
    port = free_port()
    env = {
        **os.environ,
        "COLLAPSE_LAB_WORKSPACE": str(workspace),
        "COLLAPSE_LAB_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
    }
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    # Streamlit often says "Stopping..." and then waits on its threads well past 20 s (seen after the browser tests);
    # nothing is checked after the stop, so it gets 5 s before the kill (the reliability tests show a killed server
    # leaves nothing behind that blocks the next one).
    with running(command, f"{url}/_stcore/health", folder / log_name, stop_timeout=5, cwd=REPO, env=env) as process:
        yield url, process


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is not installed: run `make test` (it installs it) or apt-get install chromium.")
    return path


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium, driven by Playwright through ``executable_path`` (it never downloads a browser of
    its own); yields Playwright's ``Browser``, closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
