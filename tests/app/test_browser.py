"""The browser check: `streamlit run` on a loopback port, opened in Debian's headless Chromium.

`make test` installs Debian's chromium when it is missing; Playwright drives it through
``executable_path`` and never downloads a browser of its own.
"""

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.servers import free_port, running

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is not installed: run `make test` (it installs it) or apt-get install chromium.")
    return path


@pytest.fixture
def server(tmp_path):
    """`streamlit run app.py` on a free loopback port with its own workspace; stopped afterwards."""
    port = free_port()
    env = {**os.environ, "COLLAPSE_LAB_WORKSPACE": str(tmp_path / "workspace"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]
    url = f"http://127.0.0.1:{port}"
    with running(command, f"{url}/_stcore/health", tmp_path / "streamlit.log", cwd=REPO, env=env):
        yield url


def test_data_page_renders_in_headless_chromium(server):
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(server, wait_until="domcontentloaded")
            page.get_by_text("What is in the dataset").wait_for(timeout=90_000)
            page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=30_000)
            page.wait_for_timeout(1500)  # let the charts draw
            values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
            assert "10,033" in values
            assert page.locator('[data-testid="stException"]').count() == 0
            body = page.inner_text("body")
            assert "Traceback" not in body and "Error" not in body.replace("errors", "")
            assert page.locator("canvas, svg.marks").count() >= 4  # the count charts rendered
            page.screenshot(path=str(SCREENSHOTS / "data-page.png"), full_page=True)
        finally:
            browser.close()
    assert (SCREENSHOTS / "data-page.png").stat().st_size > 10_000
