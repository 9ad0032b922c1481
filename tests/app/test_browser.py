"""The browser check: `streamlit run` on a loopback port, opened in Debian's headless Chromium.

`make test` installs Debian's chromium when it is missing; Playwright drives it through
``executable_path`` and never downloads a browser of its own.
"""

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.servers import SCREENSHOTS, streamlit_app

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser

# The server (`served`, `server`) and the browser are shared by the browser tests: tests/app/conftest.py.


def assert_no_error_shown(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    body = page.inner_text("body")
    assert "Traceback" not in body
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0, body[:2000]


def open_page(browser, url: str, wait_for: str, charts: int):
    """Open a page, wait for its heading text and until ``charts`` charts have drawn."""
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(wait_for).first.wait_for(timeout=300_000)
    page.wait_for_function(
        "document.querySelectorAll("
        '\'[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks\''
        f").length >= {charts}",
        timeout=300_000,
    )
    page.wait_for_timeout(1500)  # let the last chart finish drawing
    return page


# --- A million points on the Embedding map (issue 18) ---------------------------------------------------------------
# First in this file (the first browser file of a run), before the shared `server` starts: a page the other checks
# leave keeps its server computing for minutes, and on 2 cores that pushed the million-point page past its wait in a
# fresh clone; tests/app/conftest.py now closes each test's pages. (Until
# .streamlit/config.toml set fileWatcherType = "poll", Streamlit's file watcher also kept each server on a core
# while a page was open.)

#: Share of the map's pixels that are drawn and not near-white: read from the chart's canvas, or, where
#: Vega drew SVG, from the density image the chart embeds (drawn into a canvas of its own).
INKED_SHARE = """async () => {
    const chart = document.querySelector('[data-testid="stVegaLiteChart"]');
    let canvas = chart.querySelector('canvas');
    if (!canvas) {
        const image = chart.querySelector('svg image');
        const picture = new Image();
        picture.src = image.getAttribute('href') || image.getAttribute('xlink:href');
        await picture.decode();
        canvas = document.createElement('canvas');
        canvas.width = picture.naturalWidth;
        canvas.height = picture.naturalHeight;
        canvas.getContext('2d').drawImage(picture, 0, 0);
    }
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let inked = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 0 && (data[i] < 200 || data[i + 1] < 200)) inked++;
    }
    return inked / (canvas.width * canvas.height);
}"""
#: Points of the large-map check: opt-in (COLLAPSE_LAB_BROWSER_POINTS=1000000), off in `make test`: it passes alone
#: in 3-4 minutes, but in the whole suite on 2 cores it timed out (5 min) waiting for the page, and it would take
#: `make test` past its 15 minutes.
MILLION = int(os.environ.get("COLLAPSE_LAB_BROWSER_POINTS", "0"))
DOCS = REPO / "docs"


@pytest.fixture(scope="session")
def million_workspace(tmp_path_factory):
    """A workspace and cache holding MILLION samples with their vectors and map, built without embedding or UMAP.

    Each sample repeats a demo sample (its text with a number appended, its shipped vector plus
    small noise) and is placed on the map at its demo sample's position in the shipped demo map,
    plus a little jitter: what the k-NN placement gives a near copy. The vectors go into the
    embedding cache and the map into the projection cache under the keys the page asks for, so
    the page reads them instead of computing.
    """
    import numpy as np

    from analysis import demo
    from analysis.maps.explore import set_names
    from analysis.maps.project import cached_projection, projection_key
    from analysis.vectors.embed import embed, embedding_cache, model_id, text_keys
    from analysis.workspace import Workspaces

    folder = tmp_path_factory.mktemp("million")
    cache = folder / "cache"
    samples = demo.demo_as_saved().reset_index(drop=True)
    base = embed(samples["text"], cache_dir=cache, progress=None)  # the shipped vectors: no model runs
    base_xy = cached_projection(base, cache_dir=cache / "projections")  # the shipped demo map
    assert base_xy is not None, "the demo's map is not built: run `make demo`"
    rng = np.random.default_rng(0)
    source = np.sort(np.concatenate([np.arange(len(samples)), rng.integers(0, len(samples), MILLION - len(samples))]))
    copy = np.arange(MILLION) - np.searchsorted(source, source)
    big = samples.iloc[source].reset_index(drop=True)
    number = pd.Series(copy).astype(str)
    first = copy == 0
    big["text"] = big["text"].where(first, big["text"] + " #" + number)  # a number: no word in the region names
    big["id"] = big["id"].astype(str).where(first, big["id"].astype(str) + "~" + number)
    big["parent_id"] = None
    vectors = np.empty((MILLION, base.shape[1]), np.float32)
    for start in range(0, MILLION, 100_000):  # in blocks: the noise of a million rows at once is 3 GB of float64
        block = base[source[start : start + 100_000]]
        block = block + rng.standard_normal(block.shape, dtype=np.float32) * np.float32(0.01)
        vectors[start : start + 100_000] = block / np.linalg.norm(block, axis=1, keepdims=True)
    span = base_xy.max(axis=0) - base_xy.min(axis=0)
    xy = (base_xy[source] + rng.normal(0, 0.003, (MILLION, 2)) * span).astype(np.float32)

    # the demo's part records, their row counts scaled (parts need only add up to the rows)
    parts = [{**part, "rows": part["rows"] * len(big) // len(samples)} for _, part in demo.read_demo_parts()]
    parts[0]["rows"] += len(big) - sum(part["rows"] for part in parts)
    Workspaces(folder / "workspace").shared("million").save(big, name="demo x million", parts=parts)
    # a text has one vector (the demo repeats a few texts): the first occurrence's, as embed() returns it
    codes, unique = pd.factorize(big["text"])
    first_row = np.full(len(unique), -1)
    first_row[codes[::-1]] = np.arange(len(codes))[::-1]
    vectors = vectors[first_row[codes]]
    embedding_cache(cache_dir=cache).add(text_keys(model_id(), list(unique)), vectors[first_row])
    key = projection_key(vectors, strata=np.asarray(set_names(big)))
    (cache / "projections").mkdir(parents=True, exist_ok=True)
    np.save(cache / "projections" / f"{key}.npy", xy, allow_pickle=False)
    return folder


@pytest.fixture(scope="module")
def million_server(million_workspace):
    folder = million_workspace
    with streamlit_app(folder, workspace=folder / "workspace", cache=folder / "cache") as (url, _):
        yield url


@pytest.mark.slow
@pytest.mark.skipif(MILLION == 0, reason="the million-point map check is opt-in: COLLAPSE_LAB_BROWSER_POINTS=1000000")
def test_embedding_map_of_a_million_points_is_drawn(million_server, browser):
    """Every point is in the server-drawn image; the browser gets a bounded chart, not a million rows."""
    page = open_page(browser, f"{million_server}/embedding_map?workspace=million", "Synthetic sets shown", charts=1)
    assert_no_error_shown(page)
    assert f"Every one of the {MILLION:,} samples in view" in page.inner_text("body")
    inked = page.evaluate(INKED_SHARE)
    assert inked > 0.05, f"only {inked:.1%} of the map canvas is drawn"
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "embedding-map-million.png"), full_page=False)
    assert (DOCS / "embedding-map-million.png").stat().st_size > 50_000


def test_data_page_renders_in_headless_chromium(server, browser):
    page = open_page(browser, server, "What is in the dataset", charts=4)
    page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=30_000)
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert "10,033" in values
    assert_no_error_shown(page)
    page.screenshot(path=str(SCREENSHOTS / "data-page.png"), full_page=True)
    assert (SCREENSHOTS / "data-page.png").stat().st_size > 10_000


