"""Past one machine: embedding and exact k-NN on a Ray cluster, with the same numbers as the laptop.

Ray is an optional extra (``pip install -e '.[scale]'``); nothing here imports it until a Ray engine
is asked for, so the local engine works without it.

- :func:`embed_on_ray` reads Parquet, CSV and JSONL files (or folders of such shards) as Ray Data
  blocks, embeds them with a pool of actors that each load the model once, and writes the vectors
  into the same content-addressed cache :func:`analysis.vectors.embed.embed` reads. Texts already cached
  are skipped on the workers (the cache's keys travel to them once, through Ray's object store), so
  only texts go out and only new vectors come back; the driver writes each returned batch to the
  cache as it arrives, so a killed run keeps every finished batch and a rerun embeds only the rest.
  The actors call :func:`analysis.vectors.embed.embed` itself (with its cache off), so they use the local
  path's backend and batching and give the same vectors.
- :class:`RayEngine` runs the k-NN work of :mod:`analysis.metrics.knn` (coverage, tail coverage,
  precision/recall/density, and whatever else calls ``kth_neighbour_sq`` or ``ball_counts``) as Ray
  tasks over blocks of query rows, the prepared reference set shared through ``ray.put``. Results
  are exactly the local engine's: ``with RayEngine(address) as engine, knn.using(engine): compare(...)``.

Secrets: nothing from the environment is handed to Ray (no ``runtime_env`` is set), and a local
Ray started here is started without the variables that look like secrets (``*KEY*``, ``*TOKEN*``,
``*SECRET*``, ``*PASSWORD*``), so its workers and their logs never see them.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from analysis.errors import CollapseLabError

__all__ = [
    "ClusterUnreachableError",
    "DistributedError",
    "EmbedRun",
    "RayEngine",
    "RayNotInstalledError",
    "WorkerDiedError",
    "check_address",
    "embed_on_ray",
    "ray_session",
    "read_texts",
]

#: Texts per actor call: the local path's chunk (analysis.vectors.embed.CHUNK), so both batch alike.
DEFAULT_BATCH_SIZE = 256
#: Vectors written back are merged into shards of about this many rows (a kill loses nothing written).
MERGE_ROWS = 65_536
#: Environment variables never handed to a Ray started here (names matched case-insensitively).
SECRET_NAMES = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
#: Formats Ray Data reads here, by file extension.
RAY_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

INSTALL_HINT = "pip install -e '.[scale]'"
#: The test hook's actor dies no sooner than this batch (see _Embedder), so the batches before it are kept.
CRASH_ON_BATCH = 3
#: A local Ray gives up when its agents start slower than about 15 s (a loaded 2-core machine); try again.
LOCAL_START_ATTEMPTS = 3
#: How long a local Ray's node waits for its agents to start (Ray's ``agent_register_timeout_ms``).
AGENT_WAIT_MS = 120_000


class DistributedError(CollapseLabError, RuntimeError):
    """A problem running on Ray; the message says what and how to fix it."""


class RayNotInstalledError(DistributedError, ImportError):
    """``--engine ray`` was asked for but Ray is not installed."""


class ClusterUnreachableError(DistributedError, ConnectionError):
    """The Ray cluster's address cannot be reached."""


class WorkerDiedError(DistributedError):
    """A Ray worker died and its retries ran out; the work finished before it is kept."""


