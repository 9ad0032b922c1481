"""The monitor's history file: one JSON line per snapshot, appended, never rewritten, and the tidy table read from it.

A history lives at ``<workspace>/monitor/<series>.jsonl``. Each line is written with a single
``write`` under an exclusive lock, then flushed and fsynced. A process killed mid-append leaves at
most a torn last line; readers skip any line that is not a complete record, and the next append
starts on a fresh line, so the file stays usable and nothing earlier is lost. Adding a snapshot
under a name already in the history appends a new line that replaces the older one on read (a
re-measurement), never an edit in place.

:func:`history_frame` turns records into the tidy :data:`HISTORY_COLUMNS` table;
:func:`history_from_table` reads a :func:`analysis.judge.compare.compare` table as a history (each
method's generations are a series); :func:`records_of_table` gives the snapshot records of a
compare table; :class:`MonitorHistory` is that table together with the count of lines skipped.
:class:`MonitorError` is the monitor's user-facing error.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import CollapseLabError
from analysis.judge.compare import BASELINE, METRICS

__all__ = [
    "HISTORY_FORMAT",
    "HISTORY_COLUMNS",
    "MonitorError",
    "MonitorHistory",
    "json_safe",
    "append_record",
    "read_records",
    "history_frame",
    "records_of_table",
    "history_from_table",
]

HISTORY_FORMAT = 1
#: Columns of :meth:`Monitor.history` (and :func:`history_frame`): one row per snapshot and metric.
HISTORY_COLUMNS = [
    "series",
    "snapshot",
    "order",
    "generation",
    "timestamp",
    "metric",
    "family",
    "direction",
    "value",
    "ci_low",
    "ci_high",
    "baseline",
    "n",
    "size",
    "added_at",
]


class MonitorError(CollapseLabError, ValueError):
    """A snapshot cannot be added or a history cannot be read; the message says how to fix it."""


def json_safe(value: Any) -> Any:
    """NaN and infinities as ``null`` (strict JSON); numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
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
    line = (json.dumps(json_safe(record), ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
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


@dataclass(frozen=True)
class MonitorHistory:
    """What :meth:`Monitor.read_history` returns: the tidy history and how many lines of the file were skipped.

    ``table`` holds :data:`HISTORY_COLUMNS` (see :func:`history_frame`); ``skipped`` counts the lines
    that were not complete records (a torn last line after a killed process), which are ignored.
    """

    table: pd.DataFrame
    skipped: int = 0

    def _repr_html_(self) -> str:
        """A row per snapshot with its watched metrics, escaped (Jupyter's rich display)."""
        from analysis.display import history_html

        return history_html(self.table, skipped=self.skipped)


def _as_float(value: Any) -> float:
    return math.nan if value is None else float(value)


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
        datetime or NaT. The count of skipped lines travels in :class:`MonitorHistory`
        (see :meth:`Monitor.read_history`).
    """
    latest: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for position, record in enumerate(records):
        latest[(str(record.get("series", "")), str(record["snapshot"]))] = (position, record)
    rows = []
    for (series, snapshot), (position, record) in latest.items():
        ci = record.get("ci", {}) or {}
        baseline = record.get("baseline", {}) or {}
        for metric, value in record["metrics"].items():
            known = METRICS.get(metric)
            family, direction = (known.family, known.direction) if known else ("other", "higher")
            low, high = (ci.get(metric) or [None, None])[:2]
            rows.append(
                {
                    "series": series,
                    "snapshot": snapshot,
                    "_position": position,
                    "generation": record.get("generation"),
                    "timestamp": record.get("timestamp"),
                    "metric": metric,
                    "family": family,
                    "direction": direction,
                    "value": _as_float(value),
                    "ci_low": _as_float(low),
                    "ci_high": _as_float(high),
                    "baseline": _as_float(baseline.get(metric)),
                    "n": record.get("n"),
                    "size": record.get("size"),
                    "added_at": record.get("added_at"),
                }
            )
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


def records_of_table(table: pd.DataFrame, *, series_of: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One snapshot record per synthetic set of a :func:`analysis.judge.compare.compare` table."""
    base = table[table["set"] == BASELINE].set_index("metric")["value"].to_dict()
    records = []
    for name, rows in table[table["set"] != BASELINE].groupby("set", sort=False):
        rows = rows.set_index("metric")
        records.append(
            {
                "format": HISTORY_FORMAT,
                "series": (series_of or {}).get(name, str(rows["method"].iloc[0])),
                "snapshot": str(name),
                "generation": int(rows["generation"].iloc[0]),
                "timestamp": None,
                "n": int(rows["n"].iloc[0]),
                "size": int(rows["n"].iloc[0]),
                "metrics": rows["value"].to_dict(),
                "ci": {
                    m: [low, high] for m, low, high in zip(rows.index, rows["ci_low"], rows["ci_high"]) if pd.notna(low)
                },
                "baseline": {m: base.get(m) for m in rows.index},
            }
        )
    return records


def history_from_table(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`analysis.judge.compare.compare` table read as a history: each method's generations are a series.

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
    return history_frame(records_of_table(table))
