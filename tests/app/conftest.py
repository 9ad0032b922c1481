"""The app tests share one cache folder, so the demo's UMAP map and comparison are computed once per run; the browser
tests share one demo server and one headless Chromium.

A ``streamlit run`` pays the app's imports, the demo's load and its in-memory caches on its first pages (a minute or
more on 2 busy cores), so every browser test that can share them runs on :func:`served`. Each test keeps to its own
state there: every new browser tab is a session with a private workspace (empty: it shows the demo), and a test that
loads data names a shared workspace of its own (``?workspace=…``); :func:`_close_pages` closes each test's tabs, so no
page left open keeps the server computing for the next test. The tests of tests/app/test_browser_reliability.py start
servers of their own: they kill one, and need an empty cache.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import SCREENSHOTS, chromium, streamlit_app


@pytest.fixture(scope="session")
def app_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("app-cache")


@pytest.fixture(autouse=True)
def _shared_app_cache(app_cache, monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(app_cache))


@pytest.fixture
def topic_app(monkeypatch):
    """The small topic dataset of tests/app/test_coverage_pages.py loaded on the Data page (600 real texts on six
    topics, then 300 llm texts on two), stand-in vectors in place of the model: ``topic_app()`` uses
    ``topic_vectors``, ``topic_app(vectors)`` others. Returns the AppTest, on the Data page."""
    from tests.app.test_coverage_pages import APP, TOPICS, AppTest, csv, load, topic_vectors

    def open_app(vectors=topic_vectors):
        monkeypatch.setattr("pages._compute.embed", lambda texts, **_: vectors(list(texts)))
        monkeypatch.setattr("pages._compute.cached_count", lambda texts, **_: len(set(texts)))
        at = AppTest.from_file(APP, default_timeout=300).run()
        load(
            at,
            "real.csv",
            csv([f"{t} text {i}" for t in TOPICS for i in range(100)], [t for t in TOPICS for _ in range(100)]),
            "Replace the current dataset",
        )
        at.radio(key="upload_role").set_value("synthetic").run()
        load(
            at,
            "llm.csv",
            csv([f"{t} story {i}" for t in ("sports", "tech") for i in range(150)], ["sports"] * 150 + ["tech"] * 150),
            "Add to the current dataset",
        )
        return at

    return open_app


@pytest.fixture(scope="package")
def served(tmp_path_factory, app_cache) -> Iterator[tuple[str, int, Any]]:
    """`streamlit run app.py` on the demo, on a free loopback port, for the tests of tests/app (stopped after them, so
    the rest of the run does not carry it): its URL, process id and log file. Its workspace folder is the log's
    folder's ``workspace``; its cache is the one the AppTests share, so a map or comparison they computed is read,
    not fitted again."""
    folder = tmp_path_factory.mktemp("browser")
    with streamlit_app(folder, workspace=folder / "workspace", cache=app_cache) as (url, process):
        yield url, process.pid, folder / "streamlit.log"


@pytest.fixture(scope="package")
def server(served) -> str:
    return served[0]


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium for the tests of tests/app (Debian's, through Playwright's ``executable_path``)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    with chromium() as browser:
        yield browser


@pytest.fixture(autouse=True)
def _close_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    """A browser test's tabs are closed after it (a tab left open keeps its session, and maybe a computation, alive on
    the shared server); when it failed, first a screenshot of each, for the one who reads why
    (tests/app/screenshots/failed-<test>-<n>.png)."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser = request.getfixturevalue("browser")
    failed = request.session.testsfailed
    yield
    for number, context in enumerate(browser.contexts):
        if request.session.testsfailed > failed:
            for page in context.pages:
                page.screenshot(path=str(SCREENSHOTS / f"failed-{request.node.name}-{number}.png"), full_page=True)
        context.close()