def inotify_watches(pid: int) -> int:
    """How many inotify watches the process holds (a line per watch in /proc/<pid>/fdinfo of its inotify fds)."""
    count = 0
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            count += sum(line.startswith("inotify wd:") for line in info.read_text().splitlines())
        except OSError:  # an fd closed meanwhile
            continue
    return count


def test_an_open_page_leaves_no_file_watcher_walking_the_checkout(served, browser):
    """Streamlit's default file watcher (watchdog, inotify) watched the app's folder recursively, .venv included
    (9,000 folders); after an inotify queue overflow it walks them all again, which overflows the queue again: a
    server kept a core busy for as long as a page was open (94 % of a core idle on the demo, all of the million-point
    check's time after the draw). .streamlit/config.toml has Streamlit poll the source files instead."""
    url, pid, log = served
    page = open_page(browser, f"{url}/generate", "Generate from", charts=0)  # a session: its source watchers exist
    try:
        assert inotify_watches(pid) == 0
        assert "Inotify queue overflowed" not in log.read_text(errors="replace")
    finally:
        page.close()


def test_embedding_map_draws_and_a_box_selection_lists_its_samples(server, browser):
    page = open_page(browser, f"{server}/embedding_map", "Synthetic sets shown", charts=1)
    assert_no_error_shown(page)
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    box = chart.bounding_box()
    assert box["width"] > 500 and box["height"] > 400
    # drawn without WebGL or WebGPU: a large share of the server-drawn image of every point is coloured
    inked = page.evaluate(INKED_SHARE)
    assert inked > 0.05, f"only {inked:.1%} of the map canvas is drawn"
    page.screenshot(path=str(SCREENSHOTS / "embedding-map.png"), full_page=False)
    # drag a box over the middle of the map: its samples are listed below, the rest greys out
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.55, steps=12)
    page.mouse.up()
    page.get_by_text("samples in the box").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert_no_error_shown(page)
    page.screenshot(path=str(SCREENSHOTS / "embedding-map-selection.png"), full_page=True)


