"""Start a real server on a free loopback port for a test, wait until it answers, stop it after."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(
    command: list[str], ready_url: str, log_path: Path, *, timeout: float = 90, **popen
) -> Iterator[subprocess.Popen]:
    """Run ``command`` until ``ready_url`` answers 200 and yield its process; terminate (then kill) it at the end."""
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
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


REPO = Path(__file__).resolve().parents[1]


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
    with running(command, f"{url}/_stcore/health", folder / log_name, cwd=REPO, env=env) as process:
        yield url, process
