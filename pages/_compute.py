"""The work the analysis pages share, computed once per dataset version and kept: embeddings, the map,
the comparison, the named gaps, the mixture engine. Streamlit caching wraps the analysis calls here, at the
page edge, with a progress bar while they run. Coverage is judged by the workspace's choice of reference
(:func:`pages._workspace.coverage_choice`), part of every key here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from analysis.io import bytes_sha256, values_bytes
from analysis.judge.compare import cached_compare
from analysis.maps.explore import set_names
from analysis.maps.project import cached_projection, project
from analysis.mixture import MixtureEngine
from analysis.once import run_once
from analysis.progress import ProgressMeter
from analysis.vectors.embed import PreparedTexts, cached_count, embed, model_id, prepare_texts
from pages._workspace import coverage_choice

# --- Work shared by the analysis pages ---------------------------------------------------------


class _DatasetVectors:
    """One dataset version's texts, prepared for the embedding cache (hashed once per process), and its vectors
    once every text has one: what every later run of every page returns, with no look at the cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: PreparedTexts | None = None
        self.vectors: np.ndarray | None = None  # read-only, set once complete

    def texts(self, samples: pd.DataFrame) -> PreparedTexts:
        with self._lock:  # a second session waits for the first one's hashing instead of repeating it
            if self._texts is None:
                self._texts = prepare_texts(samples["text"])
            return self._texts


@st.cache_resource(show_spinner=False, max_entries=2)
def _dataset_vectors(sha256: str, identity: str) -> _DatasetVectors:
    """Kept per dataset checksum and embedding identity (model and backend: a backend that falls back changes it)."""
    return _DatasetVectors()


def dataset_embeddings(samples: pd.DataFrame, sha256: str) -> np.ndarray:
    """The dataset's embeddings; texts not yet in the cache are embedded first, with a progress bar.

    Per dataset version and process, the texts are hashed and looked up in the cache once (by ``embed`` itself:
    its first progress call says how many are cached); after that every call returns the same read-only array.
    """
    held = _dataset_vectors(sha256, model_id())
    if held.vectors is not None:
        return held.vectors
    texts = held.texts(samples)
    shown: dict[str, Any] = {}

    def show(done: int, total: int) -> None:
        if "bar" not in shown:  # the first call: done counts the samples already cached
            if done < total:
                shown["meter"] = ProgressMeter(total, unit="samples")
                shown["bar"] = st.progress(
                    shown["meter"].fraction(done), text=f"Embedding {total - done:,} samples not yet in the cache…"
                )
            else:
                shown["bar"] = None
            return
        shown["bar"].progress(shown["meter"].fraction(done), text="Embedding: " + shown["meter"].text(done))

    vectors = embed(texts, progress=show)
    if shown.get("bar") is not None:
        shown["bar"].empty()
    vectors.setflags(write=False)
    held.vectors = vectors
    return vectors


def dataset_cache_counts(samples: pd.DataFrame, sha256: str) -> tuple[int, int]:
    """(distinct texts with a cached vector, distinct texts) of the dataset, for the Data page: the texts are
    hashed once per process (with :func:`dataset_embeddings`) and the count is remembered until the cache changes."""
    held = _dataset_vectors(sha256, model_id())
    texts = held.texts(samples)
    distinct = len(texts.unique)
    if held.vectors is not None:  # every text has a vector
        return distinct, distinct
    return cached_count(texts), distinct


@st.cache_resource(show_spinner=False, max_entries=4)
def _projection(
    sha256: str, fit_on_real: bool, params: tuple, _embeddings_: np.ndarray, _fit_rows, _strata=None
) -> np.ndarray:
    return project(_embeddings_, fit_rows=_fit_rows, strata=_strata, **dict(params))


_SERVED: dict[tuple, None] = {}  # maps _projection served lately: a rerun skips the disk check (a 21 MB hash)


