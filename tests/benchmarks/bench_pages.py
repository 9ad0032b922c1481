"""Benchmark: page switches in a browser (the GUIDE's "page switch <= 1 s with warm caches").

    .venv/bin/python tests/benchmarks/bench_pages.py [--rounds 3]

Starts ``streamlit run app.py`` on a loopback port with a fresh workspace and cache (so the demo
and its views built by ``make``, as a new user gets them), opens it in Debian's headless Chromium
and clicks through the sidebar, every page in turn, ``--rounds`` times. A switch is timed from
the click until the new page shows its marker text, has drawn its charts, and Streamlit says no
script is running. The first round fills the caches (cold); the later ones are warm. Prints each
page's cold and median warm seconds, the warm time as a ratio to the 1 s target (<= 1 meets it)
and to the cold time. Then the server's CPU while a page sits open and idle (``--idle`` seconds),
with the project's settings (Streamlit polls the source files) and with Streamlit's default
watcher on Linux (``--server.fileWatcherType watchdog``, what the app ran with before), each in a
fresh server: watchdog's recursive watch of the checkout (.venv included) kept a core busy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.app.test_browser import CHROMIUM_FLAGS, chromium_path  # noqa: E402
from tests.servers import free_port, running  # noqa: E402

# sidebar title, text the page shows once rendered, charts it draws (as tests/app/test_browser.py)
PAGES = [
    ("Generate", "Generate from", 0),
    ("Embedding map", "Synthetic sets shown", 1),
    ("Tail coverage", "Most-missed real samples", 4),
    ("Method comparison", "Collapse risks, measured", 2),
    ("A/B test", "Run the test", 0),
    ("Monitor", "Warnings", 1),
    ("Mixture designer", "Metrics of the mixture", 2),
    ("Collapse simulator", "One generation", 2),
    ("Data", "What is in the dataset", 4),
]
CHARTS = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks'
IDLE = """() => {
    const status = document.querySelector('[data-testid="stStatusWidget"]');
    return !status || !/running|stop/i.test(status.innerText);
}"""


def switch(page, title: str, marker: str, charts: int) -> float:
    start = time.perf_counter()
    page.locator('[data-testid="stSidebarNavLink"]').filter(has_text=title).first.click()
    page.get_by_text(marker).first.wait_for(timeout=600_000)
    page.wait_for_function(f"document.querySelectorAll('{CHARTS}').length >= {charts}", timeout=600_000)
    page.wait_for_function(IDLE, timeout=600_000, polling=20)
    return time.perf_counter() - start


def streamlit_command(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
            "--server.address", "127.0.0.1", "--server.headless", "true", *extra]  # fmt: skip


def server_env(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "COLLAPSE_LAB_WORKSPACE": str(folder / "workspace"),
        "COLLAPSE_LAB_CACHE": str(folder / "cache"),
        "HF_HUB_OFFLINE": "1",
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(browser, seconds: float, *extra: str) -> float:
    """Share of one core a fresh server uses while its Generate page sits open and idle for ``seconds``."""
    with tempfile.TemporaryDirectory() as folder:
        folder, port = Path(folder), free_port()
        url = f"http://127.0.0.1:{port}"
        with running(streamlit_command(port, *extra), f"{url}/_stcore/health", folder / "streamlit.log", cwd=REPO,
                     env=server_env(folder)) as process:  # fmt: skip
            page = browser.new_page()
            page.goto(f"{url}/generate", wait_until="domcontentloaded")
            page.get_by_text("Generate from").first.wait_for(timeout=600_000)
            page.wait_for_function(IDLE, timeout=600_000, polling=20)
            used, start = cpu_seconds(process.pid), time.perf_counter()
            page.wait_for_timeout(seconds * 1000)
            share = (cpu_seconds(process.pid) - used) / (time.perf_counter() - start)
            page.close()
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10, help="seconds of the idle-CPU check (0: skip it)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        port = free_port()
        env = server_env(folder)
        command = streamlit_command(port)
        url = f"http://127.0.0.1:{port}"
        with (
            running(command, f"{url}/_stcore/health", folder / "streamlit.log", cwd=REPO, env=env),
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            start = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_text("What is in the dataset").first.wait_for(timeout=600_000)
            page.wait_for_function(IDLE, timeout=600_000, polling=20)
            print(f"first load of the Data page (loads the demo): {time.perf_counter() - start:.2f} s", flush=True)
            times = {title: [] for title, _, _ in PAGES}
            for round_ in range(args.rounds):
                for title, marker, charts in PAGES:
                    times[title].append(switch(page, title, marker, charts))
                print(f"round {round_ + 1}: " + ", ".join(f"{t} {v[-1]:.2f} s" for t, v in times.items()), flush=True)
            page.close()
            if args.idle > 0:
                polled = idle_cpu(browser, args.idle)
                watchdog = idle_cpu(browser, args.idle, "--server.fileWatcherType", "watchdog")
            browser.close()
    if args.rounds > 0:
        print(f"\n{'page':>20}  {'cold s':>7}  {'warm s':>7}  {'warm / 1 s':>10}  {'warm / cold':>11}")
    for title, values in times.items() if args.rounds > 0 else ():
        warm = statistics.median(values[1:]) if len(values) > 1 else float("nan")
        print(f"{title:>20}  {values[0]:7.2f}  {warm:7.2f}  {warm / 1.0:10.2f}  {warm / values[0]:11.2f}")
    if args.idle > 0:
        print(
            f"\nserver CPU with a page open and idle ({args.idle:g} s, a fresh server each): project settings (source "
            f"files polled) {polled:.1%} of a core; --server.fileWatcherType watchdog (before) {watchdog:.1%}; "
            f"ratio {watchdog / max(polled, 1e-3):.0f}x"
        )


if __name__ == "__main__":
    main()
