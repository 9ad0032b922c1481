"""The workspace: what a user loaded, kept on disk so a refresh, a restart or a crash loses nothing.

Layout under the workspace folder (default ``data/workspace/``, or ``$COLLAPSE_LAB_WORKSPACE``)::

    manifest.json                  the commit point: names the current samples file and its parts
    samples-<sha256 prefix>.parquet the sample table of the current dataset
    uploads/<name>                 every file a user uploaded, as uploaded
    subsets.json                   named subsets of sample ids (kept from a map selection)

Every file is written atomically: to a temporary file in the same folder, flushed, fsynced, then
renamed over the target. A dataset is saved by first writing its (content-addressed) Parquet file
and only then the manifest that points at it, so a crash at any moment leaves either the old or
the new manifest, each pointing at a complete Parquet file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.corpus import COLUMNS

__all__ = ["Workspace", "WorkspaceError", "atomic_write_bytes", "default_workspace_dir"]

MANIFEST = "manifest.json"
SUBSETS = "subsets.json"
FORMAT_VERSION = 1


class WorkspaceError(RuntimeError):
    """The workspace on disk cannot be read; the message says how to recover."""


def default_workspace_dir() -> Path:
    """``$COLLAPSE_LAB_WORKSPACE``, or ``data/workspace`` next to the ``analysis`` package."""
    configured = os.environ.get("COLLAPSE_LAB_WORKSPACE")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "data" / "workspace"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; these are ordinary data files
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def parquet_bytes(samples: pd.DataFrame) -> bytes:
    """Serialise the sample table; metadata columns of mixed types are stored as text."""
    table = samples.copy()
    table.attrs = {}
    for column in table.columns:
        if column not in COLUMNS and table[column].dtype == object:
            table[column] = table[column].map(lambda v: None if v is None else str(v))
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


class Workspace:
    """The current dataset of one user, on disk."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_workspace_dir()

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def manifest(self) -> dict[str, Any] | None:
        """The committed manifest, or ``None`` when nothing was saved yet."""
        try:
            raw = self.manifest_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            manifest = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise WorkspaceError(
                f"{self.manifest_path} is not valid JSON ({exc}); it was edited by hand or the disk "
                f"is damaged. Delete the folder {self.root} to start again."
            ) from None
        return manifest

    def save(self, samples: pd.DataFrame, *, name: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """Make ``samples`` the current dataset; ``parts`` says where its rows came from."""
        data = parquet_bytes(samples)
        digest = hashlib.sha256(data).hexdigest()
        samples_file = f"samples-{digest[:20]}.parquet"
        atomic_write_bytes(self.root / samples_file, data)
        manifest = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "samples_file": samples_file,
            "sha256": digest,
            "rows": int(len(samples)),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "parts": parts,
        }
        atomic_write_bytes(self.manifest_path, json.dumps(manifest, indent=2, default=str).encode())
        self._remove_unreferenced(keep=samples_file)
        return manifest

    def load(self) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The last complete dataset and its manifest, or ``None`` when the workspace is empty."""
        manifest = self.manifest()
        if manifest is None:
            return None
        path = self.root / manifest["samples_file"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise WorkspaceError(
                f"{path} is missing although {MANIFEST} names it (was it deleted by hand?). "
                f"Load the data again, or delete {self.root} to start afresh."
            ) from None
        if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
            raise WorkspaceError(
                f"{path} does not match its checksum in {MANIFEST}. Load the data again, or delete "
                f"{self.root} to start afresh."
            )
        samples = pd.read_parquet(io.BytesIO(data))
        for column in ("label", "parent_id"):
            samples[column] = samples[column].astype(object).where(samples[column].notna(), None)
        return samples, manifest

    def store_upload(self, name: str, data: bytes) -> Path:
        """Keep an uploaded file in the workspace (atomically) and return its path."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "upload"
        digest = hashlib.sha256(data).hexdigest()[:12]
        path = self.root / "uploads" / f"{digest}-{safe}"
        if not path.exists():
            atomic_write_bytes(path, data)
        return path

    def subsets(self) -> dict[str, list[str]]:
        """The named subsets (name → sample ids), oldest first; ``{}`` when there are none."""
        try:
            return json.loads((self.root / SUBSETS).read_bytes())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise WorkspaceError(f"{self.root / SUBSETS} is not valid JSON ({exc}); delete it to start again.") from None

    def save_subset(self, name: str, ids: list[str]) -> None:
        """Keep ``ids`` under ``name`` (replacing a subset of that name)."""
        name = name.strip()
        if not name:
            raise WorkspaceError("A subset needs a name: type one before saving.")
        if not ids:
            raise WorkspaceError("The subset is empty: select some samples first.")
        subsets = self.subsets()
        subsets[name] = [str(i) for i in ids]
        atomic_write_bytes(self.root / SUBSETS, json.dumps(subsets, ensure_ascii=False).encode())

    def delete_subset(self, name: str) -> None:
        subsets = self.subsets()
        if subsets.pop(name, None) is not None:
            atomic_write_bytes(self.root / SUBSETS, json.dumps(subsets, ensure_ascii=False).encode())

    def clear(self) -> None:
        """Forget the current dataset (uploaded files are kept)."""
        self.manifest_path.unlink(missing_ok=True)
        self._remove_unreferenced(keep=None)

    def _remove_unreferenced(self, keep: str | None) -> None:
        """Delete sample files no manifest points at, and temporary files left by a crash."""
        for path in self.root.glob("samples-*.parquet"):
            if path.name != keep:
                path.unlink(missing_ok=True)
        for path in self.root.glob(".tmp-*"):
            if time.time() - path.stat().st_mtime > 60:  # not one being written right now
                path.unlink(missing_ok=True)