def require_ray():
    """The ``ray`` module, or a :class:`RayNotInstalledError` that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayNotInstalledError(
            f"The Ray engine needs Ray, which is not installed. Install the 'scale' extra ({INSTALL_HINT}), "
            f"or leave out --engine ray to run on this machine."
        ) from None
    return ray


# --------------------------------------------------------------------------- connecting


def _host_port(address: str) -> tuple[str, int]:
    rest = address.removeprefix("ray://")
    default = 10001 if address.startswith("ray://") else 6379  # Ray client server, GCS
    host, sep, port = rest.rpartition(":")
    if not sep:
        return rest, default
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ClusterUnreachableError(
            f"Ray address {address!r}: {port!r} is not a port number. Give HOST:PORT (the address "
            f"`ray start --head` prints, e.g. 10.0.0.5:6379) or ray://HOST:10001."
        ) from None


def check_address(address: str, *, timeout: float = 3.0) -> None:
    """Fail fast, with a :class:`ClusterUnreachableError`, when nothing listens at a Ray address.

    ``auto`` and ``local`` are left to Ray. Ray's own connect retries for a minute or more; this
    opens one TCP connection with ``timeout`` seconds to answer.
    """
    if address in ("auto", "local"):
        return
    host, port = _host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ClusterUnreachableError(
            f"Cannot reach the Ray cluster at {address!r} ({exc.strerror or type(exc).__name__}). Check that the "
            f"head node runs (`ray start --head` prints its address) and that this machine can reach {host}:{port}; "
            f"leave out --address to run on a local Ray on this machine."
        ) from None


@contextmanager
def _without_secrets() -> Iterator[None]:
    """Hide secret-looking environment variables while Ray starts its processes (they inherit it)."""
    hidden = {name: os.environ.pop(name) for name in list(os.environ) if SECRET_NAMES.search(name)}
    try:
        yield
    finally:
        os.environ.update(hidden)


@contextmanager
def ray_session(
    address: str | None = None, *, num_cpus: int | None = None, log_to_driver: bool = False
) -> Iterator[Any]:
    """Ray, connected: an already running session as it is, else ``ray.init`` here and shut down after.

    ``address`` is None for a local Ray on this machine (``num_cpus`` of it), ``auto`` for the
    cluster this machine belongs to, ``HOST:PORT`` or ``ray://HOST:PORT`` for a remote one. No
    dashboard (a laptop needs none), workers' output not copied to this terminal unless
    ``log_to_driver`` (errors still come back as exceptions), no ``runtime_env``.
    """
    ray = require_ray()
    if address:
        check_address(address)
    if ray.is_initialized():
        yield ray
        return
    if not address:  # a loaded machine starts Ray's agents slowly; Ray's default wait (15 s) kills the node
        os.environ.setdefault("RAY_agent_register_timeout_ms", str(AGENT_WAIT_MS))
    for attempt in range(1 if address else LOCAL_START_ATTEMPTS):
        try:
            with _without_secrets():
                ray.init(
                    address=address,
                    num_cpus=num_cpus if not address else None,
                    include_dashboard=False,
                    log_to_driver=log_to_driver,
                    logging_level=logging.WARNING,
                )
            break
        except Exception as exc:  # Ray raises a plain Exception when its processes start too slowly
            ray.shutdown()
            if not address and attempt + 1 < LOCAL_START_ATTEMPTS and "timed out" in str(exc):
                continue
            reason = " ".join(str(exc).split())[:200]
            raise ClusterUnreachableError(
                f"Cannot start or join Ray at {address or 'a local instance'!r} ({type(exc).__name__}: {reason}). "
                f"Check the address (`ray status` on the head node) or leave out --address for a local Ray."
            ) from None
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver draws one bar of its own (rows, rate, ETA)
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset INFO lines under the bar
    try:
        yield ray
    finally:
        ray.shutdown()


def _cluster_cpus(ray) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _died(exc: BaseException, what: str, kept: str) -> WorkerDiedError:
    reason = " ".join(str(exc).split())[:300]
    return WorkerDiedError(
        f"A Ray worker died during {what} and its retries ran out ({type(exc).__name__}: {reason}). {kept} "
        f"Check the workers' memory and logs (`ray logs` on the head node), then run the same command again."
    )


def _ray_errors(ray) -> tuple[type[BaseException], ...]:
    return (ray.exceptions.RayError,)


# --------------------------------------------------------------------------- reading


def _sample_text(value: Any) -> str:
    """A cell as sample text, as the project's loaders make it: strings stripped, numbers written out,
    missing values empty (and then dropped). Mirrors analysis.corpus's rule for the text column."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return (value if isinstance(value, str) else str(value)).strip()


def _input_files(paths: Sequence[str | Path]) -> dict[str, list[str]]:
    """Input files by format; a folder contributes its Parquet, CSV and JSONL shards (recursively)."""
    from analysis.corpus import CorpusError

    by_format: dict[str, list[str]] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RAY_FORMATS)
            if not files:
                raise CorpusError(
                    f"{path}: no Parquet, CSV or JSONL shards in this folder. The Ray engine reads "
                    f"{', '.join(RAY_FORMATS)}; use --engine local for other formats."
                )
        elif path.is_file():
            if path.suffix.lower() not in RAY_FORMATS:
                raise CorpusError(
                    f"{path}: the Ray engine reads Parquet, CSV and JSONL ({', '.join(RAY_FORMATS)}), not "
                    f"{path.suffix or 'a file without extension'}. Convert it, or use --engine local."
                )
            files = [path]
        else:
            raise CorpusError(f"{path}: no such file or folder. Check the path.")
        for file in files:
            by_format.setdefault(RAY_FORMATS[file.suffix.lower()], []).append(str(file.resolve()))
    return by_format


