"""Test settings and fixtures shared by every test: nothing touches the repository's data/ folder or the network.

Two lanes. A test is ``slow`` when it needs the real MiniLM model, the bundled LLM, Chromium or the demo's
vectors built at install (``make test`` runs everything); the rest are the fast lane (``make check`` runs
``pytest -m "not slow"``). A test declares its lane where it is written: ``@pytest.mark.slow`` on the test, or
``pytestmark = pytest.mark.slow`` on a module whose every test is slow (a comment says why). Two rules here
add the mark: the fixtures a test uses (:data:`SLOW_FIXTURES`: a model, the LLM, the built demo, the app) and
its other marks (``browser``). A module or session fixture that embeds the demo is set up before the guard
below can see it, so every test that uses one carries the mark itself. A fast test that tries to load the
embedding model or the LLM, or to read the built demo's vectors, fails at once (:func:`_fast_tests_stay_fast`),
so the fast lane runs on a fresh install without either.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent

#: Fixtures that load a model or read the built demo: a test using one (directly or through another fixture)
#: is ``slow``. ``demo_embedded`` is defined below, ``app_cache`` in tests/app/conftest.py (every app test uses it:
#: the app runs on the demo); the others live in the test modules that need them.
SLOW_FIXTURES = frozenset({"demo_embedded", "model", "local", "llama_server", "app_cache"})
#: Marks that imply ``slow``.
SLOW_MARKS = ("browser",)
#: Modules a fast test may not import: the embedding model's runtimes (torch's and ONNX Runtime's) and the LLM's.
MODEL_MODULES = ("sentence_transformers", "onnxruntime", "llama_cpp")
#: The loaders a fast test may not call, where an earlier slow test of the run imported their module already.
MODEL_LOADERS = (
    ("sentence_transformers", "SentenceTransformer"),
    ("analysis.vectors.embed_backends", "OnnxEncoder"),
    ("llama_cpp", "Llama"),
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that needs a model, the LLM, Chromium or the built demo (see the module docstring)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SLOW_FIXTURES or any(item.get_closest_marker(mark) for mark in SLOW_MARKS):
            item.add_marker(pytest.mark.slow)


# --------------------------------------------------------------------------- the fast lane's guard


class _Refuse(importlib.abc.MetaPathFinder):
    """Fails the running test when it imports a model runtime (only installed while a fast test runs)."""

    def __init__(self, test: str):
        self.test = test

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] in MODEL_MODULES:
            pytest.fail(
                f"{self.test} is in the fast lane but imports {fullname} (a model runtime). Give it the fake "
                f"embedder (fake_embed / the fake_embedder fixture) or mark it @pytest.mark.slow.",
                pytrace=False,
            )


def _refuse_model(*args: object, **kwargs: object) -> None:
    pytest.fail("a fast test tried to load a model; use the fake embedder or mark the test slow", pytrace=False)


@pytest.fixture(autouse=True)
def _fast_tests_stay_fast(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """In a test not marked ``slow``: no model runtime is imported or loaded, and the demo's built vectors and
    tables are out of sight (as on a fresh install), so such a test cannot load MiniLM or the LLM unnoticed."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    for name, attribute in MODEL_LOADERS:
        if name in sys.modules:  # imported by an earlier slow test of this run
            monkeypatch.setattr(sys.modules[name], attribute, _refuse_model, raising=False)
    missing = tmp_path / "no-built-demo"
    importlib.import_module("analysis.vectors.embed")
    for module, attribute in (
        ("analysis.vectors.embed", "SHIPPED_DIR"),
        ("analysis.vectors.embed", "SHIPPED_CACHE_DIR"),
        ("analysis.judge.compare", "SHIPPED_CACHE_DIR"),
        ("analysis.maps.project", "SHIPPED_CACHE_DIR"),
    ):
        if module in sys.modules:
            monkeypatch.setattr(sys.modules[module], attribute, missing, raising=False)
    guard = _Refuse(request.node.nodeid)
    sys.meta_path.insert(0, guard)
    try:
        yield
    finally:
        sys.meta_path.remove(guard)


@pytest.fixture(autouse=True)
def _isolated_data_dirs(tmp_path, monkeypatch):
    """Each test gets its own workspace; the embedding cache is per test unless a test shares one."""
    monkeypatch.setenv("COLLAPSE_LAB_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def ws(tmp_path: Path):
    """An empty workspace in the test's own folder (tests/test_workspace.py, tests/test_workspace_merge.py)."""
    from analysis.workspace import Workspace

    return Workspace(tmp_path / "ws")


# --------------------------------------------------------------------------- the fake embedder

#: The fake embedders' dimension: MiniLM's, so code that checks shapes sees what it sees in use.
FAKE_DIM = 384
_WORD = re.compile(r"\w+")


def fake_embed(texts: Iterable[str], dim: int = FAKE_DIM) -> np.ndarray:
    """Deterministic stand-in sentence vectors, no model: one seeded normal vector per text, unit norm.

    The seed is the first 8 bytes of the text's SHA-256, so a text gets the same vector on every machine and
    run, and different texts are unrelated (like random points). For vectors where shared words mean
    nearby points, use :func:`bag_of_words_embed`.
    """
    rows = [
        np.random.default_rng(int.from_bytes(hashlib.sha256(str(t).encode()).digest()[:8], "little")).normal(size=dim)
        for t in texts
    ]
    x = np.array(rows).reshape(len(rows), dim)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def bag_of_words_embed(texts: Iterable[str], dim: int = FAKE_DIM) -> np.ndarray:
    """Deterministic stand-in sentence vectors, no model: a hashed bag of words, unit norm, float32.

    Each word adds ±1 at a position chosen by its SHA-256, so texts that share words point the same way, as
    real sentence vectors roughly do; a text whose words cancel out gets one position from its whole text.
    """
    texts = [str(t) for t in texts]
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in _WORD.findall(text.lower()) or [text]:
            digest = hashlib.sha256(word.encode("utf-8")).digest()
            out[row, int.from_bytes(digest[:4], "little") % dim] += 1.0 if digest[4] & 1 else -1.0
        if not out[row].any():
            out[row, int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little") % dim] = 1.0
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def fake_embedder():
    """:func:`fake_embed`: a deterministic embedder with ``embed``'s shape (texts -> 384-d unit vectors)."""
    return fake_embed


# --------------------------------------------------------------------------- the demo, once per run


@pytest.fixture(scope="session")
def demo_samples() -> pd.DataFrame:
    """The demo corpus (real and synthetic sets): read from the package and the committed sets, no build."""
    from analysis.demo import load_demo

    return load_demo()


@pytest.fixture(scope="session")
def demo_real() -> pd.DataFrame:
    """The demo's real samples only."""
    from analysis.demo import load_demo

    return load_demo(synthetic=False)


@pytest.fixture(scope="session")
def demo_embedded(demo_samples: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The demo corpus and its MiniLM vectors (read from the vectors built at install: needs the built demo)."""
    from analysis.vectors.embed import embed

    return demo_samples, embed(demo_samples["text"])
