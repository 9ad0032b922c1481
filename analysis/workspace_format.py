"""What a workspace folder holds on disk and how it is guarded (the ground under :mod:`analysis.workspace`).

The file names and format version, where workspaces live (:func:`workspaces_dir`) and what names and session
tokens they take, the writer lock (a thread lock and an ``flock``, :func:`_locked`), the checks that what a
folder holds is a valid workspace (:func:`check_manifest`, :func:`check_parts`, :func:`check_subsets`), the
errors, and :class:`Recovery`. :mod:`analysis.workspace` re-exports the public names; import them from there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.corpus import LoadReport
from analysis.errors import CollapseLabError

__all__ = [
    "ANY_VERSION",
    "DEFAULT_SHARED",
    "FORMAT_VERSION",
    "KEEP_VERSIONS",
    "Recovery",
    "WorkspaceDamaged",
    "WorkspaceError",
    "check_manifest",
    "check_parts",
    "check_subsets",
    "check_version",
    "default_workspace_dir",
    "describe_version",
    "new_session_token",
    "valid_session_token",
    "validate_workspace_name",
    "workspaces_dir",
]

MANIFEST = "manifest.json"
PREVIOUS = "manifest.previous.json"
HISTORY = "history.json"
SUBSETS = "subsets.json"
RECOVERY = "recovery.json"
LOCK = ".lock"
FORMAT_VERSION = 1
#: Earlier states a workspace keeps for undo (each keeps its samples file on disk).
KEEP_VERSIONS = 5
#: Shared workspace names (and session tokens): letters, digits, ``_`` and ``-``; nothing else
#: can reach the path, so a name never walks out of its folder.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")
DEFAULT_SHARED = "default"
#: What a damaged workspace's move aside copies back into the fresh one (the damaged copy keeps all).
_CARRIED_FOLDERS = ("uploads", "runs", "monitor")
_SAMPLES_FILE = re.compile(r"samples-[0-9a-f]{20}\.parquet")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SOURCES = ("real", "synthetic")
_REPORT_FIELDS = frozenset(LoadReport.__dataclass_fields__)


class WorkspaceError(CollapseLabError, RuntimeError):
    """The workspace cannot be used as asked; the message says what to do."""


class WorkspaceDamaged(WorkspaceError):
    """What the workspace holds on disk is damaged; :meth:`Workspace.recover` moves it aside."""


def workspaces_dir() -> Path:
    """The folder of all workspaces: ``$COLLAPSE_LAB_WORKSPACE``, or ``data/workspace`` next to ``analysis``."""
    configured = os.environ.get("COLLAPSE_LAB_WORKSPACE")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "data" / "workspace"


def default_workspace_dir() -> Path:
    """The library's and the CLI's default workspace: the shared workspace named ``default``."""
    return workspaces_dir() / "shared" / DEFAULT_SHARED


def new_session_token() -> str:
    """An unguessable id for a private workspace (32 URL-safe characters, 192 random bits)."""
    return secrets.token_urlsafe(24)


def valid_session_token(token: Any) -> bool:
    return isinstance(token, str) and TOKEN_PATTERN.fullmatch(token) is not None


def validate_workspace_name(name: Any) -> str:
    """The shared workspace name, stripped; raises :class:`WorkspaceError` unless it is a safe folder name."""
    cleaned = name.strip() if isinstance(name, str) else ""
    if not NAME_PATTERN.fullmatch(cleaned):
        shown = repr(name)[:80]
        raise WorkspaceError(
            f"{shown} is not a workspace name: use 1 to 64 letters, digits, '_' or '-' (for example team-review)."
        )
    return cleaned


# --- locking -----------------------------------------------------------------------------------

_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()
_HELD = threading.local()  # per thread: workspace key -> how deep this thread holds its lock


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold the workspace's lock: its thread lock, then an exclusive flock on ``<root>/.lock``.

    Re-entrant within a thread. The flock is re-taken when the lock file was replaced meanwhile
    (its folder deleted by hand), so two holders never lock different files of one path.
    """
    key = os.path.abspath(root)
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(key, threading.RLock())
    held = _HELD.__dict__.setdefault("depth", {})
    with thread_lock:
        if held.get(key):
            held[key] += 1
            try:
                yield
            finally:
                held[key] -= 1
            return
        descriptor = _flock(Path(key))
        held[key] = 1
        try:
            yield
        finally:
            held[key] = 0
            os.close(descriptor)  # closing the only descriptor releases the flock


def _flock(root: Path) -> int:
    lock_path = root / LOCK
    while True:
        root.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder vanished between mkdir and open
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            held, current = os.fstat(descriptor), os.stat(lock_path)
        except FileNotFoundError:
            os.close(descriptor)
            continue
        except BaseException:
            os.close(descriptor)
            raise
        if (held.st_ino, held.st_dev) == (current.st_ino, current.st_dev):
            return descriptor
        os.close(descriptor)


