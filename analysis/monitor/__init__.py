"""Snapshots of a synthetic-data pipeline, their metrics over time, and early-warning trend rules.

One job per module: :mod:`~analysis.monitor.store` (the append-only, crash-safe JSONL history
and the tidy history table, :class:`MonitorHistory`, :class:`MonitorError`); :mod:`~analysis.monitor.core` (the
:class:`Monitor`, which scores snapshots against a real holdout and appends them);
:mod:`~analysis.monitor.trends` (the ``[[trend]]`` rules: :func:`warnings`, :func:`thresholds`; a ledger
of loss as warnings, :func:`ledger_warnings`);
:mod:`~analysis.monitor.gate` (:func:`gate`, the CI quality gate behind ``python -m analysis
check``); :mod:`~analysis.monitor.demo` (:func:`demo_history`). ``from analysis.monitor import …``
gives the public API of all of them.
"""

from analysis.monitor.core import Monitor
from analysis.monitor.demo import demo_history
from analysis.monitor.gate import EXIT_CODES, FIRED_COLUMNS, VERDICT_COLUMNS, GateResult, gate
from analysis.monitor.store import (
    HISTORY_COLUMNS,
    MonitorError,
    MonitorHistory,
    append_record,
    history_frame,
    history_from_table,
    read_records,
)
from analysis.monitor.trends import THRESHOLD_COLUMNS, WARNING_COLUMNS, ledger_warnings, thresholds, warnings

__all__ = [
    "HISTORY_COLUMNS",
    "WARNING_COLUMNS",
    "THRESHOLD_COLUMNS",
    "VERDICT_COLUMNS",
    "FIRED_COLUMNS",
    "EXIT_CODES",
    "Monitor",
    "MonitorError",
    "MonitorHistory",
    "GateResult",
    "append_record",
    "read_records",
    "history_frame",
    "history_from_table",
    "warnings",
    "thresholds",
    "ledger_warnings",
    "gate",
    "demo_history",
]