def test_mixture_designer_opens_a_shared_link(server, browser):
    page = open_page(browser, f"{server}/mixture?real=25&w:llm=0", "Metrics of the mixture", charts=2)
    assert_no_error_shown(page)
    assert page.locator('[data-testid="stMetricValue"]').count() >= 8
    assert "25% real data is below the 30%" in page.inner_text("body")  # the link's real share, and its warning
    assert "real=25" in page.url and "w%3Allm=0" in page.url
    page.screenshot(path=str(SCREENSHOTS / "mixture-designer.png"), full_page=True)


@pytest.mark.parametrize(
    "path, wait_for, charts, expected, screenshot",
    [
        ("generate", "Generate from", 0, None, "generate-page.png"),
        ("tail_coverage", "Most-missed real samples", 4, None, "tail-coverage.png"),
        ("comparison", "Collapse risks, measured", 2, "llm g3", "method-comparison.png"),
        ("simulator", "One generation", 2, None, "collapse-simulator.png"),
        ("monitor", "Warnings", 1, "llm g3", "monitor.png"),
        ("ab_test", "Run the test", 0, None, "ab-test.png"),
    ],
)
def test_page_renders(server, browser, path, wait_for, charts, expected, screenshot):
    page = open_page(browser, f"{server}/{path}", wait_for, charts=charts)
    assert_no_error_shown(page)
    assert expected is None or expected in page.inner_text("body")
    page.screenshot(path=str(SCREENSHOTS / screenshot), full_page=True)


def settle(page, timeout: int = 300_000) -> None:
    """Wait until the page's run is over: the app says its script is not running, and no element is stale."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
        " && !document.querySelector('[data-stale=\"true\"]')",
        timeout=timeout,
    )


#: Seconds without a request in flight after which a page is taken to have asked for all it needs.
QUIET_S = 1.0


def quiet_for(page, pending: set, seconds: float, timeout: float = 60) -> None:
    """Wait until no request of the page (``pending``: requests seen and not yet finished or failed) has been in
    flight for ``seconds`` in a row; events are delivered while Playwright waits."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        if pending:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= seconds:
            return
    pytest.fail(f"requests still in flight after {timeout:.0f} s: {[request.url for request in pending]}")


# Each page's title (an <h1>), in the order of the sidebar.
PAGE_TITLES = [
    ("", "Data"),
    ("generate", "Generate"),
    ("embedding_map", "Embedding map"),
    ("tail_coverage", "Tail coverage"),
    ("comparison", "Method comparison"),
    ("ab_test", "A/B test"),
    ("monitor", "Monitor"),
    ("mixture", "Mixture designer"),
    ("simulator", "Collapse simulator"),
]


def test_no_request_leaves_the_machine(server, browser):
    """Every page loads its scripts, styles, fonts and icons from the app itself; the favicon too.

    Runs after the page tests above, so the pages' maps and tables are cached and each page is quick.
    """
    from urllib.parse import urlsplit

    own = urlsplit(server).netloc
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requested: list[str] = []
    pending: set = set()
    page.on("request", lambda request: (requested.append(request.url), pending.add(request)))
    page.on("requestfinished", lambda request: pending.discard(request))
    page.on("requestfailed", lambda request: pending.discard(request))
    favicons: list[str] = []
    for path, title in PAGE_TITLES:
        page.goto(f"{server}/{path}", wait_until="domcontentloaded")
        page.locator("h1", has_text=title).first.wait_for(timeout=300_000)
        settle(page)  # the page's run is over and drawn: icons, fonts and the favicon follow what it drew
        quiet_for(page, pending, QUIET_S)
        # headless Chromium may not fetch a favicon at all: read where the page points it
        favicons += page.eval_on_selector_all("link[rel~='icon']", "links => links.map(link => link.href)")
    assert any(url.startswith(server) for url in requested)  # the recording works
    assert favicons, "no favicon link on the page"

    def elsewhere(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme not in ("data", "blob", "about") and parts.netloc != own

    assert not [url for url in requested + favicons if elsewhere(url)]
