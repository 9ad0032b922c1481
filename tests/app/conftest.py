"""The app tests share one cache folder, so the demo's UMAP map and comparison are computed once per run."""

import pytest


@pytest.fixture(scope="session")
def app_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("app-cache")


@pytest.fixture(autouse=True)
def _shared_app_cache(app_cache, monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(app_cache))
