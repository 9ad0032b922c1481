"""Execute the notebooks, convert each to HTML with nbconvert, and screenshot it in headless Chromium.

    .venv/bin/python notebooks/render.py [--out docs] [notebooks/01-*.ipynb ...]

Writes ``<out>/notebook-<name>.png`` (the HTML goes to a temporary folder). The notebooks run as
they are, on the demo, as the tests run them. HTML is
ranked above widget views, so the interactive map shows as its static chart (nbconvert's widget
manager would come from a CDN). Chromium is Debian's (``make test`` installs it); every request the
page makes to another host is refused and counted, so a chart that needs the network shows blank.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
PRIORITY = [
    "text/html",
    "application/vnd.jupyter.widget-view+json",
    "application/javascript",
    "text/markdown",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/plain",
]


def to_html(path: Path) -> str:
    """The notebook executed (in a fresh kernel, from its own folder) and converted to nbconvert's lab HTML."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    exporter = HTMLExporter(template_name="lab", config=Config({"NbConvertBase": {"display_data_priority": PRIORITY}}))
    body, _ = exporter.from_notebook_node(notebook)
    return body


def screenshot(page_file: Path, image: Path, *, width: int = 1100) -> tuple[int, int]:
    """A full-page PNG of ``page_file``; returns (charts drawn, requests refused)."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    refused = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 900})

        def route(request_route):
            if request_route.request.url.startswith("file://"):
                request_route.continue_()
            else:
                refused.append(request_route.request.url)
                request_route.abort()

        page.route("**/*", route)
        page.goto(page_file.as_uri())
        page.wait_for_timeout(4000)  # vega draws asynchronously
        drawn = page.locator("[id^=cl-chart-] svg, [id^=cl-chart-] canvas").count()
        page.screenshot(path=str(image), full_page=True)
        browser.close()
    return drawn, len(refused)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    for path in args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb")):
        path = path.resolve()
        page_file = Path(tempfile.mkdtemp(prefix="collapse-lab-render-")) / f"notebook-{path.stem}.html"
        page_file.write_text(to_html(path), encoding="utf-8")
        image = args.out / f"notebook-{path.stem}.png"
        drawn, refused = screenshot(page_file, image)
        print(f"{path.name}: {drawn} charts drawn, {refused} requests to other hosts refused -> {image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