def read_texts(paths: Sequence[str | Path], *, text_column: str | None = None):
    """The sample texts of files as a Ray Dataset with one column, ``text`` (blank texts dropped).

    Parquet, CSV and JSONL files or folders of them are read as Ray Data blocks on the workers. The
    text column is ``text_column``, or the project loaders' guess (:func:`analysis.corpus.guess_text_column`)
    on the first 1,000 rows of each format; each text is stripped and blank ones are dropped, as the
    loaders do. CSV cells are read as strings (the loaders' ``dtype=str``), comma-separated, UTF-8.
    """
    ray = require_ray()
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from analysis.corpus import CorpusError, guess_text_column

    datasets = []
    for fmt, files in _input_files(paths).items():
        if fmt == "parquet":
            dataset = ray.data.read_parquet(files)
        elif fmt == "csv":
            with pacsv.open_csv(files[0]) as reader:
                names = reader.schema.names
            strings = pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False
            )
            dataset = ray.data.read_csv(files, convert_options=strings)
        else:
            dataset = ray.data.read_json(files, lines=True, file_extensions=None)
        column = text_column
        if column is None:
            column, _ = guess_text_column(pd.DataFrame(dataset.take(1000)), files[0])  # plain Python values
        elif column not in dataset.columns():
            raise CorpusError(
                f"{files[0]}: no column '{column}' for the text. Columns: {', '.join(dataset.columns())}. "
                f"Pick one of these (--text-column)."
            )
        datasets.append(dataset.map_batches(_texts_of, fn_kwargs={"column": column}, batch_format="pandas"))
    return datasets[0] if len(datasets) == 1 else datasets[0].union(*datasets[1:])


def _texts_of(frame, column: str):
    import pandas as pd

    texts = frame[column].map(_sample_text) if column in frame else pd.Series([], dtype=object)
    return pd.DataFrame({"text": texts[texts != ""].to_numpy(dtype=object)})


# --------------------------------------------------------------------------- embedding


class EmbedRun(NamedTuple):
    """What :func:`embed_on_ray` did: texts read, embedded now, found in the cache, and seconds taken."""

    rows: int
    embedded: int
    cached: int
    seconds: float


def _cached_keys(cache) -> np.ndarray:
    """Every key in a cache's shards (its own and the shipped read-only ones), sorted, as ``S32``."""
    parts = [np.zeros(0, dtype="S32")]
    for folder in (cache.directory, *cache.read_only):
        for shard in sorted(Path(folder).glob("shard-*.npz")) if Path(folder).is_dir() else ():
            try:
                with np.load(shard) as data:
                    keys = np.ascontiguousarray(data["keys"], dtype=np.uint8)
                parts.append(keys.reshape(-1, 32).view("S32").ravel())
            except Exception:  # a damaged shard is skipped, as the cache itself does
                continue
    return np.unique(np.concatenate(parts))


class _Embedder:
    """A Ray actor: loads the model once, then embeds the batches it is given that the cache lacks.

    Returns one row per batch: how many texts came in, and the keys and float32 vectors (as bytes)
    of the texts embedded now. ``crash_marker`` is a test hook: when that file does not exist yet, the
    actor creates it and exits, as a worker killed mid-run would, on its first batch from the third on
    that finds a vector the driver has written into the cache (``cache_dir``), so some work came back first.
    """

    def __init__(
        self, model: str | None, cached: list, crash_marker: str | None = None, cache_dir: str | None = None
    ) -> None:
        import ray

        from analysis.vectors.embed import embed, model_id

        self.model, self.identity = model, model_id(model)
        self.cached = ray.get(cached[0])
        self.crash_marker, self.cache_dir = crash_marker, cache_dir
        self.batches = 0
        self.dimension = embed(["warm-up"], model=model, use_cache=False).shape[1]  # loads the model, once

    def _is_cached(self, keys: list[bytes]) -> np.ndarray:
        if not len(self.cached) or not keys:
            return np.zeros(len(keys), dtype=bool)
        wanted = np.array(keys, dtype="S32")
        position = np.minimum(np.searchsorted(self.cached, wanted), len(self.cached) - 1)
        return self.cached[position] == wanted

    def _crash_now(self) -> bool:
        if not self.crash_marker or self.batches < CRASH_ON_BATCH or os.path.exists(self.crash_marker):
            return False
        return self.cache_dir is not None and any(Path(self.cache_dir).glob("shard-*.npz"))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from analysis.vectors.embed import embed, text_keys

        self.batches += 1
        if self.crash_marker and self._crash_now():
            Path(self.crash_marker).touch()
            os._exit(1)
        texts = list(dict.fromkeys(str(t) for t in batch["text"]))
        keys = text_keys(self.identity, texts)
        new = np.flatnonzero(~self._is_cached(keys))
        if len(new):
            vectors = embed([texts[i] for i in new], model=self.model, use_cache=False)
        else:
            vectors = np.zeros((0, self.dimension), np.float32)
        return {
            "rows": np.array([len(batch["text"])], dtype=np.int64),
            "keys": np.array([b"".join(keys[i] for i in new)], dtype=object),
            "vectors": np.array([np.ascontiguousarray(vectors, np.float32).tobytes()], dtype=object),
            "dimension": np.array([vectors.shape[1]], dtype=np.int64),
        }


