"""Test settings shared by every test: nothing touches the repository's data/ folder or the network."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_data_dirs(tmp_path, monkeypatch):
    """Each test gets its own workspace; the embedding cache is per test unless a test shares one."""
    monkeypatch.setenv("COLLAPSE_LAB_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(tmp_path / "cache"))
