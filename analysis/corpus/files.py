"""Reading input files safely: regular files only (pipes, devices and sockets refused unread), a size cap
enforced while reading, and the format named by the extension."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from analysis.corpus.schema import ACCEPTED_FORMATS, FORMATS, CorpusError

#: Bytes looked at to sniff a file (binary or text, separator): never the whole file.
SNIFF_BYTES = 8192
_READ_CHUNK = 1 << 20
#: Entries (files and folders) a folder walk looks at, at most: a folder of samples, not a file system.
MAX_FOLDER_ENTRIES = 250_000


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


_SAVE_SAMPLES = "Save the samples to an ordinary file or folder and load that."


def _not_regular(path: Path, name: str, mode: int, fix: str = _SAVE_SAMPLES) -> CorpusError:
    kind = next((text for test, text in _SPECIAL_KINDS if test(mode)), "a special file")
    via = " (through a symbolic link)" if path.is_symlink() else ""
    return CorpusError(
        f"{name}: {kind}{via}, not a regular file, so it is not read (it could block or never end). {fix}"
    )


def stat_input(path: Path, name: str, fix: str = _SAVE_SAMPLES) -> os.stat_result:
    """The status of a file or folder to read (symbolic links followed); special files are refused (``fix``:
    what the message tells the user to do instead)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise CorpusError(f"{name}: a symbolic link to {os.readlink(path)}, which does not exist.") from None
        raise CorpusError(f"{path}: no such file or folder. Check the path.") from None
    except OSError as exc:
        raise CorpusError(
            f"{name}: cannot read it ({exc.strerror or exc}). Check the path and its permissions."
        ) from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise _not_regular(path, name, info.st_mode, fix)
    return info


def _open_regular(path: Path, name: str) -> BinaryIO:
    """Open a regular file for reading, refusing anything else before a byte is read.

    The status is checked first, so a pipe or a device is never opened; the open itself does not
    block (``O_NONBLOCK``) and is checked again, in case the path changed in between.
    """
    info = stat_input(path, name)
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, name, info.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CorpusError(f"{name}: cannot open it ({exc.strerror or exc}). Check its permissions.") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, name, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _over_cap(name: str, max_bytes: int, size: int | None) -> CorpusError:
    held = f"is {size / 1e6:,.1f} MB" if size is not None else f"holds more than {max_bytes / 1e6:,.1f} MB"
    return CorpusError(
        f"{name}: the file {held}, over the {max_bytes / 1e6:,.1f} MB cap. Split it into smaller files, "
        f"sample it, or raise the cap (max_bytes=, or --max-mb on the command line)."
    )


class _OverCap(Exception):
    """A file holds more bytes than allowed; ``size`` is its size where the file system tells it."""

    def __init__(self, size: int | None):
        super().__init__(size)
        self.size = size


def _read_capped(path: Path, name: str, limit: int) -> bytes:
    """A regular file's bytes, reading at most ``limit + 1`` of them whatever its reported size;
    :class:`_OverCap` if it holds more than ``limit``."""
    with _open_regular(path, name) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise _OverCap(size)
        chunks, total = [], 0
        while total <= limit:
            chunk = handle.read(min(_READ_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > limit:
        raise _OverCap(None)
    return b"".join(chunks)


def read_at_most(path: Path, name: str, limit: int) -> bytes | None:
    """A regular file's bytes if it holds at most ``limit`` of them, else ``None``; never more than
    ``limit + 1`` bytes are read, whatever its reported size."""
    try:
        return _read_capped(path, name, limit)
    except _OverCap:
        return None


def read_file_bytes(path: Path, name: str, max_bytes: int) -> bytes:
    """A file's bytes, the cap enforced while reading (a file that grows, or lies about its size, stops there)."""
    try:
        raw = _read_capped(path, name, max_bytes)
    except _OverCap as over:
        raise _over_cap(name, max_bytes, over.size) from None
    if not raw.strip():
        raise CorpusError(f"{name}: the file is empty. Choose a file that holds samples.")
    return raw


def _read_prefix(path: Path, name: str, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a regular file (to sniff it), never more."""
    with _open_regular(path, name) as handle:
        return handle.read(size)


def detect_format(path: Path) -> str:
    """The format of a file from its extension, or a CorpusError that lists the accepted ones."""
    if path.is_dir():
        return "folder"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        kind = "a binary file" if _looks_binary(_read_prefix(path, path.name)) else "an unknown format"
        raise CorpusError(
            f"{path.name}: {kind} ('{path.suffix or 'no extension'}'). Accepted: {ACCEPTED_FORMATS}. "
            f"Save the samples in one of these formats, or rename the file if its extension is wrong."
        )
    return fmt


def _looks_binary(head: bytes) -> bool:
    return b"\x00" in head


def read_small_file(path: str | Path, what: str, max_bytes: int) -> bytes:
    """The bytes of a small file that is not data (a rules file, a manifest), with the same guards as data
    files: a missing path, a folder, a pipe, a device or a socket is refused unread, and never more than
    ``max_bytes + 1`` bytes are read. Raises :class:`CorpusError` saying what ``what`` is and what to give
    instead; an empty file is ``b""``."""
    path = Path(path)
    name = str(path)
    info = stat_input(path, name, fix=f"Give the path of {what}.")
    if stat.S_ISDIR(info.st_mode):
        raise CorpusError(f"{name}: a folder, not a file. Give the path of {what}.")
    raw = read_at_most(path, name, max_bytes)
    if raw is None:
        raise CorpusError(
            f"{name}: holds more than {max_bytes / 1e6:,.1f} MB, far more than {what} ever needs. Check the path."
        )
    return raw


def folder_files(path: Path, limit: int | None = None) -> tuple[list[Path], int]:
    """The files under a folder, sorted (hidden files and folders skipped, linked folders not followed),
    and how many other entries (pipes, devices, sockets, broken links) were seen.

    Raises :class:`CorpusError`, naming the folder, when a subfolder cannot be read (permissions) or the
    folder holds more than ``limit`` entries (default :data:`MAX_FOLDER_ENTRIES`; ``/`` or ``/proc`` hold
    more: not a folder of samples).
    """
    limit = MAX_FOLDER_ENTRIES if limit is None else limit
    files: list[Path] = []
    others, seen, pending = 0, 0, [path]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
            inside = "" if folder == path else f" (inside {path})"
            raise CorpusError(
                f"{folder}{inside}: the folder cannot be read ({reason}). Load a folder you can read, or fix its "
                f"permissions."
            ) from None
        for entry in children:
            if entry.name.startswith("."):
                continue
            seen += 1
            if seen > limit:
                raise CorpusError(
                    f"{path}: holds more than {limit:,} files and folders, which is not a folder of samples. Give "
                    f"the folder that holds your .txt files (one sample per file, a subfolder per label)."
                )
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_dir():
                    continue  # a link to a folder: not followed (it could loop or leave the folder)
                elif entry.is_file():
                    files.append(Path(entry.path))
                else:
                    others += 1
            except OSError:
                others += 1
    return sorted(files), others