# --- what a valid workspace holds --------------------------------------------------------------


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_manifest(manifest: Any, where: str = MANIFEST) -> dict[str, Any]:
    """``manifest`` if it has the shape :meth:`Workspace.save` writes; else :class:`WorkspaceDamaged`."""
    if not isinstance(manifest, dict):
        raise WorkspaceDamaged(f"{where} holds a JSON {type(manifest).__name__}, not the expected object")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise WorkspaceDamaged(f"{where} is not a format this version reads (format_version {FORMAT_VERSION})")
    expected = {"name": str, "samples_file": str, "sha256": str, "saved_at": str, "rows": int, "parts": list}
    for key, kind in expected.items():
        if key not in manifest:
            raise WorkspaceDamaged(f"{where} has no '{key}'")
        if not isinstance(manifest[key], kind) or isinstance(manifest[key], bool):
            raise WorkspaceDamaged(f"{where}: '{key}' is a {type(manifest[key]).__name__}, not a {kind.__name__}")
    if not _SAMPLES_FILE.fullmatch(manifest["samples_file"]):
        raise WorkspaceDamaged(f"{where}: samples_file is not the name of a samples file")
    if not _SHA256.fullmatch(manifest["sha256"]):
        raise WorkspaceDamaged(f"{where}: sha256 is not a SHA-256 checksum")
    if not _is_count(manifest["rows"]):
        raise WorkspaceDamaged(f"{where}: rows is not a count")
    check_parts(manifest["parts"], manifest["rows"], where)
    return manifest


def check_parts(parts: Any, rows: int, where: str = MANIFEST) -> None:
    """Each part names where its rows came from; together they account for every row."""
    if not isinstance(parts, list):
        raise WorkspaceDamaged(f"{where}: parts is a {type(parts).__name__}, not a list")
    for index, part in enumerate(parts, 1):
        label = f"{where}, part {index}"
        if not isinstance(part, dict):
            raise WorkspaceDamaged(f"{label} is a {type(part).__name__}, not an object")
        for key in ("name", "source", "method", "rows", "report"):
            if key not in part:
                raise WorkspaceDamaged(f"{label} has no '{key}'")
        if not isinstance(part["name"], str) or not isinstance(part["method"], str):
            raise WorkspaceDamaged(f"{label}: name and method must be text")
        if part["source"] not in _SOURCES:
            raise WorkspaceDamaged(f"{label}: source is neither real nor synthetic")
        if not _is_count(part["rows"]):
            raise WorkspaceDamaged(f"{label}: rows is not a count")
        report = part["report"]
        if not isinstance(report, dict) or not set(report) <= _REPORT_FIELDS or not {"path", "format"} <= set(report):
            raise WorkspaceDamaged(f"{label}: its load report is not one this version can read")
    total = sum(part["rows"] for part in parts)
    if parts and total != rows:
        raise WorkspaceDamaged(f"{where}: its parts add up to {total:,} rows, not the {rows:,} it names")


def check_subsets(subsets: Any, where: str = SUBSETS) -> dict[str, list[str]]:
    if not isinstance(subsets, dict) or not all(
        isinstance(name, str) and isinstance(ids, list) and all(isinstance(i, str) for i in ids)
        for name, ids in subsets.items()
    ):
        raise WorkspaceDamaged(f"{where} is not a map of subset names to lists of sample ids")
    return subsets


@dataclass(frozen=True)
class Recovery:
    """What :meth:`Workspace.recover` did: why, where the damaged copy went, what was restored."""

    reason: str
    damaged_copy: str
    restored: str | None  # the restored state's name and time, or None: the workspace is empty now
    at: str

    def message(self) -> str:
        """For the user: what happened, where the damaged copy is, and how to get its contents back."""
        if self.restored:
            now = f"The last complete state was restored: {self.restored}."
        else:
            now = "No complete earlier state was found, so the workspace starts from the demo corpus."
        return (
            f"The workspace was damaged ({self.reason}). It was moved aside, unchanged, to "
            f"`{self.damaged_copy}`. {now} Uploaded files, subsets, monitor histories and generation "
            f"checkpoints were copied back. To get more back, load files from that folder on the Data "
            f"page (Folder on this machine): its `uploads/` holds the files you uploaded, its "
            f"`samples-….parquet` the samples that were saved. Delete the folder once you no longer need it."
        )


def _describe(manifest: dict[str, Any]) -> str:
    """``'name' (1,234 samples, saved 2025-01-02 10:11)``: a dataset version, for a message."""
    saved = manifest["saved_at"][:16].replace("T", " ")
    return f"'{manifest['name']}' ({manifest['rows']:,} samples, saved {saved})"


def describe_version(manifest: dict[str, Any] | None, empty: str = "the built-in demo") -> str:
    """A dataset version for the user: its name, size and time; ``empty`` for an empty workspace."""
    return _describe(manifest) if manifest is not None else empty


class _AnyVersion:
    def __repr__(self) -> str:
        return "ANY_VERSION"


#: ``expected=ANY_VERSION``: replace or undo whatever the dataset is now, without checking the version.
ANY_VERSION: Any = _AnyVersion()


def check_version(now: dict[str, Any] | None, expected: Any, action: str) -> None:
    """A :class:`WorkspaceError` unless the dataset (``now``: its manifest, None: empty) is still the
    version ``expected`` names."""
    if expected is ANY_VERSION or (now["sha256"] if now else None) == expected:
        return
    what = _describe(now) if now else "empty"
    raise WorkspaceError(
        f"The dataset changed since this page read it (it is now {what}): another session of this "
        f"workspace changed it meanwhile. Nothing was {action}. Look at the dataset as it is now, then "
        f"do it again if you still mean to."
    )