class _CacheWriter:
    """Writes returned vectors into the cache as they come, merging small shards every MERGE_ROWS rows."""

    def __init__(self, cache) -> None:
        self.cache = cache
        self.pending: list[tuple[list[bytes], np.ndarray, Path]] = []
        self.rows = 0

    def add(self, keys: list[bytes], vectors: np.ndarray) -> None:
        path = self.cache.add(keys, vectors)  # durable before it counts as done
        if path is not None:
            self.pending.append((keys, vectors, path))
            self.rows += len(keys)
        if self.rows >= MERGE_ROWS:
            self.merge()

    def merge(self) -> None:
        if len(self.pending) > 1:
            self.cache.add(
                [k for keys, _, _ in self.pending for k in keys], np.concatenate([v for _, v, _ in self.pending])
            )
            for _, _, path in self.pending:  # the merged shard is durable first
                path.unlink(missing_ok=True)
        self.pending, self.rows = [], 0


def embed_on_ray(
    paths: Sequence[str | Path],
    *,
    model: str | None = None,
    text_column: str | None = None,
    cache_dir: str | Path | None = None,
    address: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    concurrency: int | None = None,
    retries: int = 2,
    progress: Callable[[int, int], object] | None = None,
    crash_marker: str | None = None,
) -> EmbedRun:
    """Embed the texts of files on Ray and write the vectors into the local embedding cache.

    Parameters
    ----------
    paths
        Parquet, CSV or JSONL files, or folders of such shards (see :func:`read_texts`).
    model, cache_dir
        As for :func:`analysis.vectors.embed.embed`: the vectors land where it finds them.
    text_column
        The column of sample texts (default: the loaders' guess).
    address
        None for a local Ray on this machine, ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` for a cluster.
        An already initialised Ray session is used as it is.
    batch_size
        Texts per actor call (default 256, the local path's chunk).
    concurrency
        Embedding actors, one CPU each (default: one per CPU of the cluster).
    retries
        Restarts of a dead actor, and retries of its batch, before the run stops with a
        :class:`WorkerDiedError` (what finished is in the cache either way).
    progress
        Called as ``progress(done, total)`` with texts done (embedded or found cached) as batches return.
    crash_marker
        Test hook: see :class:`_Embedder`.

    Texts repeated within a batch are embedded once; a text repeated in two batches of one run may
    be embedded by both (the first vector written wins), never again on a rerun.
    """
    from analysis.vectors.embed import embedding_cache

    started = time.monotonic()
    with ray_session(address) as ray:
        # one block per batch: Ray Data returns a task's output only when its whole input block is done,
        # so without this a big block's finished batches would be lost with a worker that dies later
        texts = read_texts(paths, text_column=text_column).repartition(target_num_rows_per_block=batch_size)
        texts = texts.materialize()
        total = texts.count()
        cache = embedding_cache(model, cache_dir)
        cached = ray.put(_cached_keys(cache))
        size = concurrency or _cluster_cpus(ray)
        results = texts.map_batches(
            _Embedder,
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=size),
            fn_constructor_kwargs={
                "model": model,
                "cached": [cached],
                "crash_marker": crash_marker,
                "cache_dir": str(cache.directory),
            },
            num_cpus=1,
            max_restarts=retries,
            max_task_retries=retries,
        )
        writer = _CacheWriter(cache)
        done = embedded = 0
        if progress:
            progress(0, total)
        try:
            for row in results.iter_rows():
                vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(-1, int(row["dimension"]))
                raw = row["keys"]
                keys = [raw[i : i + 32] for i in range(0, len(raw), 32)]
                if keys:
                    writer.add(keys, vectors)
                embedded += len(keys)
                done += int(row["rows"])
                if progress:
                    progress(done, total)
        except _ray_errors(ray) as exc:
            writer.merge()
            raise _died(
                exc,
                "embedding",
                f"{embedded:,} vectors embedded before it are in the cache ({Path(cache.directory)}), so a rerun "
                f"embeds only the rest.",
            ) from None
        writer.merge()
    return EmbedRun(rows=total, embedded=embedded, cached=total - embedded, seconds=time.monotonic() - started)


