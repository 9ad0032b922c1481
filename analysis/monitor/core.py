"""The :class:`Monitor`: snapshots of a synthetic-data pipeline scored against one real holdout.

A *snapshot* is one synthetic set with a place in a series: a generation number (recursive
training), a timestamp (a weekly export), or just the order it was added in. The
:class:`Monitor` scores each snapshot with :func:`analysis.judge.compare.compare` against the same
real holdout and keeps one history per series in the workspace::

    <workspace>/monitor/<series>.jsonl     one JSON line per snapshot, appended, never rewritten

The file itself (append, read, the tidy table) is :mod:`analysis.monitor.store`; the trend rules
are :mod:`analysis.monitor.trends`, the CI gate :mod:`analysis.monitor.gate`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.corpus import COLUMNS, CorpusError, read_samples, samples_from_frame
from analysis.judge.compare import cached_compare
from analysis.monitor.store import (
    MonitorError,
    MonitorHistory,
    append_record,
    history_frame,
    read_records,
    records_of_table,
)

__all__ = ["Monitor"]


def _timestamp_text(timestamp: Any) -> str | None:
    if timestamp is None or (isinstance(timestamp, float) and math.isnan(timestamp)):
        return None
    try:
        return pd.Timestamp(timestamp).isoformat()
    except (ValueError, TypeError):
        raise MonitorError(
            f"The timestamp {timestamp!r} is not a date or time; use ISO 8601, e.g. 2024-05-01T12:00."
        ) from None


def _digits(text: str) -> int | None:
    found = re.findall(r"\d+", text)
    return int(found[-1]) if found else None


def _date_in(text: str) -> str | None:
    found = re.search(r"\d{4}-\d{2}-\d{2}(?:[T_ ]\d{2}[:-]?\d{2}(?:[:-]?\d{2})?)?", text)
    if not found:
        return None
    value = found.group(0).replace("_", "T")
    value = re.sub(
        r"T(\d{2})-?(\d{2})(?:-?(\d{2}))?$", lambda m: f"T{m[1]}:{m[2]}" + (f":{m[3]}" if m[3] else ""), value
    )
    try:
        return pd.Timestamp(value).isoformat()
    except ValueError:
        return None


class Monitor:
    """Snapshots of one pipeline scored against one real holdout, with their history on disk.

    Parameters
    ----------
    workspace_or_dir
        A :class:`analysis.workspace.Workspace` or a folder; the history is
        ``<folder>/monitor/<series>.jsonl``. Default: the current workspace folder.
    real
        The real sample table (``source == "real"`` rows with a ``holdout`` split). Needed to add
        snapshots, not to read the history.
    real_embeddings
        Vectors aligned with ``real``; default :func:`analysis.vectors.embed.embed` (cached).
    series
        The history's name (one file per series).
    size
        Samples per set in :func:`analysis.judge.compare.compare`; default each snapshot's own size.
        Fix it when snapshots differ in size: distinct-n, coverage and friends depend on it.
    seed, k, bins, with_mauve
        As in :func:`analysis.judge.compare.compare`; MAUVE is off by default (seconds per snapshot).
    cache_dir
        Where :func:`analysis.judge.compare.cached_compare` keeps its tables.
    embedder
        ``embedder(texts) -> array`` for texts given without vectors; default
        :func:`analysis.vectors.embed.embed` (the configured model, cached). Real and snapshot vectors
        must come from the same model.
    """

    def __init__(
        self,
        workspace_or_dir: Any = None,
        real: pd.DataFrame | None = None,
        *,
        real_embeddings: np.ndarray | None = None,
        series: str = "snapshots",
        size: int | None = None,
        seed: int = 0,
        k: int = 5,
        bins: int = 10,
        with_mauve: bool = False,
        cache_dir: str | Path | None = None,
        embedder: Callable[[list[str]], np.ndarray] | None = None,
    ) -> None:
        from analysis.workspace import Workspace, default_workspace_dir

        if isinstance(workspace_or_dir, Workspace):
            root = workspace_or_dir.root
        else:
            root = Path(workspace_or_dir) if workspace_or_dir is not None else default_workspace_dir()
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", series).strip("._")
        if not safe:
            raise MonitorError("A monitor series needs a name made of letters, digits, '.', '_' or '-'.")
        self.series = series
        self.path = root / "monitor" / f"{safe}.jsonl"
        self.settings = {"size": size, "seed": seed, "k": k, "bins": bins, "with_mauve": with_mauve}
        self.cache_dir = cache_dir
        self.embedder = embedder
        self._real: pd.DataFrame | None = None
        self._real_embeddings: np.ndarray | None = None
        self._real_sha256: str | None = None
        if real is not None:
            self.set_real(real, real_embeddings)

    def set_real(self, real: pd.DataFrame, embeddings: np.ndarray | None = None) -> None:
        """Use ``real`` (its ``real`` rows) as the reference for the snapshots added from now on.

        Raises
        ------
        MonitorError
            ``real`` has no real rows, or ``embeddings`` do not align with it.
        """
        from analysis.mixture import samples_sha256

        keep = (real["source"] == "real").to_numpy()
        if not keep.any():
            raise MonitorError("The real data has no rows with source 'real'. Load real samples first.")
        if embeddings is not None:
            embeddings = np.asarray(embeddings)
            if len(embeddings) != len(real):
                raise MonitorError(f"{len(embeddings)} real embeddings for {len(real)} real samples.")
            embeddings = embeddings[keep]
        self._real = real[keep].reset_index(drop=True)
        self._real_embeddings = embeddings
        self._real_sha256 = samples_sha256(self._real)

    # reading -------------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """The complete snapshot records in the order they were added (torn lines skipped)."""
        return read_records(self.path)[0]

    def read_history(self) -> MonitorHistory:
        """The tidy history and how many lines of the file were skipped: lines that were not complete
        records (a torn last line after a killed process) are ignored and counted."""
        records, skipped = read_records(self.path)
        return MonitorHistory(table=history_frame(records), skipped=skipped)

    def history(self) -> pd.DataFrame:
        """The tidy history: :data:`HISTORY_COLUMNS`, one row per snapshot and metric (torn lines
        ignored; :meth:`read_history` also says how many)."""
        return self.read_history().table

    def snapshots(self) -> pd.DataFrame:
        """One row per snapshot: ``snapshot, order, generation, timestamp, n, size, added_at``."""
        table = self.history()
        columns = ["snapshot", "order", "generation", "timestamp", "n", "size", "added_at"]
        return table.drop_duplicates("snapshot")[columns].reset_index(drop=True)

    # adding --------------------------------------------------------------------------------------

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.embedder is not None:
            return np.asarray(self.embedder(texts))
        from analysis.vectors.embed import embed

        return embed(texts)

    def _snapshot_samples(
        self, samples_or_set: Any, name: str, embeddings: np.ndarray | None
    ) -> tuple[pd.DataFrame, np.ndarray | None]:
        if isinstance(samples_or_set, pd.DataFrame) and set(COLUMNS) <= set(samples_or_set.columns):
            frame = (
                samples_or_set[samples_or_set["source"] != "real"]
                if (samples_or_set["source"] != "real").any()
                else samples_or_set
            )
            if embeddings is not None and len(frame) != len(samples_or_set):
                embeddings = np.asarray(embeddings)[(samples_or_set["source"] != "real").to_numpy()]
            frame = frame.copy()
        else:
            if isinstance(samples_or_set, pd.DataFrame):
                raw = samples_or_set.drop(
                    columns=[c for c in ("source", "method", "generation") if c in samples_or_set.columns]
                )
            else:
                raw = pd.DataFrame({"text": [str(t) for t in samples_or_set]})
            try:
                frame, report = samples_from_frame(raw, name=name, source="synthetic", method=name, generation=1)
            except CorpusError as exc:
                raise MonitorError(str(exc)) from None
            if embeddings is not None and len(frame) != len(raw):
                raise MonitorError(
                    f"Snapshot {name!r}: loading dropped {len(raw) - len(frame)} rows (empty or duplicate texts), "
                    f"so the embeddings no longer line up. Drop those rows first, or leave embeddings out."
                )
        frame["source"], frame["method"], frame["generation"], frame["split"] = "synthetic", name, 1, "train"
        return frame.reset_index(drop=True), (None if embeddings is None else np.asarray(embeddings))

    def add_snapshot(
        self,
        samples_or_set: pd.DataFrame | Sequence[str],
        name: str,
        *,
        generation: int | None = None,
        timestamp: Any = None,
        embeddings: np.ndarray | None = None,
        progress: Any = None,
    ) -> dict[str, Any]:
        """Score one snapshot against the real holdout and append it to the history.

        Parameters
        ----------
        samples_or_set
            The snapshot: a sample table (its synthetic rows are used), any table with a text
            column, or a list of texts.
        name
            The snapshot's name (unique in the series; a name already there is re-measured: the
            new line replaces the old one when the history is read).
        generation, timestamp
            Where the snapshot sits in the series (either, both or neither: then the order of
            adding). ``timestamp``: a datetime or an ISO 8601 string.
        embeddings
            Vectors aligned with ``samples_or_set``; default :func:`analysis.vectors.embed.embed` (cached).
        progress
            Passed to :func:`analysis.judge.compare.cached_compare`.

        Returns
        -------
        dict
            The record appended: ``series, snapshot, generation, timestamp, added_at, n, size,
            metrics, ci, baseline, settings, real_sha256``.

        Raises
        ------
        MonitorError
            No real data was given, the real data differs from the one the history was built on,
            or the snapshot cannot be read.
        """
        from analysis.corpus import combine_samples
        from analysis.judge.compare import CompareError

        if self._real is None:
            raise MonitorError("The monitor has no real data to compare with: pass real=... (the real samples).")
        name = str(name).strip()
        if not name:
            raise MonitorError("A snapshot needs a name.")
        earlier = [r.get("real_sha256") for r in self.records() if r.get("real_sha256")]
        if earlier and earlier[0] != self._real_sha256:
            raise MonitorError(
                f"The history {self.path.name} was measured against other real data; its snapshots are only comparable "
                f"against the same holdout. Use the same real data, or start another series (series=...)."
            )
        snapshot, vectors = self._snapshot_samples(samples_or_set, name, embeddings)
        samples = combine_samples(self._real, snapshot)[0]
        if self._real_embeddings is None:
            self._real_embeddings = self._embed(self._real["text"].tolist())
        if vectors is None:
            vectors = self._embed(snapshot["text"].tolist())
        if np.shape(vectors)[1:] != np.shape(self._real_embeddings)[1:]:
            raise MonitorError(
                f"Snapshot {name!r} has {np.shape(vectors)[1:]}-dimensional vectors, the real data "
                f"{np.shape(self._real_embeddings)[1:]}: embed both with the same model."
            )
        all_vectors = np.vstack(
            [np.asarray(self._real_embeddings, dtype=np.float32), np.asarray(vectors, dtype=np.float32)]
        )
        try:
            table = cached_compare(samples, all_vectors, cache_dir=self.cache_dir, progress=progress, **self.settings)
        except CompareError as exc:
            raise MonitorError(f"Snapshot {name!r}: {exc}") from None
        (record,) = records_of_table(table, series_of={name: self.series})
        record.update(
            {
                "generation": None if generation is None else int(generation),
                "timestamp": _timestamp_text(timestamp),
                "added_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                "n": int(len(snapshot)),
                "settings": self.settings,
                "real_sha256": self._real_sha256,
            }
        )
        append_record(self.path, record)
        return record

    def add_by(
        self,
        samples: pd.DataFrame,
        by: str = "generation",
        *,
        embeddings: np.ndarray | None = None,
        skip_existing: bool = True,
    ) -> list[dict[str, Any]]:
        """Add the synthetic rows of a sample table as one snapshot per value of the column ``by``.

        Parameters
        ----------
        samples
            A sample table; real rows are ignored.
        by
            ``generation`` (each value is the snapshot's generation), or a column of dates or
            times (each value is its timestamp), or any other column (added in sorted order).
        embeddings
            Vectors aligned with ``samples``.
        skip_existing
            Leave out snapshots whose name is already in the history.

        Returns
        -------
        list of dict
            The records appended.
        """
        if by not in samples.columns:
            raise MonitorError(
                f"There is no column {by!r} to split the snapshots by; columns: {', '.join(map(str, samples.columns))}."
            )
        synthetic = (samples["source"] != "real").to_numpy()
        present = {r["snapshot"] for r in self.records()}
        added = []
        for value in sorted(samples.loc[synthetic, by].dropna().unique(), key=lambda v: (str(type(v)), v)):
            rows = synthetic & (samples[by] == value).to_numpy()
            generation = int(value) if by == "generation" else None
            timestamp = value if by != "generation" and _is_time(value) else None
            name = f"{self.series} g{generation}" if generation is not None else str(value)
            if skip_existing and name in present:
                continue
            vectors = None if embeddings is None else np.asarray(embeddings)[rows]
            added.append(
                self.add_snapshot(samples[rows], name, generation=generation, timestamp=timestamp, embeddings=vectors)
            )
        return added

    def add_folder(self, folder: str | Path, *, pattern: str = "*", skip_existing: bool = True) -> list[dict[str, Any]]:
        """Add each file of ``folder`` (sorted by name) as a snapshot named after the file.

        A date in the file name (``2024-05-01``, ``2024-05-01T12-00``) is the snapshot's
        timestamp; otherwise the last number in it (``gen-3``, ``week_12``) is its generation.

        Parameters
        ----------
        folder
            A folder of sample files (any format :func:`analysis.corpus.read_samples` reads).
        pattern
            A glob for the files to take.
        skip_existing
            Leave out files whose snapshot is already in the history (a pipeline's new exports
            are added, old ones are not measured again).

        Returns
        -------
        list of dict
            The records appended.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise MonitorError(f"{folder} is not a folder. Give the folder that holds one file per snapshot.")
        files = sorted(p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith("."))
        if not files:
            raise MonitorError(f"{folder} has no files matching {pattern!r}.")
        present = {r["snapshot"] for r in self.records()}
        added = []
        for path in files:
            if skip_existing and path.stem in present:
                continue
            try:
                samples = read_samples(path, source="synthetic", method=path.stem)[0]
            except CorpusError as exc:
                raise MonitorError(str(exc)) from None
            timestamp = _date_in(path.stem)
            generation = None if timestamp else _digits(path.stem)
            added.append(self.add_snapshot(samples, path.stem, generation=generation, timestamp=timestamp))
        return added


def _is_time(value: Any) -> bool:
    if isinstance(value, (pd.Timestamp, datetime, np.datetime64)):
        return True
    if isinstance(value, str):
        try:
            pd.Timestamp(value)
            return bool(re.match(r"\d{4}-\d{2}", value))
        except ValueError:
            return False
    return False
