"""The app tests share one cache folder, so the demo's UMAP map and comparison are computed once per run."""

import pytest


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
