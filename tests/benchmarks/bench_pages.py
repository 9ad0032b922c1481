"""Benchmark: page switches in a browser (the GUIDE's "page switch <= 1 s with warm caches"), and the map's
questions (issue 32) at the demo size and at a million points.

    .venv/bin/python tests/benchmarks/bench_pages.py [--rounds 3]
    .venv/bin/python tests/benchmarks/bench_pages.py --questions demo,1000000 [--repeat 5]

``--questions``: no browser; the Embedding map page's questions timed server side, calling what the page calls
(:mod:`analysis.maps.explore`, :mod:`analysis.maps.mapview`, :func:`analysis.corpus.samples_bytes`), on the demo and
on the demo enlarged to each size given (as the million-point browser check builds it: each sample a numbered copy of
a demo sample, its shipped vector plus noise, its place on the shipped demo map plus jitter; nothing is embedded or
projected). Each question's min and median over ``--repeat`` runs: the answer alone (mask, per-set shares, nearest
rows, file bytes; a lasso's shares with a 120-corner loop over the box's area, applied to every point as the page
applies the path Plotly returns) and with the map redrawn for it (:func:`analysis.maps.mapview.points_map` with the
highlight, as the page draws it), each as a ratio to the baseline measured in the same run, the unfiltered map's draw.

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

from tests.servers import CHROMIUM_FLAGS, chromium_path, free_port, running  # noqa: E402

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


# --- the map's questions, server side (issue 32) ------------------------------------------------------------------

SEMANTIC_HITS = 200  # as pages/embedding_map.py
BOX = {"x": (0.3, 0.6), "y": (0.3, 0.6)}  # the box the browser tests drag, as fractions of the map's extent


def lasso_path(extent, corners: int = 120) -> dict[str, list[float]]:
    """A hand-drawn-like lasso inside the box the browser tests drag: a wobbly loop of ``corners`` points, in map
    coordinates (what Plotly returns as ``selection.lasso[0]``)."""
    import numpy as np

    turn = np.linspace(0, 2 * np.pi, corners, endpoint=False)
    radius = 0.15 * (1 + 0.25 * np.sin(5 * turn))  # a five-lobed loop: concave, as a hand draws
    fx, fy = 0.45 + radius * np.cos(turn), 0.45 + radius * np.sin(turn)
    return {
        "x": (extent.x0 + (extent.x1 - extent.x0) * fx).tolist(),
        "y": (extent.y0 + (extent.y1 - extent.y0) * fy).tolist(),
    }


def map_dataset(size: int | None, seed: int = 0):
    """The demo as the app reads it (``size`` None), or enlarged to ``size`` samples: (samples, vectors, xy)."""
    import numpy as np
    import pandas as pd

    from analysis import demo
    from analysis.maps.project import cached_projection
    from analysis.vectors.embed import embed

    samples = demo.demo_as_saved().reset_index(drop=True)
    vectors = embed(samples["text"], progress=None)  # the shipped vectors: no model runs
    xy = cached_projection(vectors)  # the shipped demo map
    if xy is None:
        raise SystemExit("the demo's map is not built: run `make demo`")
    if size is None or size <= len(samples):
        return samples, vectors, np.asarray(xy, dtype=np.float32)
    rng = np.random.default_rng(seed)
    source = np.sort(np.concatenate([np.arange(len(samples)), rng.integers(0, len(samples), size - len(samples))]))
    copy = np.arange(size) - np.searchsorted(source, source)
    big = samples.iloc[source].reset_index(drop=True)
    number, first = pd.Series(copy).astype(str), copy == 0
    big["text"] = big["text"].where(first, big["text"] + " #" + number)
    big["id"] = big["id"].astype(str).where(first, big["id"].astype(str) + "~" + number)
    noisy = np.empty((size, vectors.shape[1]), np.float32)
    for start in range(0, size, 100_000):  # blocks: the noise of a million rows at once is 3 GB of float64
        block = vectors[source[start : start + 100_000]]
        block = block + rng.standard_normal(block.shape, dtype=np.float32) * np.float32(0.01)
        noisy[start : start + 100_000] = block / np.linalg.norm(block, axis=1, keepdims=True)
    xy = np.asarray(xy, dtype=np.float32)
    span = xy.max(axis=0) - xy.min(axis=0)
    return big, noisy, (xy[source] + rng.normal(0, 0.003, (size, 2)) * span).astype(np.float32)


def repeat_timed(function, repeat: int) -> tuple[float, float, object]:
    """(min, median) seconds of ``repeat`` calls of ``function()``, and its last result."""
    seconds, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return min(seconds), statistics.median(seconds), result


def question_rows(samples, vectors, xy, repeat: int) -> list[tuple[str, str, float, float]]:
    """Each question of the map page, timed: (question, part, min s, median s)."""
    import numpy as np

    from analysis.corpus import samples_bytes
    from analysis.maps import explore, mapview
    from analysis.vectors.embed import embed

    points = explore.map_points(samples, xy, hover=False)  # the page keeps it in memory (st.cache_resource)
    texts = samples["text"]
    extent = mapview.Extent.of(points["x"].to_numpy(), points["y"].to_numpy())
    rows: list[tuple[str, str, float, float]] = []

    def draw(highlight=None):
        return mapview.points_map(points, texts, color_by="set", extent=extent, layer="difference", highlight=highlight)

    def add(question: str, part: str, function) -> object:
        fastest, median, result = repeat_timed(function, repeat)
        rows.append((question, part, fastest, median))
        return result

    add("baseline: the unfiltered map", "draw", draw)
    for question, options in (
        ("show only one set (llm)", {"set_name": "llm"}),
        ("text search ('river')", {"words": "river"}),
    ):

        def answer(options=options):
            focus = explore.focus_mask(points, texts, **options)
            return focus, explore.selection_shares(points, focus)

        focus, _ = add(question, "answer", answer)
        add(question, "answer + draw", lambda answer=answer: draw(answer()[0]))

    query = "ancient wars and empires"
    embed([query], progress=None)  # the model loaded once (the page keeps it); each timed call embeds the query

    def semantic():
        vector = embed([query], progress=None)[0]
        nearest = explore.nearest_rows(vectors, vector, rows=points["row"].to_numpy(), n=SEMANTIC_HITS)["row"]
        focus = explore.focus_mask(points, texts, rows=nearest)
        return focus, explore.selection_shares(points, focus)

    add("semantic search (200 nearest)", "answer", semantic)
    add("semantic search (200 nearest)", "answer + draw", lambda: draw(semantic()[0]))

    x0, x1 = extent.x0 + (extent.x1 - extent.x0) * np.array(BOX["x"])
    y0, y1 = extent.y0 + (extent.y1 - extent.y0) * np.array(BOX["y"])
    box = {"x": [float(x0), float(x1)], "y": [float(y0), float(y1)]}

    def box_shares():
        inside = explore.in_box(points, box)
        chosen = np.flatnonzero(inside)
        return chosen, explore.selection_shares(points, inside), explore.selection_shares(points, inside, by="label")

    chosen, _, _ = add("box: per-set and per-label shares", "answer", box_shares)
    lasso = lasso_path(extent)

    def lasso_shares():
        inside = explore.in_polygon(points, lasso)  # over every point, as the page applies a lasso's path
        return explore.selection_shares(points, inside), explore.selection_shares(points, inside, by="label")

    add(f"lasso ({len(lasso['x'])} corners): per-set and per-label shares", "answer", lasso_shares)
    columns = ["id", "text", "source", "method", "generation", "label", "split"]
    selection = samples.iloc[points["row"].to_numpy()[chosen]][columns]
    for suffix in (".csv", ".parquet", ".jsonl"):
        data = add(f"export the box ({len(selection):,} rows) as {suffix[1:].upper()}", "bytes",
                   lambda suffix=suffix: samples_bytes(selection, suffix))  # fmt: skip
        rows[-1] = (rows[-1][0] + f", {len(data) / 1e6:.1f} MB", *rows[-1][1:])
    return rows


def questions(sizes: list[str], repeat: int) -> None:
    """The map's questions at each size (``demo`` or a number of points): a table per size."""
    for size in sizes:
        started = time.perf_counter()
        samples, vectors, xy = map_dataset(None if size == "demo" else int(size))
        print(f"\n{len(samples):,} points ({size}); dataset built in {time.perf_counter() - started:.0f} s", flush=True)
        rows = question_rows(samples, vectors, xy, repeat)
        baseline = rows[0][3]
        print(f"{'question':>48}  {'part':>13}  {'min s':>7}  {'median s':>8}  {'median / baseline':>17}")
        for question, part, fastest, median in rows:
            print(f"{question:>48}  {part:>13}  {fastest:7.3f}  {median:8.3f}  {median / baseline:17.2f}")
        del samples, vectors, xy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10, help="seconds of the idle-CPU check (0: skip it)")
    parser.add_argument(
        "--questions", default="", help="the map's questions instead, at these sizes: 'demo', a number, or both"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each question (min and median)")
    args = parser.parse_args()
    if args.questions:
        questions([size.strip() for size in args.questions.split(",") if size.strip()], args.repeat)
        return
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
