"""Workspaces: what a user loaded, kept on disk so a refresh, a restart or a crash loses nothing.

All workspaces live under one folder (default ``data/workspace/``, or ``$COLLAPSE_LAB_WORKSPACE``)::

    sessions/<token>/        one private workspace per browser session (the token is unguessable)
    shared/<name>/           named shared workspaces: everyone who opens one sees and changes it;
                             ``shared/default`` is also the library's and the CLI's default
    <workspace>.damaged-<time>/   a damaged workspace, moved aside by :meth:`Workspace.recover`

One workspace folder holds::

    manifest.json                   the commit point: names the current samples file and its parts
    manifest.previous.json          the state before the last save or reset (kept for recovery)
    history.json                    the last few states before the current one, newest first (for undo)
    samples-<sha256 prefix>.parquet the sample tables those two manifests name
    uploads/<name>                  every file a user uploaded, as uploaded
    subsets.json                    named subsets of sample ids (kept from a map selection)
    runs/, monitor/                 generation checkpoints and monitor histories
    recovery.json                   present after a recovery: what was damaged and where it went
    .lock                           the lock file writers hold (``fcntl.flock``)

A dataset grows by :meth:`Workspace.add_samples`: under the lock it reads the dataset as it is at that
moment and writes it back with the new part added, so two sessions adding to one shared workspace at
once both land. A replace names the dataset version it was asked on and is refused when the dataset
changed since (another session added to it meanwhile). Every save and reset keeps the state it
replaces in ``history.json`` (the last :data:`KEEP_VERSIONS`), so :meth:`Workspace.undo` restores it.

Every file is written atomically (:func:`analysis.io.atomic_write_bytes`): to a temporary file in the
same folder, flushed, fsynced, then renamed over the target. A dataset is saved by first writing its
(content-addressed) Parquet file and only then the manifest that points at it, so a crash at any
moment leaves either the old or the new manifest, each pointing at a complete Parquet file. Writers
(save, reset, clean-up, subsets, recovery) hold the workspace's lock: a thread lock for the sessions
of one server (they are threads) and an exclusive ``flock`` on ``.lock`` for other processes, so two
saves at once never leave a manifest that names a deleted file. What a workspace holds is checked when it is
read (manifest shape, the samples file's checksum and readability, counts that add up); a
damaged workspace raises :class:`WorkspaceDamaged`, and :meth:`Workspace.recover` moves it aside
(never deletes it) and restores its last complete state.

What a folder holds and how it is guarded (file names, the lock, the checks, the errors, :class:`Recovery`) is
:mod:`analysis.workspace_format`; its public names are re-exported here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.corpus import COLUMNS, combine_samples, metadata_columns
from analysis.io import atomic_write_bytes, bytes_sha256, fsync_directory, parquet_bytes
from analysis.workspace_format import (
    _CARRIED_FOLDERS,
    ANY_VERSION,
    DEFAULT_SHARED,
    FORMAT_VERSION,
    HISTORY,
    KEEP_VERSIONS,
    LOCK,
    MANIFEST,
    PREVIOUS,
    RECOVERY,
    SUBSETS,
    Recovery,
    WorkspaceDamaged,
    WorkspaceError,
    _locked,
    check_manifest,
    check_parts,
    check_subsets,
    check_version,
    default_workspace_dir,
    describe_version,
    new_session_token,
    valid_session_token,
    validate_workspace_name,
    workspaces_dir,
)

__all__ = [
    "ANY_VERSION",
    "DEFAULT_SHARED",
    "KEEP_VERSIONS",
    "Recovery",
    "Workspace",
    "WorkspaceDamaged",
    "WorkspaceError",
    "Workspaces",
    "default_workspace_dir",
    "describe_version",
    "new_session_token",
    "valid_session_token",
    "validate_workspace_name",
    "workspaces_dir",
]


#: What an empty workspace shows (the app: the built-in demo): a callable returning (samples, manifest).
EmptyDataset = Callable[[], tuple[pd.DataFrame, dict[str, Any]]]


class Workspace:
    """One workspace folder: the current dataset of a user (or of a team), on disk."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_workspace_dir()

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """The workspace's writer lock (re-entrant within a thread)."""
        return _locked(self.root)

    # --- reading ------------------------------------------------------------------------------

    def _read_json(self, name: str) -> Any:
        """The parsed file, ``None`` when absent; :class:`WorkspaceDamaged` when it is not JSON."""
        path = self.root / name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WorkspaceDamaged(f"{name} cannot be read ({exc.strerror})") from None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise WorkspaceDamaged(f"{name} is not valid JSON ({exc})") from None

    def manifest(self) -> dict[str, Any] | None:
        """The committed manifest, or ``None`` when nothing was saved yet; checked for its shape."""
        manifest = self._read_json(MANIFEST)
        return None if manifest is None else check_manifest(manifest)

    def load(self) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The current dataset and its manifest, or ``None`` when the workspace is empty.

        Raises :class:`WorkspaceDamaged` when the manifest, the samples file or their counts do
        not agree; :meth:`open` recovers from that.
        """
        if not self.manifest_path.exists():
            return None  # reading an empty (or never used) workspace creates nothing
        with self.lock():
            manifest = self.manifest()
            if manifest is None:
                return None
            return self._read_state(manifest, MANIFEST), manifest

    def _read_state(self, manifest: dict[str, Any], where: str) -> pd.DataFrame:
        name = manifest["samples_file"]
        try:
            data = (self.root / name).read_bytes()
        except FileNotFoundError:
            raise WorkspaceDamaged(f"{name}, which {where} names, is missing") from None
        except OSError as exc:
            raise WorkspaceDamaged(f"{name} cannot be read ({exc.strerror})") from None
        if bytes_sha256(data) != manifest["sha256"]:
            raise WorkspaceDamaged(f"{name} does not match its checksum in {where}")
        try:
            samples = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several kinds for a damaged file
            raise WorkspaceDamaged(f"{name} is not a readable Parquet file ({type(exc).__name__}: {exc})") from None
        missing = [column for column in COLUMNS if column not in samples.columns]
        if missing:
            raise WorkspaceDamaged(f"{name} lacks the column(s) {', '.join(missing)}")
        if len(samples) != manifest["rows"]:
            raise WorkspaceDamaged(f"{name} has {len(samples):,} rows, but {where} says {manifest['rows']:,}")
        for column in ("label", "parent_id"):
            samples[column] = samples[column].astype(object).where(samples[column].notna(), None)
        return samples

    def check(self) -> None:
        """Raise :class:`WorkspaceDamaged` if anything the workspace holds is damaged."""
        self.subsets()
        self.load()

    def open(self) -> tuple[tuple[pd.DataFrame, dict[str, Any]] | None, Recovery | None]:
        """The current dataset (``None``: empty), recovering first from a damaged workspace."""
        try:
            self.subsets()
            return self.load(), None
        except WorkspaceDamaged as exc:
            recovery = self.recover(str(exc))
            return self.load(), recovery

    # --- writing ------------------------------------------------------------------------------

    def save(self, samples: pd.DataFrame, *, name: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
        """Make ``samples`` the current dataset; ``parts`` says where its rows came from.

        Each part is ``{"name", "source", "method", "rows", "report"}`` (``report``: a
        :class:`~analysis.corpus.LoadReport` as a dict); their rows add up to ``len(samples)``.
        """
        data = parquet_bytes(samples, as_text=metadata_columns(samples))
        digest = bytes_sha256(data)
        samples_file = f"samples-{digest[:20]}.parquet"
        manifest = {
            "format_version": FORMAT_VERSION,
            "name": name,
            "samples_file": samples_file,
            "sha256": digest,
            "rows": int(len(samples)),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "parts": parts,
        }
        encoded = json.dumps(manifest, indent=2, default=str).encode()
        manifest = json.loads(encoded)  # what a reader gets back, checked as a reader checks it
        try:
            check_parts(manifest["parts"], manifest["rows"], "parts")
        except WorkspaceDamaged as exc:
            raise ValueError(f"save(): {exc}") from None
        with self.lock():
            try:
                current = self.manifest()
            except WorkspaceDamaged as exc:  # keep it: a save never overwrites a damaged workspace
                self._move_aside(str(exc))
                current = None
            atomic_write_bytes(self.root / samples_file, data)
            if current is None or current["samples_file"] != samples_file:
                self._push_history(current)
            if current is not None and current["samples_file"] != samples_file:
                atomic_write_bytes(self.root / PREVIOUS, json.dumps(current, indent=2).encode())
            atomic_write_bytes(self.manifest_path, encoded)
            self._remove_unreferenced()
        return manifest

    def add_samples(self, new: pd.DataFrame, part: dict[str, Any], **options: Any) -> dict[str, Any]:
        """Add one part (``new``, loaded or generated), or replace the dataset with it: :meth:`add_parts` of one."""
        return self.add_parts([(new, part)], **options)

    def add_parts(
        self,
        pieces: list[tuple[pd.DataFrame, dict[str, Any]]],
        *,
        replace: bool = False,
        expected: str | None = ANY_VERSION,
        empty: EmptyDataset | None = None,
    ) -> dict[str, Any]:
        """Add every ``(samples, part)`` of ``pieces`` in one save (one version: one :meth:`undo` takes the whole
        load back), or replace the dataset with them.

        An add is a merge: under the lock it reads the dataset as it is at that moment, not as the caller read it,
        so two sessions adding to one shared workspace at once both keep their rows. An empty workspace reads as
        ``empty()`` (the app's demo), or as no rows. A replace keeps the old dataset in the history; it is refused
        (:class:`WorkspaceError`) when the dataset is no longer the version ``expected`` names (its SHA-256;
        ``None``: empty; :data:`ANY_VERSION`: no check). Each ``part`` is as for :meth:`save`; returns the manifest.
        """
        if not pieces:
            raise ValueError("add_parts(): no samples to add")
        added = [
            {**part, "report": {**part["report"], "notes": list(part["report"].get("notes", []))}} for _, part in pieces
        ]
        tables = [samples for samples, _ in pieces]
        with self.lock():
            base = self._shown(empty)
            if replace:
                check_version(base[1] if base else None, expected, "replaced")
                combined, renamed = combine_samples(*tables)
                names, parts = [], added
            else:
                combined, renamed = combine_samples(base[0] if base else None, *tables)
                names = [base[1]["name"]] if base else []
                parts = [*(base[1]["parts"] if base else []), *added]
            if renamed:
                added[-1]["report"]["notes"].append(f"{renamed:,} ids clashed with rows already loaded; made unique.")
            name = " + ".join(names + [part["name"] for part in added])
            return self.save(combined, name=name[:120], parts=parts)

    def change(
        self,
        transform: Callable[[pd.DataFrame], pd.DataFrame],
        *,
        action: str,
        expected: str | None = ANY_VERSION,
        empty: EmptyDataset | None = None,
    ) -> dict[str, Any]:
        """Save ``transform(samples)`` of the current dataset (or of ``empty()``) under the lock, keeping its name
        and parts; refused as a replace is when the dataset is no longer ``expected`` (``action`` says what)."""
        with self.lock():
            base = self._shown(empty)
            check_version(base[1] if base else None, expected, action)
            if base is None:
                raise WorkspaceError("There is no dataset to change: load one first.")
            return self.save(transform(base[0]), name=base[1]["name"], parts=base[1]["parts"])

    def _shown(self, empty: EmptyDataset | None) -> tuple[pd.DataFrame, dict[str, Any]] | None:
        """The dataset as the page shows it: the current one, else ``empty()`` (None without ``empty``)."""
        current = self.manifest()
        return (self._read_state(current, MANIFEST), current) if current is not None else (empty() if empty else None)

    # --- history and undo ---------------------------------------------------------------------

    def history(self) -> list[dict[str, Any] | None]:
        """The states before the current one, newest first (``None``: the workspace was empty), at most
        :data:`KEEP_VERSIONS`. An unreadable history is an empty one: it only serves undo."""
        try:
            held = self._read_json(HISTORY)
        except WorkspaceDamaged:
            return []
        versions = held.get("versions") if isinstance(held, dict) else None
        if not isinstance(versions, list):
            return []
        kept: list[dict[str, Any] | None] = []
        for entry in versions[:KEEP_VERSIONS]:
            if entry is None:
                kept.append(None)
                continue
            try:
                kept.append(check_manifest(entry, HISTORY))
            except WorkspaceDamaged:
                continue
        return kept

    def _write_history(self, versions: list[dict[str, Any] | None]) -> None:
        body = {"format_version": FORMAT_VERSION, "versions": versions[:KEEP_VERSIONS]}
        atomic_write_bytes(self.root / HISTORY, json.dumps(body, indent=2).encode())

    def _push_history(self, state: dict[str, Any] | None) -> None:
        """Keep ``state`` (the one being replaced; ``None``: empty) as the newest earlier state."""
        versions = self.history()
        if versions and versions[0] == state:
            return
        self._write_history([state, *versions])

    def undo(self, *, expected: str | None = ANY_VERSION, empty: EmptyDataset | None = None) -> dict[str, Any] | None:
        """Restore the state before the last save or reset; returns its manifest (``None``: empty).

        ``expected`` and ``empty`` as for :meth:`add_samples`: the version the user saw, so an undo
        never undoes a change another session made meanwhile. The undone state is kept as
        ``manifest.previous.json``. Raises :class:`WorkspaceError` when there is nothing to undo.
        """
        with self.lock():
            current = self.manifest()
            if expected is not ANY_VERSION:
                shown = current if current is not None else (empty()[1] if empty is not None else None)
                check_version(shown, expected, "undone")
            versions = self.history()
            while versions:
                restored = versions[0]
                if restored is None:
                    break
                try:
                    self._read_state(restored, HISTORY)
                    break
                except WorkspaceDamaged:  # its samples file is gone or damaged: the next older one
                    versions = versions[1:]
            if not versions:
                raise WorkspaceError("Nothing to undo: this workspace keeps no earlier state.")
            restored = versions[0]
            if current is not None:
                atomic_write_bytes(self.root / PREVIOUS, json.dumps(current, indent=2).encode())
            if restored is None:
                self.manifest_path.unlink(missing_ok=True)
                fsync_directory(self.root)
            else:
                atomic_write_bytes(self.manifest_path, json.dumps(restored, indent=2).encode())
            self._write_history(versions[1:])
            self._remove_unreferenced()
            return restored

    def clear(self) -> None:
        """Forget the current dataset (it becomes the previous state; uploads and subsets are kept)."""
        with self.lock():
            try:
                current = self.manifest()
            except WorkspaceDamaged as exc:
                self._move_aside(str(exc))
                return
            if current is not None:
                self._push_history(current)
                os.replace(self.manifest_path, self.root / PREVIOUS)
                fsync_directory(self.root)
            self._remove_unreferenced()

    def _upload_path(self, name: str, data: bytes) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "upload"
        return self.root / "uploads" / f"{bytes_sha256(data)[:12]}-{safe}"

    def store_upload(self, name: str, data: bytes) -> Path:
        """Keep an uploaded file in the workspace (atomically) and return its path."""
        path = self._upload_path(name, data)
        with self.lock():
            if not path.exists():
                atomic_write_bytes(path, data)
        return path

    @contextlib.contextmanager
    def upload(self, name: str, data: bytes) -> Iterator[Path]:
        """An uploaded file kept in the workspace (:meth:`store_upload`) while the body reads it: when the body
        raises (the file does not load), the copy is removed again, so a failed upload leaves nothing on disk.
        A copy that was there before (the same bytes uploaded earlier) is left alone. Only errors remove it:
        an interruption (the app's rerun or stop of a script run) keeps it for the next run to read."""
        path = self._upload_path(name, data)
        with self.lock():
            existed = path.exists()
            self.store_upload(name, data)
        try:
            yield path
        except Exception:
            if not existed:
                with self.lock():
                    path.unlink(missing_ok=True)
            raise

    def subsets(self) -> dict[str, list[str]]:
        """The named subsets (name → sample ids), oldest first; ``{}`` when there are none."""
        subsets = self._read_json(SUBSETS)
        return {} if subsets is None else check_subsets(subsets)

    def save_subset(self, name: str, ids: list[str]) -> None:
        """Keep ``ids`` under ``name`` (replacing a subset of that name)."""
        name = name.strip()
        if not name:
            raise WorkspaceError("A subset needs a name: type one before saving.")
        if not ids:
            raise WorkspaceError("The subset is empty: select some samples first.")
        with self.lock():
            subsets = self.subsets()
            subsets[name] = [str(i) for i in ids]
            atomic_write_bytes(self.root / SUBSETS, json.dumps(subsets, ensure_ascii=False).encode())

    def delete_subset(self, name: str) -> None:
        with self.lock():
            subsets = self.subsets()
            if subsets.pop(name, None) is not None:
                atomic_write_bytes(self.root / SUBSETS, json.dumps(subsets, ensure_ascii=False).encode())

    def _remove_unreferenced(self) -> None:
        """Delete sample files no committed manifest names, and temporary files left by a crash.

        Runs under the lock, and reads the manifests from disk: whatever any writer committed
        stays. Files that vanish meanwhile (another folder's clean-up, a hand) are no error.
        """
        keep = set()
        for name in (MANIFEST, PREVIOUS):
            try:
                manifest = self._read_json(name)
                if manifest is not None:
                    keep.add(check_manifest(manifest, name)["samples_file"])
            except WorkspaceDamaged:
                return  # cannot tell what a damaged manifest needs: delete nothing
        keep.update(state["samples_file"] for state in self.history() if state is not None)
        for path in self.root.glob("samples-*.parquet"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in self.root.glob(".tmp-*"):
            try:
                old = time.time() - path.stat().st_mtime > 60  # not one being written right now
            except FileNotFoundError:
                continue
            if old:
                path.unlink(missing_ok=True)

    # --- recovery -----------------------------------------------------------------------------

    def recover(self, reason: str = "") -> Recovery | None:
        """Move a damaged workspace aside (never deleting it) and restore its last complete state.

        Returns ``None`` when the workspace is not damaged (another session recovered it first).
        """
        with self.lock():
            try:
                self.check()
                return None
            except WorkspaceDamaged as exc:
                reason = str(exc)
            damaged = self._move_aside(reason)
            restored = None
            for name in (MANIFEST, PREVIOUS):  # the newest complete state in the damaged copy
                try:
                    state = Workspace(damaged)
                    manifest = check_manifest(state._read_json(name), name)
                    state._read_state(manifest, name)
                except (WorkspaceDamaged, OSError):
                    continue
                samples_file = manifest["samples_file"]
                atomic_write_bytes(self.root / samples_file, (damaged / samples_file).read_bytes())
                atomic_write_bytes(self.manifest_path, json.dumps(manifest, indent=2).encode())
                restored = f"{manifest['rows']:,} samples saved {manifest['saved_at'][:16].replace('T', ' ')}"
                break
            recovery = Recovery(reason, str(damaged), restored, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            atomic_write_bytes(self.root / RECOVERY, json.dumps(recovery.__dict__, indent=2).encode())
            return recovery

    def _move_aside(self, reason: str) -> Path:
        """Move everything but the lock file to ``<root>.damaged-<time>``; copy back what is intact."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        damaged = self.root.with_name(f"{self.root.name}.damaged-{stamp}")
        suffix = 1
        while True:
            try:
                damaged.mkdir(parents=True)
                break
            except FileExistsError:
                suffix += 1
                damaged = self.root.with_name(f"{self.root.name}.damaged-{stamp}-{suffix}")
        entries = sorted(self.root.iterdir(), key=lambda p: p.name == MANIFEST)  # the manifest last
        for entry in entries:
            if entry.name != LOCK:
                os.rename(entry, damaged / entry.name)
        (damaged / "DAMAGED.txt").write_text(f"Moved aside {time.strftime('%Y-%m-%d %H:%M:%S')}: {reason}.\n")
        fsync_directory(self.root)
        for folder in _CARRIED_FOLDERS:
            if (damaged / folder).is_dir():
                shutil.copytree(damaged / folder, self.root / folder)
        try:
            subsets = Workspace(damaged).subsets()
        except WorkspaceDamaged:
            subsets = {}
        if subsets:
            atomic_write_bytes(self.root / SUBSETS, json.dumps(subsets, ensure_ascii=False).encode())
        return damaged

    def recovery_note(self) -> Recovery | None:
        """What the last recovery did, until :meth:`dismiss_recovery` (shown by the app)."""
        try:
            note = self._read_json(RECOVERY)
            return Recovery(**note)
        except (WorkspaceDamaged, TypeError):
            return None

    def dismiss_recovery(self) -> None:
        (self.root / RECOVERY).unlink(missing_ok=True)


class Workspaces:
    """The folder of all workspaces: private ones per session, named shared ones.

    A session's workspace is ``sessions/<token>``, where the token is unguessable
    (:func:`new_session_token`) and only that session's link carries it; a shared workspace is
    ``shared/<name>``, opened by anyone who names it. A workspace from before this layout (a
    ``manifest.json`` directly in the folder) becomes the shared workspace ``default``.
    """

    def __init__(self, base: str | Path | None = None) -> None:
        self.base = Path(base) if base is not None else workspaces_dir()

    def session(self, token: str) -> Workspace:
        if not valid_session_token(token):
            raise WorkspaceError("That session id is not valid; a new private workspace was opened.")
        return Workspace(self.base / "sessions" / token)

    def new_session(self) -> str:
        """A new private workspace: its token (:func:`new_session_token`), its folder made, so that a link
        carrying the token is known (:meth:`session_known`) even before anything is saved in it."""
        token = new_session_token()
        (self.base / "sessions" / token).mkdir(parents=True, exist_ok=True)
        return token

    def session_known(self, token: Any) -> bool:
        """Whether ``token`` names a private workspace on this server: well formed, and made by
        :meth:`new_session` (or moved aside as damaged). A link with an unknown token opens a new workspace
        under a new token, never one under the link's: a link's id is not adopted."""
        if not valid_session_token(token):
            return False
        folder = self.base / "sessions" / token
        return folder.is_dir() or any(folder.parent.glob(f"{token}.damaged-*"))

    def shared(self, name: str) -> Workspace:
        return Workspace(self.base / "shared" / validate_workspace_name(name))

    def migrate_legacy(self) -> Path | None:
        """Move a single-folder workspace from before (``<base>/manifest.json``) to ``shared/default``.

        Idempotent and crash-safe: everything goes to a staging folder first (the manifest last),
        which is then renamed into place. Returns the new folder, or ``None`` when there was nothing.
        """
        if not (self.base / MANIFEST).exists() and not (self.base / "shared" / ".default-migrating").exists():
            return None
        target = self.base / "shared" / DEFAULT_SHARED
        staging = self.base / "shared" / ".default-migrating"
        with _locked(self.base):
            if target.exists() and (self.base / MANIFEST).exists():
                return None  # a shared 'default' already exists: leave the old folder as it is
            staging.mkdir(parents=True, exist_ok=True)
            keep = {"sessions", "shared", LOCK}
            entries = [e for e in self.base.iterdir() if e.name not in keep and ".damaged-" not in e.name]
            for entry in sorted(entries, key=lambda p: p.name == MANIFEST):
                os.rename(entry, staging / entry.name)
            if not target.exists():
                os.rename(staging, target)
            fsync_directory(self.base / "shared")
            return target
