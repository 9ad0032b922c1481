"""The CI quality gate behind ``python -m analysis check``: level rules and trend rules together, a verdict
per set and an exit code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.judge.compare import BASELINE
from analysis.judge.risks import load_rules, load_trend_rules, risks
from analysis.monitor.store import history_from_table, json_safe
from analysis.monitor.trends import warnings

__all__ = ["VERDICT_COLUMNS", "FIRED_COLUMNS", "EXIT_CODES", "GateResult", "gate"]

#: Columns of :attr:`GateResult.verdicts` and :attr:`GateResult.fired`.
VERDICT_COLUMNS = ["set", "method", "generation", "verdict", "warnings", "alarms", "rules"]
FIRED_COLUMNS = ["set", "scope", "rule", "risk", "severity", "metric", "value", "limit", "message"]
#: The gate's exit code per verdict; 3 means the data could not be checked (bad input).
EXIT_CODES = {"ok": 0, "warning": 1, "alarm": 2}


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
        return json_safe(
            {
                "verdict": self.verdict,
                "exit_code": self.exit_code,
                "sets": self.verdicts.to_dict("records"),
                "fired": self.fired.to_dict("records"),
            }
        )

    def text(self, notes: Sequence[str] = ()) -> str:
        """The result as lines of text: a verdict line per set, then each rule that fired under it,
        then ``notes`` (e.g. what each set misses), and the overall verdict last."""
        lines = []
        for verdict in self.verdicts.itertuples():
            lines.append(
                f"{verdict.set}: {verdict.verdict.upper()}"
                + (f" ({verdict.rules})" if verdict.rules else " (no rule fires)")
            )
            for row in self.fired[self.fired["set"] == verdict.set].itertuples():
                lines.append(f"  [{row.severity}] {row.rule} ({row.risk}, {row.scope}): {row.message}")
        lines.extend(notes)
        lines.append(f"verdict: {self.verdict} (exit {self.exit_code})")
        return "\n".join(lines)


def gate(table: pd.DataFrame, rules: str | Path | None = None) -> GateResult:
    """The quality gate: level rules and trend rules on a compare table, a verdict per set.

    Parameters
    ----------
    table
        A :func:`analysis.judge.compare.compare` table.
    rules
        A TOML rules file with ``[[rule]]`` (level) and ``[[trend]]`` tables; default the
        shipped ``analysis/judge/risk_rules.toml``. The file given is the whole rule set: a file without
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
    fired = (
        pd.concat(
            [
                level.assign(scope="set")[FIRED_COLUMNS],
                trend.rename(columns={"snapshot": "set"}).assign(scope="trend")[FIRED_COLUMNS],
            ],
            ignore_index=True,
        )
        if len(level) or len(trend)
        else pd.DataFrame(columns=FIRED_COLUMNS)
    )
    sets = table[table["set"] != BASELINE].drop_duplicates("set")[["set", "method", "generation"]]
    verdicts = []
    for row in sets.itertuples():
        mine = fired[fired["set"] == row.set]
        alarms, warns = int((mine["severity"] == "alarm").sum()), int((mine["severity"] == "warning").sum())
        verdicts.append(
            {
                "set": row.set,
                "method": row.method,
                "generation": int(row.generation),
                "verdict": "alarm" if alarms else "warning" if warns else "ok",
                "warnings": warns,
                "alarms": alarms,
                "rules": ", ".join(dict.fromkeys(mine["rule"])),
            }
        )
    verdicts = pd.DataFrame(verdicts, columns=VERDICT_COLUMNS)
    exit_code = max((EXIT_CODES[v] for v in verdicts["verdict"]), default=0)
    return GateResult(verdicts=verdicts, fired=fired.reset_index(drop=True), exit_code=exit_code)
