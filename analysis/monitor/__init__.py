"""Snapshots of a synthetic-data pipeline, their metrics over time, trend rules and the CI gate.

The code lives in :mod:`analysis.monitor.core` for now; this package re-exports its public API.
"""

from analysis.monitor.core import (
    EXIT_CODES, FIRED_COLUMNS, HISTORY_COLUMNS, THRESHOLD_COLUMNS, VERDICT_COLUMNS, WARNING_COLUMNS, GateResult,
    Monitor, MonitorError, append_record, demo_history, gate, history_frame, history_from_table, read_records,
    thresholds, warnings,
)

__all__ = [
    "HISTORY_COLUMNS", "WARNING_COLUMNS", "THRESHOLD_COLUMNS", "VERDICT_COLUMNS", "FIRED_COLUMNS", "EXIT_CODES",
    "Monitor", "MonitorError", "GateResult", "append_record", "read_records", "history_frame",
    "history_from_table", "warnings", "thresholds", "gate", "demo_history",
]
