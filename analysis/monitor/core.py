"""Snapshots of a synthetic-data pipeline, their metrics over time, and early-warning trend rules.

A *snapshot* is one synthetic set with a place in a series: a generation number (recursive
training), a timestamp (a weekly export), or just the order it was added in. The
:class:`Monitor` scores each snapshot with :func:`analysis.compare.compare` against the same
real holdout and keeps one history per series in the workspace::

    <workspace>/monitor/<series>.jsonl     one JSON line per snapshot, appended, never rewritten

Each line is written with a single ``write`` under an exclusive lock, then flushed and fsynced.
A process killed mid-append leaves at most a torn last line; readers skip any line that is not
a complete record, and the next append starts on a fresh line, so the file stays usable and
nothing earlier is lost. Adding a snapshot under a name already in the history appends a new
line that replaces the older one on read (a re-measurement), never an edit in place.

:func:`warnings` applies the ``[[trend]]`` rules of the risk-rules TOML
(:func:`analysis.risks.load_trend_rules`) to a history; :func:`thresholds` gives each rule's
limit at each snapshot (the line to draw on a trend chart); :func:`gate` is the CI quality gate
behind ``python -m analysis check``: level rules and trend rules together, a verdict per set and
an exit code.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from analysis.compare import BASELINE, METRICS, cached_compare
from analysis.corpus import COLUMNS, CorpusError, read_samples, samples_from_frame
from analysis.risks import load_rules, load_trend_rules, risks

__all__ = [
    "HISTORY_COLUMNS", "WARNING_COLUMNS", "THRESHOLD_COLUMNS", "VERDICT_COLUMNS", "FIRED_COLUMNS", "EXIT_CODES",
    "Monitor", "MonitorError", "GateResult", "append_record", "read_records", "history_frame",
    "history_from_table", "warnings", "thresholds", "gate", "demo_history",
]

HISTORY_FORMAT = 1
#: Columns of :meth:`Monitor.history` (and :func:`history_frame`): one row per snapshot and metric.
HISTORY_COLUMNS = [
    "series", "snapshot", "order", "generation", "timestamp", "metric", "family", "direction", "value",
    "ci_low", "ci_high", "baseline", "n", "size", "added_at",
]
#: Columns of :func:`warnings`: one row per rule firing at a snapshot.
WARNING_COLUMNS = [
    "series", "snapshot", "order", "generation", "timestamp", "metric", "rule", "kind", "risk", "severity",
    "value", "reference", "change", "limit", "threshold", "baseline", "message",
]
#: Columns of :func:`thresholds`: each rule's limit at each snapshot.
THRESHOLD_COLUMNS = ["series", "snapshot", "order", "metric", "rule", "kind", "severity", "limit"]
#: Columns of :attr:`GateResult.verdicts` and :attr:`GateResult.fired`.
VERDICT_COLUMNS = ["set", "method", "generation", "verdict", "warnings", "alarms", "rules"]
FIRED_COLUMNS = ["set", "scope", "rule", "risk", "severity", "metric", "value", "limit", "message"]
#: The gate's exit code per verdict; 3 means the data could not be checked (bad input).
EXIT_CODES = {"ok": 0, "warning": 1, "alarm": 2}


class MonitorError(ValueError):
    """A snapshot cannot be added or a history cannot be read; the message says how to fix it."""


# --- The history file ---------------------------------------------------------------------------

def _json_safe(value: Any) -> Any:
    """NaN and infinities as ``null`` (strict JSON); numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``path``, durably, without touching what is there.

    Parameters
    ----------
    path
        The JSONL history file; created (with its folder) when missing.
    record
        A JSON-serialisable dict (NaN becomes ``null``).

    Notes
    -----
    The line is written with one ``os.write`` on an ``O_APPEND`` descriptor under an exclusive
    ``flock`` (two writers never interleave), then fsynced. When the file does not end with a
    newline (a writer was killed mid-line), the new line starts after a newline, so the torn
    fragment stays a line of its own that readers skip.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(_json_safe(record), ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    created = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        size = os.fstat(descriptor).st_size
        if size:
            with open(path, "rb") as existing:
                existing.seek(size - 1)
                if existing.read(1) != b"\n":
                    line = b"\n" + line
        written = 0
        while written < len(line):
            written += os.write(descriptor, line[written:])
        os.fsync(descriptor)
    finally:
        os.close(descriptor)  # releases the lock
    if created:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def read_records(path: str | Path) -> tuple[list[dict[str, Any]], int]:
    """The complete records of a JSONL history, in file order, and how many lines were skipped.

    Parameters
    ----------
    path
        The history file; a missing file is an empty history.

    Returns
    -------
    records, skipped
        Every line that parses as a JSON object with a ``snapshot`` and ``metrics``; ``skipped``
        counts the others (a torn last line after a killed writer, or a line edited by hand).
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    records, skipped = [], 0
    for line in raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            skipped += 1
            continue
        if not isinstance(record, dict) or "snapshot" not in record or not isinstance(record.get("metrics"), dict):
            skipped += 1
            continue
        records.append(record)
    return records, skipped


def _as_float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _timestamp_text(timestamp: Any) -> str | None:
    if timestamp is None or (isinstance(timestamp, float) and math.isnan(timestamp)):
        return None
    try:
        return pd.Timestamp(timestamp).isoformat()
    except (ValueError, TypeError):
        raise MonitorError(f"The timestamp {timestamp!r} is not a date or time; use ISO 8601, e.g. 2024-05-01T12:00.") from None


def history_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The tidy history table of snapshot records (as :meth:`Monitor.add_snapshot` writes them).

    Parameters
    ----------
    records
        Snapshot records in the order they were added. A later record with the same
        ``series`` and ``snapshot`` replaces an earlier one.

    Returns
    -------
    DataFrame
        :data:`HISTORY_COLUMNS`: one row per snapshot and metric. ``order`` (1, 2, ...) places
        the snapshots of a series: by generation, then timestamp, then the order they were added
        (a snapshot without generation or timestamp goes after those with one). ``baseline`` is
        what real train data of the same size scores on that metric; ``timestamp`` is a UTC
        datetime or NaT. ``attrs["skipped"]`` is not set here (see :meth:`Monitor.history`).
    """
    latest: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for position, record in enumerate(records):
        latest[(str(record.get("series", "")), str(record["snapshot"]))] = (position, record)
    rows = []
    for (series, snapshot), (position, record) in latest.items():
        ci = record.get("ci", {}) or {}
        baseline = record.get("baseline", {}) or {}
        for metric, value in record["metrics"].items():
            family, direction, _ = METRICS.get(metric, ("other", "higher", ""))
            low, high = (ci.get(metric) or [None, None])[:2]
            rows.append({
                "series": series, "snapshot": snapshot, "_position": position, "generation": record.get("generation"),
                "timestamp": record.get("timestamp"), "metric": metric, "family": family, "direction": direction,
                "value": _as_float(value), "ci_low": _as_float(low), "ci_high": _as_float(high),
                "baseline": _as_float(baseline.get(metric)), "n": record.get("n"), "size": record.get("size"),
                "added_at": record.get("added_at"),
            })
    if not rows:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    table = pd.DataFrame(rows)
    table["generation"] = pd.to_numeric(table["generation"], errors="coerce").astype("Int64")
    table["timestamp"] = pd.to_datetime(table["timestamp"], utc=True, errors="coerce", format="ISO8601")
    places = table.drop_duplicates(["series", "snapshot"]).sort_values(
        ["series", "generation", "timestamp", "_position"], na_position="last", kind="stable"
    )
    places["order"] = places.groupby("series").cumcount() + 1
    table = table.merge(places[["series", "snapshot", "order"]], on=["series", "snapshot"])
    metric_rank = {metric: i for i, metric in enumerate(METRICS)}
    table["_metric"] = table["metric"].map(metric_rank).fillna(len(metric_rank))
    table = table.sort_values(["series", "order", "_metric"], kind="stable")
    return table[HISTORY_COLUMNS].reset_index(drop=True)


def _records_of_table(table: pd.DataFrame, *, series_of: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One snapshot record per synthetic set of a :func:`analysis.compare.compare` table."""
    base = table[table["set"] == BASELINE].set_index("metric")["value"].to_dict()
    records = []
    for name, rows in table[table["set"] != BASELINE].groupby("set", sort=False):
        rows = rows.set_index("metric")
        records.append({
            "format": HISTORY_FORMAT,
            "series": (series_of or {}).get(name, str(rows["method"].iloc[0])),
            "snapshot": str(name),
            "generation": int(rows["generation"].iloc[0]),
            "timestamp": None,
            "n": int(rows["n"].iloc[0]),
            "size": int(rows["n"].iloc[0]),
            "metrics": rows["value"].to_dict(),
            "ci": {m: [low, high] for m, low, high in zip(rows.index, rows["ci_low"], rows["ci_high"]) if pd.notna(low)},
            "baseline": {m: base.get(m) for m in rows.index},
        })
    return records


def history_from_table(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`analysis.compare.compare` table read as a history: each method's generations are a series.

    Parameters
    ----------
    table
        A compare table with its ``real train`` baseline rows.

    Returns
    -------
    DataFrame
        :data:`HISTORY_COLUMNS`; ``series`` is the method, ``snapshot`` the set name
        (``llm``, ``llm g2``, ...) and ``order`` follows the generation. A method with one set is
        a series of one snapshot (only level trend rules, ``above``/``below``, can fire on it).
    """
    return history_frame(_records_of_table(table))


# --- The monitor --------------------------------------------------------------------------------

def _digits(text: str) -> int | None:
    found = re.findall(r"\d+", text)
    return int(found[-1]) if found else None


def _date_in(text: str) -> str | None:
    found = re.search(r"\d{4}-\d{2}-\d{2}(?:[T_ ]\d{2}[:-]?\d{2}(?:[:-]?\d{2})?)?", text)
    if not found:
        return None
    value = found.group(0).replace("_", "T")
    value = re.sub(r"T(\d{2})-?(\d{2})(?:-?(\d{2}))?$", lambda m: f"T{m[1]}:{m[2]}" + (f":{m[3]}" if m[3] else ""), value)
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
        Vectors aligned with ``real``; default :func:`analysis.embed.embed` (cached).
    series
        The history's name (one file per series).
    size
        Samples per set in :func:`analysis.compare.compare`; default each snapshot's own size.
        Fix it when snapshots differ in size: distinct-n, coverage and friends depend on it.
    seed, k, bins, with_mauve
        As in :func:`analysis.compare.compare`; MAUVE is off by default (seconds per snapshot).
    cache_dir
        Where :func:`analysis.compare.cached_compare` keeps its tables.
    embedder
        ``embedder(texts) -> array`` for texts given without vectors; default
        :func:`analysis.embed.embed` (the configured model, cached). Real and snapshot vectors
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

    def history(self) -> pd.DataFrame:
        """The tidy history: :data:`HISTORY_COLUMNS`, one row per snapshot and metric.

        ``attrs["skipped"]`` counts lines of the file that were not complete records (a torn
        last line after a killed process), which are ignored.
        """
        records, skipped = read_records(self.path)
        table = history_frame(records)
        table.attrs["skipped"] = skipped
        return table

    def snapshots(self) -> pd.DataFrame:
        """One row per snapshot: ``snapshot, order, generation, timestamp, n, size, added_at``."""
        table = self.history()
        columns = ["snapshot", "order", "generation", "timestamp", "n", "size", "added_at"]
        return table.drop_duplicates("snapshot")[columns].reset_index(drop=True)

    # adding --------------------------------------------------------------------------------------

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.embedder is not None:
            return np.asarray(self.embedder(texts))
        from analysis.embed import embed

        return embed(texts)

    def _snapshot_samples(self, samples_or_set: Any, name: str, embeddings: np.ndarray | None) -> tuple[pd.DataFrame, np.ndarray | None]:
        if isinstance(samples_or_set, pd.DataFrame) and set(COLUMNS) <= set(samples_or_set.columns):
            frame = samples_or_set[samples_or_set["source"] != "real"] if (samples_or_set["source"] != "real").any() else samples_or_set
            if embeddings is not None and len(frame) != len(samples_or_set):
                embeddings = np.asarray(embeddings)[(samples_or_set["source"] != "real").to_numpy()]
            frame = frame.copy()
        else:
            if isinstance(samples_or_set, pd.DataFrame):
                raw = samples_or_set.drop(columns=[c for c in ("source", "method", "generation") if c in samples_or_set.columns])
            else:
                raw = pd.DataFrame({"text": [str(t) for t in samples_or_set]})
            try:
                frame, report = samples_from_frame(raw, name=name, source="synthetic", method=name, generation=1)
            except CorpusError as exc:
                raise MonitorError(str(exc)) from None
            if embeddings is not None and len(frame) != len(raw):
                raise MonitorError(
                    f"Snapshot {name!r}: loading dropped {len(raw) - len(frame)} rows (empty or duplicate texts), so the "
                    f"embeddings no longer line up. Drop those rows first, or leave embeddings out."
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
            Vectors aligned with ``samples_or_set``; default :func:`analysis.embed.embed` (cached).
        progress
            Passed to :func:`analysis.compare.cached_compare`.

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
        from analysis.compare import CompareError
        from analysis.corpus import combine_samples

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
            raise MonitorError(f"Snapshot {name!r} has {np.shape(vectors)[1:]}-dimensional vectors, the real data "
                               f"{np.shape(self._real_embeddings)[1:]}: embed both with the same model.")
        all_vectors = np.vstack([np.asarray(self._real_embeddings, dtype=np.float32), np.asarray(vectors, dtype=np.float32)])
        try:
            table = cached_compare(samples, all_vectors, cache_dir=self.cache_dir, progress=progress, **self.settings)
        except CompareError as exc:
            raise MonitorError(f"Snapshot {name!r}: {exc}") from None
        (record,) = _records_of_table(table, series_of={name: self.series})
        record.update({
            "generation": None if generation is None else int(generation),
            "timestamp": _timestamp_text(timestamp),
            "added_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "n": int(len(snapshot)),
            "settings": self.settings,
            "real_sha256": self._real_sha256,
        })
        append_record(self.path, record)
        return record

    def add_by(self, samples: pd.DataFrame, by: str = "generation", *, embeddings: np.ndarray | None = None,
               skip_existing: bool = True) -> list[dict[str, Any]]:
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
            raise MonitorError(f"There is no column {by!r} to split the snapshots by; columns: {', '.join(map(str, samples.columns))}.")
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
            added.append(self.add_snapshot(samples[rows], name, generation=generation, timestamp=timestamp, embeddings=vectors))
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


# --- Trend rules --------------------------------------------------------------------------------

def _trend_rules(rules: str | Path | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return rules if isinstance(rules, list) else load_trend_rules(rules)


def _evaluate(rule: dict[str, Any], values: np.ndarray, baselines: np.ndarray, i: int) -> dict[str, float] | None:
    """Rule at snapshot ``i`` of a series: reference, change, limit and whether it fires; None if it cannot apply."""
    value, kind, threshold = values[i], rule["kind"], float(rule["threshold"])
    if not math.isfinite(value):
        return None
    if kind in ("drop", "rise"):
        at = 0 if rule["reference"] == "first" else i - int(rule["window"])
        if i == 0 or at < 0 or not math.isfinite(values[at]) or values[at] == 0:
            return None
        reference = values[at]
        sign = 1.0 if kind == "rise" else -1.0
        change = sign * (value - reference) / abs(reference)
        return {"reference": reference, "change": change, "limit": reference + sign * threshold * abs(reference),
                "fires": change > threshold}
    if kind == "spike":
        previous = values[max(0, i - int(rule["window"])):i]
        previous = previous[np.isfinite(previous)]
        if len(previous) < 2:
            return None
        mean = float(previous.mean())
        spread = max(float(previous.std(ddof=1)), float(rule["min_spread"]) * abs(mean), 1e-12)
        z = (value - mean) / spread
        direction = rule["direction"]
        fires = z > threshold if direction == "up" else z < -threshold if direction == "down" else abs(z) > threshold
        limit = mean - threshold * spread if direction == "down" else mean + threshold * spread
        return {"reference": mean, "change": z, "limit": limit, "fires": bool(fires)}
    baseline = baselines[i]
    if kind == "plateau":
        window = int(rule["window"])
        recent = values[i - window + 1:i + 1] if i + 1 >= window else np.array([])
        if len(recent) < window or not np.isfinite(recent).all() or not math.isfinite(baseline):
            return None
        mean = float(recent.mean())
        moved = (float(recent.max()) - float(recent.min())) / abs(mean) if mean else math.inf
        limit = float(rule["above_baseline"]) * baseline
        return {"reference": mean, "change": moved, "limit": limit, "fires": moved < threshold and mean > limit}
    # above / below: a level, absolute or a multiple of the real-train baseline
    if rule["relative"]:
        if not math.isfinite(baseline):
            return None
        limit = threshold * baseline
    else:
        limit = threshold
    if kind == "above" and "floor" in rule:
        limit = max(limit, float(rule["floor"]))
    if kind == "below" and "ceiling" in rule:
        limit = min(limit, float(rule["ceiling"]))
    change = (value - baseline) / abs(baseline) if math.isfinite(baseline) and baseline else math.nan
    return {"reference": baseline, "change": change, "limit": limit,
            "fires": value > limit if kind == "above" else value < limit}


def _series(history: pd.DataFrame):
    """Per (series, metric): the snapshots in order with their values and baselines."""
    if history.empty:
        return
    for (series, metric), rows in history.sort_values("order").groupby(["series", "metric"], sort=False):
        yield series, metric, rows.reset_index(drop=True)


def _rules_by_metric(rules: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        by_metric.setdefault(rule["metric"], []).append(rule)
    return by_metric


def _judged(history: pd.DataFrame, rules) -> Iterator[tuple[str, str, pd.DataFrame, dict[str, Any], int, dict[str, Any]]]:
    """Every (series, metric, rows, rule, snapshot index, outcome) where a trend rule can be judged."""
    by_metric = _rules_by_metric(_trend_rules(rules))
    for series, metric, rows in _series(history):
        values, baselines = rows["value"].to_numpy(float), rows["baseline"].to_numpy(float)
        for rule in by_metric.get(metric, []):
            for i in range(len(rows)):
                outcome = _evaluate(rule, values, baselines, i)
                if outcome:
                    yield series, metric, rows, rule, i, outcome


def warnings(history: pd.DataFrame, rules: str | Path | list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Which trend rules fire at which snapshot of a history, and why.

    Every snapshot is judged against the ones before it, so a trend chart can mark where a
    warning first appeared, not only whether the latest snapshot is in trouble.

    Parameters
    ----------
    history
        :data:`HISTORY_COLUMNS` (:meth:`Monitor.history`, :func:`history_from_table` or
        :func:`demo_history`).
    rules
        A rules file, a list of rules from :func:`analysis.risks.load_trend_rules`, or ``None``
        for the shipped ``[[trend]]`` rules of ``analysis/risk_rules.toml``.

    Returns
    -------
    DataFrame
        :data:`WARNING_COLUMNS`: one row per rule firing at a snapshot. ``reference`` is what
        the value is compared with (first or earlier snapshot, the window's mean, or the
        baseline), ``change`` the relative change (``drop``/``rise``: a share; ``spike``: standard
        deviations; ``plateau``: the window's relative range), ``limit`` the value at which the
        rule fires, ``threshold`` the rule's own number, ``message`` one sentence with the numbers.
    """
    fired = []
    for series, metric, rows, rule, i, outcome in _judged(history, rules):
        if not outcome["fires"]:
            continue
        numbers = {"value": float(rows["value"].iat[i]), "reference": outcome["reference"], "change": outcome["change"],
                   "limit": outcome["limit"], "baseline": float(rows["baseline"].iat[i])}
        fired.append({
            "series": series, "snapshot": rows["snapshot"].iat[i], "order": int(rows["order"].iat[i]),
            "generation": rows["generation"].iat[i], "timestamp": rows["timestamp"].iat[i], "metric": metric,
            "rule": rule["name"], "kind": rule["kind"], "risk": rule["risk"], "severity": rule["severity"],
            **{k: float(v) for k, v in numbers.items()}, "threshold": float(rule["threshold"]),
            "message": rule["message"].format(**numbers),
        })
    table = pd.DataFrame(fired, columns=WARNING_COLUMNS)
    return table.sort_values(["series", "order", "severity"], kind="stable").reset_index(drop=True) if len(table) else table


def thresholds(history: pd.DataFrame, rules: str | Path | list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Each trend rule's limit at each snapshot: the line to draw on the metric's trend chart.

    Parameters
    ----------
    history, rules
        As for :func:`warnings`.

    Returns
    -------
    DataFrame
        :data:`THRESHOLD_COLUMNS`: a row per snapshot where a rule can be judged. A ``drop``
        from the first snapshot gives a flat line (first value × (1 − threshold)); a ``drop``
        over a window, a ``spike`` (window mean + threshold × spread) and a baseline-relative
        ``above``/``below`` give a line that moves with the series; ``plateau`` gives the level
        above which a flat stretch fires.
    """
    rows_out = [
        {"series": series, "snapshot": rows["snapshot"].iat[i], "order": int(rows["order"].iat[i]), "metric": metric,
         "rule": rule["name"], "kind": rule["kind"], "severity": rule["severity"], "limit": float(outcome["limit"])}
        for series, metric, rows, rule, i, outcome in _judged(history, rules)
        if math.isfinite(outcome["limit"])
    ]
    return pd.DataFrame(rows_out, columns=THRESHOLD_COLUMNS)


# --- The gate -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GateResult:
    """What :func:`gate` found: a verdict per set, every rule that fired, and the exit code."""

    verdicts: pd.DataFrame  # VERDICT_COLUMNS
    fired: pd.DataFrame  # FIRED_COLUMNS
    exit_code: int

    @property
    def verdict(self) -> str:
        """The worst verdict over all sets: ``ok``, ``warning`` or ``alarm``."""
        return {v: k for k, v in EXIT_CODES.items()}[self.exit_code]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (``python -m analysis check --format json``)."""
        return _json_safe({
            "verdict": self.verdict, "exit_code": self.exit_code,
            "sets": self.verdicts.to_dict("records"), "fired": self.fired.to_dict("records"),
        })

    def text(self) -> str:
        """The result as lines of text: a verdict line per set, then each rule that fired under it."""
        lines = []
        for verdict in self.verdicts.itertuples():
            lines.append(f"{verdict.set}: {verdict.verdict.upper()}"
                         + (f" ({verdict.rules})" if verdict.rules else " (no rule fires)"))
            for row in self.fired[self.fired["set"] == verdict.set].itertuples():
                lines.append(f"  [{row.severity}] {row.rule} ({row.risk}, {row.scope}): {row.message}")
        lines.append(f"verdict: {self.verdict} (exit {self.exit_code})")
        return "\n".join(lines)


def gate(table: pd.DataFrame, rules: str | Path | None = None) -> GateResult:
    """The quality gate: level rules and trend rules on a compare table, a verdict per set.

    Parameters
    ----------
    table
        A :func:`analysis.compare.compare` table.
    rules
        A TOML rules file with ``[[rule]]`` (level) and ``[[trend]]`` tables; default the
        shipped ``analysis/risk_rules.toml``. The file given is the whole rule set: a file without
        ``[[trend]]`` tables has no trend rules.

    Returns
    -------
    GateResult
        ``verdicts`` (:data:`VERDICT_COLUMNS`; a set's verdict is its worst severity, ``ok`` when
        nothing fires), ``fired`` (:data:`FIRED_COLUMNS`; ``scope`` is ``set`` for a level rule
        and ``trend`` for a trend rule over the generations of the set's method) and
        ``exit_code`` (:data:`EXIT_CODES`: 0 ok, 1 a warning, 2 an alarm).
    """
    level = risks(table, load_rules(rules))
    trend = warnings(history_from_table(table), load_trend_rules(rules))
    fired = pd.concat([
        level.assign(scope="set")[FIRED_COLUMNS],
        trend.rename(columns={"snapshot": "set"}).assign(scope="trend")[FIRED_COLUMNS],
    ], ignore_index=True) if len(level) or len(trend) else pd.DataFrame(columns=FIRED_COLUMNS)
    sets = table[table["set"] != BASELINE].drop_duplicates("set")[["set", "method", "generation"]]
    verdicts = []
    for row in sets.itertuples():
        mine = fired[fired["set"] == row.set]
        alarms, warns = int((mine["severity"] == "alarm").sum()), int((mine["severity"] == "warning").sum())
        verdicts.append({"set": row.set, "method": row.method, "generation": int(row.generation),
                         "verdict": "alarm" if alarms else "warning" if warns else "ok", "warnings": warns,
                         "alarms": alarms, "rules": ", ".join(dict.fromkeys(mine["rule"]))})
    verdicts = pd.DataFrame(verdicts, columns=VERDICT_COLUMNS)
    exit_code = max((EXIT_CODES[v] for v in verdicts["verdict"]), default=0)
    return GateResult(verdicts=verdicts, fired=fired.reset_index(drop=True), exit_code=exit_code)


# --- The demo -----------------------------------------------------------------------------------

def demo_history(*, size: int = 300, seed: int = 0, with_mauve: bool = False,
                 cache_dir: str | Path | None = None) -> pd.DataFrame:
    """The demo's recursive llm generations 1 → 3 as the snapshots of a series ``llm``.

    Each generation is scored alone against the demo's real holdout (as a :class:`Monitor`
    would), at the same ``size`` (300: the size of generations 2 and 3), with the shipped demo
    vectors, through :func:`analysis.compare.cached_compare` (computed once per cache).

    Parameters
    ----------
    size, seed, with_mauve, cache_dir
        As in :func:`analysis.compare.compare` / :func:`analysis.compare.cached_compare`.

    Returns
    -------
    DataFrame
        :data:`HISTORY_COLUMNS`, snapshots ``llm g1``, ``llm g2``, ``llm g3`` with generations 1-3.
    """
    from analysis.demo import load_demo
    from analysis.embed import embed

    samples = load_demo()
    real = (samples["source"] == "real").to_numpy()
    llm = (samples["method"] == "llm").to_numpy() & ~real
    vectors = embed(samples["text"][real | llm])
    samples = samples[real | llm].reset_index(drop=True)
    real, generations = real[real | llm], samples["generation"].to_numpy()
    records = []
    for generation in sorted(set(generations[~real].tolist())):
        keep = real | (generations == generation)
        table = cached_compare(samples[keep].reset_index(drop=True), vectors[keep], cache_dir=cache_dir,
                               size=size, seed=seed, with_mauve=with_mauve)
        (record,) = _records_of_table(table)
        record.update({"series": "llm", "snapshot": f"llm g{generation}", "generation": int(generation),
                       "n": int((~real & (generations == generation)).sum()), "added_at": None})
        records.append(record)
    return history_frame(records)