# --------------------------------------------------------------------------- k-NN


def _kth_task(x, kth: int, start: int, stop: int) -> np.ndarray:
    from analysis.metrics import knn

    return knn.kth_neighbour_sq_rows(x, kth, start, stop)


def _ball_task(a, a_r2: np.ndarray, b, b_r2: np.ndarray, start: int, stop: int):
    from analysis.metrics import knn

    return knn.ball_counts_rows(a, a_r2, b, b_r2, start, stop)


class RayEngine:
    """The k-NN engine of :mod:`analysis.metrics.knn` on Ray: blocks of query rows as tasks.

    Use as ``with RayEngine(address) as engine, knn.using(engine): ...``. The prepared sets go to
    Ray's object store once per call (``ray.put``) and every task reads them from there; each task
    returns its rows' radii or counts, which concatenate (``holding``: OR) to exactly the local
    engine's result. A Ray already initialised in this process is used as it is; otherwise entering
    starts (or joins, with ``address``) one and leaving stops it.
    """

    def __init__(self, address: str | None = None, *, rows_per_task: int | None = None, progress: bool = True) -> None:
        self.address = address
        self.rows_per_task = rows_per_task
        self.progress = progress
        self._session: AbstractContextManager[Any] | None = None
        self._remote: dict[str, Any] = {}

    def __enter__(self) -> RayEngine:
        session = self._session = ray_session(self.address)
        self._ray = session.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.__exit__(*exc_info)

    def _connected(self):
        if self._session is None:
            self.__enter__()
        return self._ray

    def _task(self, name: str, function: Callable):
        if name not in self._remote:
            self._remote[name] = self._ray.remote(num_cpus=1)(function)
        return self._remote[name]

    def _blocks(self, rows: int) -> list[tuple[int, int]]:
        step = self.rows_per_task or max(256, math.ceil(rows / (4 * _cluster_cpus(self._ray))))
        return [(start, min(rows, start + step)) for start in range(0, rows, step)]

    def _gather(self, futures: list, blocks: list[tuple[int, int]], what: str) -> list:
        """Results in block order, with a progress bar of rows done, rate and time left."""
        ray = self._ray
        rows = {future: stop - start for future, (start, stop) in zip(futures, blocks)}
        from tqdm import tqdm

        try:
            with tqdm(total=sum(rows.values()), unit="row", desc=f"{what} on Ray", disable=not self.progress) as bar:
                pending = list(futures)
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1)
                    bar.update(sum(rows[f] for f in ready))
            return ray.get(futures)
        except ray.exceptions.RayTaskError as exc:  # our own code raised: show that error, not Ray's wrapper
            raise exc.as_instanceof_cause() from None
        except _ray_errors(ray) as exc:
            raise _died(exc, what, "Nothing is cached for k-NN work; the computation can be run again.") from None

    def kth_neighbour_sq(self, x, kth: int) -> np.ndarray:
        ray = self._connected()
        shared = ray.put(x)
        blocks = self._blocks(len(x.x))
        task = self._task("kth", _kth_task)
        futures = [task.remote(shared, kth, start, stop) for start, stop in blocks]
        return np.concatenate(self._gather(futures, blocks, "k-NN radii"))

    def ball_counts(self, a, a_r2: np.ndarray, b, b_r2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ray = self._connected()
        shared_a, shared_a_r2, shared_b, shared_b_r2 = (ray.put(v) for v in (a, a_r2, b, b_r2))
        blocks = self._blocks(len(a.x))
        task = self._task("balls", _ball_task)
        futures = [task.remote(shared_a, shared_a_r2, shared_b, shared_b_r2, start, stop) for start, stop in blocks]
        parts = self._gather(futures, blocks, "k-NN balls")
        held = np.concatenate([p[0] for p in parts])
        holding = np.logical_or.reduce([p[1] for p in parts])
        reached = np.concatenate([p[2] for p in parts])
        return held, holding, reached
