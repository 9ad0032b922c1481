"""The embedding cache's index: append-only shards of (key, vector) for one model, read into memory.

:class:`EmbeddingCache` is what :func:`analysis.vectors.embed.embed` reads and fills (its layout, keys and
shards are described there). Readers never lock: the index and its matrix are published together as one
immutable snapshot (:class:`_Snapshot`), swapped atomically, so any number of threads can look up while
shards arrive.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from itertools import compress, repeat
from pathlib import Path

import numpy as np

from analysis.io import atomic_write

__all__ = ["EmbeddingCache"]


@dataclass(frozen=True)
class _Snapshot:
    """One consistent state of a cache's index.

    ``index`` is shared by every snapshot of a cache and only ever grows (append-only: a
    key, once in, keeps its row), so publishing a shard costs its own rows, not a copy of the index; a
    reader ignores keys whose row lies past its own ``matrix`` (added after it took the snapshot).
    """

    index: dict[bytes, int]  # key -> row of the cache's buffer; rows >= len(matrix) are newer than this snapshot
    matrix: np.ndarray  # (rows, d) float32: a view whose rows are never written again
    shards: frozenset[str]  # the shard files read into it (skipped damaged ones included)


class EmbeddingCache:
    """Append-only shards of (key, vector) for one model, indexed in memory.

    Thread-safe: writers (:meth:`refresh`, :meth:`add`) take a lock, build the next snapshot of index
    and matrix aside and publish it with one assignment; :meth:`lookup` reads one snapshot and takes
    no lock. The matrix lives in a buffer that grows by doubling: a new snapshot only writes rows past
    the end of every published view (or into a new buffer), so rows a reader can see never change.
    """

    def __init__(self, directory: str | Path, *, read_only: tuple[Path, ...] = ()) -> None:
        self.directory = Path(directory)
        self.read_only = tuple(Path(d) for d in read_only)  # shards read but never written (the demo's)
        self._snapshot = _Snapshot({}, np.zeros((0, 0), np.float32), frozenset())
        self._buffer: np.ndarray | None = None  # rows [0, len(snapshot.matrix)) are published
        self._lock = threading.Lock()  # one writer at a time

    def __len__(self) -> int:
        self.refresh()
        return len(self._snapshot.index)

    def _shard_paths(self) -> dict[str, Path]:
        return {str(p): p for d in (self.directory, *self.read_only) if d.is_dir() for p in d.glob("shard-*.npz")}

    def refresh(self) -> None:
        """Read shards written since the last look (by this process or another)."""
        paths = self._shard_paths()
        if paths.keys() <= self._snapshot.shards:
            return
        with self._lock:
            new = sorted(paths.keys() - self._snapshot.shards)  # again: another thread may have read them
            if not new:
                return
            blocks = []
            for name in new:
                try:
                    with np.load(paths[name]) as shard:
                        keys, vectors = shard["keys"], np.asarray(shard["vectors"], np.float32)
                    if vectors.ndim != 2 or keys.shape != (len(vectors), 32):
                        raise ValueError("keys and vectors do not match")
                    blocks.append((np.ascontiguousarray(keys, dtype=np.uint8).tobytes(), vectors))
                except Exception:  # a damaged shard is skipped, never fatal
                    continue
            self._publish(blocks, new, owned=True)

    def _publish(self, blocks: list[tuple[bytes, np.ndarray]], names: list[str], *, owned: bool = False) -> None:
        """Index new (raw keys, vectors) blocks and swap in the next snapshot; the caller holds the lock.

        Each block's keys go through a few C-level passes (dict building, ``map``, ``compress``), never a Python
        statement per key: a shard of a million keys is indexed in under a second, not several. ``owned``: the
        blocks' arrays belong to this cache (read from shards), so a first block taken whole becomes the buffer
        instead of being copied into a new one.
        """
        old = self._snapshot
        width = old.matrix.shape[1] if len(old.matrix) else next((v.shape[1] for _, v in blocks if len(v)), 0)
        index = old.index  # append-only, shared with the published snapshots: keys go in after their rows
        fresh: dict[bytes, int] = {}
        rows: list[np.ndarray] = []
        size = len(old.matrix)
        for raw, vectors in blocks:
            if len(vectors) and vectors.shape[1] != width:  # another model's width: not this cache's
                continue
            keys = np.frombuffer(raw, dtype="V32").tolist()  # 32-byte bytes objects (trailing NUL bytes kept)
            # the first vector of a key wins, as it always has: within the block, then against earlier ones
            first = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1)))  # key -> its first row in the block
            keep = np.fromiter(map(first.__getitem__, keys), np.int64, count=len(keys)) == np.arange(len(keys))
            for known in (index, fresh):
                if known:
                    keep &= ~np.fromiter(map(known.__contains__, keys), bool, count=len(keys))
            take = int(keep.sum())
            if take:
                fresh.update(zip(compress(keys, keep.tolist()), range(size, size + take)))
                rows.append(vectors if take == len(vectors) else vectors[keep])
                size += take
        whole = rows[0] if owned and not len(old.matrix) and len(rows) == 1 else None
        if whole is not None and whole.flags.c_contiguous and whole.flags.writeable and whole.dtype == np.float32:
            self._buffer = whole  # a fresh process's one shard: indexed where it was read, no copy
            matrix = whole
        else:
            matrix = self._place(old.matrix, rows, size, width)
        index.update(fresh)  # rows written first: a reader that sees a key sees its row (or ignores it as newer)
        self._snapshot = _Snapshot(index, matrix, old.shards.union(names))

    def _place(self, published: np.ndarray, rows: list[np.ndarray], size: int, width: int) -> np.ndarray:
        """The next matrix: the published rows and then ``rows`` (``size`` in all), written past the end of every
        published view, or into a new buffer (twice as large) when the current one is full."""
        if size == len(published):
            return published
        buffer = self._buffer
        if buffer is None or buffer.shape[1] != width or len(buffer) < size:
            buffer = self._buffer = np.empty((max(size, 2 * len(published), 1024), width), np.float32)
            if len(published):
                buffer[: len(published)] = published
        np.concatenate(rows, out=buffer[len(published) : size])
        return buffer[:size]

    def _rows(self, keys: list[bytes], snapshot: _Snapshot | None = None) -> tuple[np.ndarray, _Snapshot]:
        """Each key's row in one snapshot's matrix (-1 where it is not there), and that snapshot."""
        if snapshot is None:
            self.refresh()
            snapshot = self._snapshot  # one consistent index and matrix, whatever writers do meanwhile
        rows = np.fromiter(map(snapshot.index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
        rows[rows >= len(snapshot.matrix)] = -1  # a row past the matrix arrived after the snapshot
        return rows, snapshot

    def contains(self, keys: list[bytes]) -> np.ndarray:
        """Which keys have a vector (a mask), without copying any vector."""
        return self._rows(keys)[0] >= 0

    def lookup(self, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the keys found (``found`` mask, ``vectors`` of the found ones, in order)."""
        rows, snapshot = self._rows(keys)
        found = rows >= 0
        vectors = snapshot.matrix[rows[found]] if found.any() else np.zeros((0, 0), np.float32)
        return found, vectors

    def add(self, keys: list[bytes], vectors: np.ndarray) -> Path | None:
        """Write one new shard durably (temp file, fsync, rename, fsync of the folder); index it; return its path."""
        if not keys:
            return None
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(keys):
            raise ValueError(f"{len(keys)} keys but vectors of shape {vectors.shape}")
        raw = b"".join(keys)
        path = self.directory / f"shard-{uuid.uuid4().hex}.npz"
        with atomic_write(path) as file:  # written as .tmp-*.npz, not a shard-*.npz: readers never see it
            # keys as uint8 rows: numpy's fixed-width bytes type would drop trailing NUL bytes
            np.savez(file, keys=np.frombuffer(raw, dtype=np.uint8).reshape(-1, 32), vectors=vectors)
        with self._lock:
            self._publish([(raw, vectors)], [str(path)])
        return path
