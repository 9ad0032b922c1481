"""Collapse-risk rules: readable thresholds on `compare` metrics, not an unexplained score.

The rules live in a TOML file (default ``analysis/risk_rules.toml``); each says which metric,
which way, which threshold (absolute, or a multiple of the real-train baseline, with an optional floor), how
severe, and the
sentence to show. :func:`risks` returns the rules that fire for each set, with the numbers.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.compare import BASELINE, METRICS

__all__ = ["DEFAULT_RULES", "load_rules", "risks", "RulesError"]

DEFAULT_RULES = Path(__file__).resolve().parent / "risk_rules.toml"
_FIELDS = {"name", "risk", "metric", "when", "threshold", "relative", "severity", "message"}


class RulesError(ValueError):
    """A rules file is not valid; the message says which rule and what to fix."""


def load_rules(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Read and check a rules file (default: the shipped one)."""
    path = Path(path) if path else DEFAULT_RULES
    try:
        rules = tomllib.loads(path.read_text(encoding="utf-8")).get("rule", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"{path}: cannot read the rules ({exc}).") from None
    for number, rule in enumerate(rules, start=1):
        missing = _FIELDS - set(rule)
        where = f"{path}, rule {number} ({rule.get('name', '?')})"
        if missing:
            raise RulesError(f"{where}: missing {', '.join(sorted(missing))}.")
        if rule["metric"] not in METRICS:
            raise RulesError(f"{where}: unknown metric {rule['metric']!r}; known: {', '.join(METRICS)}.")
        if rule["when"] not in ("below", "above") or rule["severity"] not in ("warning", "alarm"):
            raise RulesError(f"{where}: 'when' must be below/above and 'severity' warning/alarm.")
    return rules


def risks(table: pd.DataFrame, rules: str | Path | list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Which rules fire for which set of a :func:`analysis.compare.compare` table, and why.

    Returns one row per firing: ``set, risk, rule, severity, metric, value, limit, baseline,
    message``. The baseline row itself is never judged.
    """
    rules = rules if isinstance(rules, list) else load_rules(rules)
    values = table.pivot_table(index="set", columns="metric", values="value", aggfunc="first")
    baseline = values.loc[BASELINE] if BASELINE in values.index else None
    fired = []
    for set_name, row in values.iterrows():
        if set_name == BASELINE:
            continue
        for rule in rules:
            value = row.get(rule["metric"], math.nan)
            reference = baseline.get(rule["metric"], math.nan) if baseline is not None else math.nan
            limit = rule["threshold"] * reference if rule["relative"] else rule["threshold"]
            if "floor" in rule and math.isfinite(limit):
                limit = max(limit, rule["floor"])
            if not (math.isfinite(value) and math.isfinite(limit)):
                continue
            if (value < limit) if rule["when"] == "below" else (value > limit):
                fired.append({
                    "set": set_name, "risk": rule["risk"], "rule": rule["name"], "severity": rule["severity"],
                    "metric": rule["metric"], "value": value, "limit": limit, "baseline": reference,
                    "message": rule["message"].format(value=value, limit=limit, baseline=reference),
                })
    return pd.DataFrame(fired, columns=["set", "risk", "rule", "severity", "metric", "value", "limit", "baseline", "message"])