def _waiting_note(text: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """A ``waiting`` callback for :func:`analysis.once.run_once` that shows ``text`` with the seconds waited, and a
    function that removes the note. Each update is an ``st`` call, where Streamlit stops the run of a closed tab
    (or reruns after a widget change): the wait then ends there, holding nothing."""
    shown: dict[str, Any] = {}
    start = time.monotonic()

    def waiting() -> None:
        if "note" not in shown:
            shown["note"] = st.empty()
        shown["note"].info(f"{text} ({time.monotonic() - start:.0f} s)", icon=":material/hourglass_top:")

    def done() -> None:
        if "note" in shown:
            shown["note"].empty()

    return waiting, done


def dataset_projection(
    samples: pd.DataFrame, embeddings: np.ndarray, sha256: str, *, fit_on_real: bool, **params
) -> np.ndarray:
    """The 2-D map of the dataset: from memory, from the disk cache, or fitted now with a progress bar.

    A map is fitted once per dataset version and parameters in the server (:func:`analysis.once.run_once`): a
    session that asks while another fits it waits (a note says so), then reads the map from the disk cache; if
    the fitting session failed, the next one fits it.
    """
    fit_rows = (samples["source"] == "real").to_numpy() if fit_on_real else None
    strata = np.asarray(set_names(samples))  # above FIT_LIMIT rows each set keeps its share of the fitted sample
    key = (sha256, fit_on_real, tuple(sorted(params.items())))

    def cached() -> np.ndarray | None:
        return cached_projection(embeddings, fit_rows=fit_rows, strata=strata, **params)

    if key not in _SERVED and cached() is None:

        def fit() -> np.ndarray:
            bar = st.progress(0.0, text=f"Fitting the UMAP map of {len(samples):,} samples (once; then it is cached)…")

            def show(stage: str, fraction: float) -> None:
                bar.progress(fraction, text=f"UMAP: {stage}")

            xy = project(embeddings, fit_rows=fit_rows, strata=strata, progress=show, **params)
            bar.empty()
            return xy

        waiting, done = _waiting_note("Another session is computing this map; waiting…")
        xy = run_once(("map", *key), fit, ready=cached, waiting=waiting)
        done()
        return xy
    xy = _projection(*key, embeddings, fit_rows, strata)
    _SERVED[key] = None
    while len(_SERVED) > 4:  # as many as _projection keeps
        _SERVED.pop(next(iter(_SERVED)))
    return xy


def dataset_compare(samples: pd.DataFrame, embeddings: np.ndarray, **params: Any) -> pd.DataFrame:
    """:func:`analysis.judge.compare.cached_compare` of the rows given, with a progress bar while it computes: the
    Method comparison page and the report share one table per dataset and parameters (kept on disk).

    Computed once per rows and parameters in the server (:func:`analysis.once.run_once`): a session that asks
    while another computes it waits, then reads the table from the disk cache (``cached_compare`` reads it
    first); if the computing session failed or was stopped, the next one computes it.
    """
    params = {"coverage": coverage_choice(), **params}
    key = ("compare", bytes_sha256(values_bytes(samples["id"])), json.dumps(params, sort_keys=True, default=str))

    def compute() -> pd.DataFrame:
        bar = st.progress(0.0, text="Comparing sets (once; then it is cached on disk)…")
        table = cached_compare(
            samples,
            embeddings,
            progress=lambda done, total: bar.progress(done / total, text=f"Compared {done} of {total} sets…"),
            **params,
        )
        bar.empty()
        return table

    waiting, done = _waiting_note("Another session is computing this comparison; waiting…")
    table = run_once(key, compute, waiting=waiting)
    done()
    return table


_ENGINES: dict[tuple[str, str], MixtureEngine] = {}  # per server process, the last two (dataset, coverage)'s
_ENGINE_LOCK = threading.Lock()


@st.cache_data(show_spinner="Naming the regions each set misses…", max_entries=8)
def _gaps(sha256: str, ids: tuple[str, ...], size: int | None, seed: int, coverage: str, _samples, _embeddings, _xy):
    from analysis.views.review import named_gaps

    return named_gaps(_samples, _embeddings, xy=_xy, size=size, seed=seed, coverage=coverage)


def dataset_gaps(
    samples: pd.DataFrame, embeddings: np.ndarray, sha256: str, chosen: pd.DataFrame, size: int | None, seed: int
) -> tuple[Any, str]:
    """The regions each chosen set misses on the dataset's default map (:func:`analysis.views.review.named_gaps`):
    ``(GapReport, "")``, or ``(None, why not)``; computed once per dataset, sets, size and seed for every page."""
    rows = chosen.index.to_numpy()
    xy = dataset_projection(samples, embeddings, sha256, fit_on_real=False, n_neighbors=15, min_dist=0.1, seed=None)
    return _gaps(
        sha256,
        tuple(chosen["id"].astype(str)),
        size,
        seed,
        coverage_choice(),
        chosen.reset_index(drop=True),
        embeddings[rows],
        np.asarray(xy)[rows],
    )


def mixture_engine(samples: pd.DataFrame, embeddings: np.ndarray, sha256: str) -> MixtureEngine:
    """The mixture engine of the dataset: built once per server process (a progress bar meanwhile), then shared."""
    key = (sha256, coverage_choice())
    with _ENGINE_LOCK:
        if key not in _ENGINES:
            bar = st.progress(0.0, text=f"Precomputing neighbourhoods of {len(samples):,} samples (once per dataset)…")
            engine = MixtureEngine(
                samples,
                embeddings,
                progress=lambda done, total: bar.progress(
                    done / max(total, 1), text=f"Precomputing neighbourhoods: {done:,} of {total:,}…"
                ),
                coverage=key[1],
            )
            bar.empty()
            while len(_ENGINES) >= 2:
                _ENGINES.pop(next(iter(_ENGINES)))
            _ENGINES[key] = engine
        return _ENGINES[key]


def built_mixture_engine(sha256: str) -> MixtureEngine | None:
    """The dataset's mixture engine if the Mixture designer built it in this server process, else None."""
    return _ENGINES.get((sha256, coverage_choice()))
