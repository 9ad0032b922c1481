"""Durable file writes and content checksums: the low-level input/output every other module shares.

- :func:`atomic_write` / :func:`atomic_write_bytes`: write a file so that a reader (or a crash)
  sees the old file or the new one, never a part: a temporary file in the same folder, flushed
  and fsynced, renamed over the target, then the folder fsynced so the rename itself survives a
  power cut.
- :func:`fsync_directory`: that last step on its own, after a rename done by hand.
- :func:`parquet_bytes`: a table as Parquet bytes, without the frame's ``attrs``.
- :func:`bytes_sha256` / :func:`file_sha256`: hex SHA-256 of bytes (given in pieces) or of a file.

This module imports nothing of the project, so any module may use it without an import circle.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import pandas as pd

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "bytes_sha256",
    "file_sha256",
    "fsync_directory",
    "parquet_bytes",
    "values_bytes",
]

#: Bytes read at a time by :func:`file_sha256`.
_READ_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through; it replaces ``path`` only when the block ends without error.

    The temporary file is ``.tmp-*<suffix>`` in the target's folder (created if missing), so a
    folder's clean-up can recognise one left by a crash; on an error it is removed and the old
    file stays as it was. The new file is readable by all (0644), like an ordinary data file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; these are ordinary data files
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    with atomic_write(path) as file:
        file.write(data)


def fsync_directory(folder: str | Path) -> None:
    """Make the renames and deletions in ``folder`` durable (POSIX: fsync of the folder itself)."""
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def parquet_bytes(table: pd.DataFrame, *, as_text: Iterable[str] = ()) -> bytes:
    """``table`` as Parquet bytes (no index, no ``attrs``).

    The columns named in ``as_text`` that hold Python objects (``object`` dtype: mixed types, say)
    are stored as their ``str``, with ``None`` kept as null, so Parquet gets one type per column.
    ``table`` itself is not changed.
    """
    table = table.copy()
    table.attrs = {}
    for column in as_text:
        if column in table.columns and table[column].dtype == object:
            table[column] = table[column].map(lambda v: None if v is None else str(v))
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def bytes_sha256(*chunks: bytes) -> str:
    """Hex SHA-256 of the concatenated ``chunks`` (hashed one after the other, never joined in memory)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def values_bytes(values: pd.DataFrame | pd.Series) -> bytes:
    """A table's or column's values as text, hashed row by row (pandas' 64-bit row hashes, in order): what a content
    key of sample columns feeds :func:`bytes_sha256`."""
    return pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy().tobytes()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
