"""Collapse-risk rules: readable thresholds on `compare` metrics, not an unexplained score.

The rules live in a TOML file (default ``analysis/judge/risk_rules.toml``); each says which metric,
which way, which threshold (absolute, or a multiple of the real-train baseline, with an optional floor), how
severe, and the
sentence to show. :func:`risks` returns the rules that fire for each set, with the numbers.

The same file holds trend rules (``[[trend]]`` tables, read by :func:`load_trend_rules`): they
judge a series of snapshots (generations, weeks) rather than one set; :func:`analysis.monitor.warnings`
applies them.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.corpus import CorpusError
from analysis.corpus.files import read_small_file
from analysis.errors import CollapseLabError
from analysis.metrics.catalog import compare_metrics, values_by_set

__all__ = ["DEFAULT_RULES", "TREND_KINDS", "fill_message", "load_rules", "load_trend_rules", "risks", "RulesError"]

DEFAULT_RULES = Path(__file__).resolve().parent / "risk_rules.toml"
_FIELDS = {"name", "risk", "metric", "when", "threshold", "relative", "severity", "message"}


class RulesError(CollapseLabError, ValueError):
    """A rules file is not valid; the message says which rule and what to fix."""


def _check_metric(metric: str, where: str) -> None:
    """A :class:`RulesError` unless ``metric`` is one of compare's metrics (:mod:`analysis.metrics.catalog`)."""
    known = [m.name for m in compare_metrics()]
    if metric not in known:
        raise RulesError(f"{where}: unknown metric {metric!r}; known: {', '.join(known)}.")


#: A rules file is a few kilobytes; a bigger one is the wrong path (never more is read).
RULES_MAX_BYTES = 1_000_000


def _read_rules(path: Path) -> dict[str, Any]:
    """The parsed TOML of a rules file, read with the data files' guards: a pipe, a device, a folder or a
    file over :data:`RULES_MAX_BYTES` is refused before it can block or fill the memory."""
    try:
        raw = read_small_file(path, "a rules TOML file (analysis/judge/risk_rules.toml is an example)", RULES_MAX_BYTES)
    except CorpusError as exc:
        raise RulesError(f"Cannot read the rules: {exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RulesError(f"{path}: not UTF-8 text, so not a rules TOML file. Check the path.") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path}: cannot read the rules ({exc}).") from None


def load_rules(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Read and check a rules file (default: the shipped one)."""
    path = Path(path) if path else DEFAULT_RULES
    rules = _read_rules(path).get("rule", [])
    for number, rule in enumerate(rules, start=1):
        missing = _FIELDS - set(rule)
        where = f"{path}, rule {number} ({rule.get('name', '?')})"
        if missing:
            raise RulesError(f"{where}: missing {', '.join(sorted(missing))}.")
        _check_metric(rule["metric"], where)
        if rule["when"] not in ("below", "above") or rule["severity"] not in ("warning", "alarm"):
            raise RulesError(f"{where}: 'when' must be below/above and 'severity' warning/alarm.")
    return rules


def fill_message(message: str, **numbers: float) -> str:
    """A rule's ``message`` with its numbers filled in. Where ``{value}`` and ``{limit}`` share a fixed-point or
    percent format and would print alike, both get more digits until they differ (at most 4 more; numbers that
    never differ keep their format): a rule fires because the value passed the limit, so the demo's paraphrase
    set reads "moved 0.0863 from real text (limit 0.0855)", not "moved 0.086 (limit 0.086)"."""
    specs = {name: spec for _, name, spec, _ in string.Formatter().parse(message) if name in ("value", "limit")}
    spec = specs.get("value")
    match = re.fullmatch(r"(.*\.)(\d+)([f%])", spec or "")
    if match and specs.get("limit") == spec and "value" in numbers and "limit" in numbers:
        value, limit = numbers["value"], numbers["limit"]
        for extra in range(5):
            wider = f"{match[1]}{int(match[2]) + extra}{match[3]}"
            if format(value, wider) != format(limit, wider):
                message = message.replace(f"{{value:{spec}}}", f"{{value:{wider}}}")
                message = message.replace(f"{{limit:{spec}}}", f"{{limit:{wider}}}")
                break
    return message.format(**numbers)


def risks(table: pd.DataFrame, rules: str | Path | list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """Which rules fire for which set of a :func:`analysis.judge.compare.compare` table, and why.

    Returns one row per firing: ``set, risk, rule, severity, metric, value, limit, baseline,
    message``. The baseline row itself is never judged.
    """
    from analysis.judge.compare import BASELINE  # here, not above: reading a rules file needs none of compare's imports

    rules = rules if isinstance(rules, list) else load_rules(rules)
    values = values_by_set(table)
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
                fired.append(
                    {
                        "set": set_name,
                        "risk": rule["risk"],
                        "rule": rule["name"],
                        "severity": rule["severity"],
                        "metric": rule["metric"],
                        "value": value,
                        "limit": limit,
                        "baseline": reference,
                        "message": fill_message(rule["message"], value=value, limit=limit, baseline=reference),
                    }
                )
    return pd.DataFrame(
        fired, columns=["set", "risk", "rule", "severity", "metric", "value", "limit", "baseline", "message"]
    )


#: trend kind -> the fields it needs beyond the common ones
TREND_KINDS: dict[str, set[str]] = {
    "drop": {"reference", "threshold"},
    "rise": {"reference", "threshold"},
    "spike": {"window", "threshold"},
    "plateau": {"window", "threshold", "above_baseline"},
    "above": {"threshold", "relative"},
    "below": {"threshold", "relative"},
}
_TREND_FIELDS = {"name", "risk", "metric", "kind", "severity", "message"}


def load_trend_rules(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Read and check the ``[[trend]]`` rules of a rules file (default: the shipped one).

    Parameters
    ----------
    path
        A TOML rules file; default :data:`DEFAULT_RULES`. A file without ``[[trend]]`` tables has
        no trend rules (an empty list), so a file given on purpose is the whole rule set.

    Returns
    -------
    list of dict
        One dict per rule, as written, with the defaults filled in (``direction = "up"``,
        ``min_spread = 0.02``, ``window = 1`` for a ``drop``/``rise`` from the window).

    Raises
    ------
    RulesError
        The file cannot be read, or a rule misses a field, names an unknown metric or kind, or
        has a window shorter than its kind needs. The message says which rule and what to fix.
    """
    path = Path(path) if path else DEFAULT_RULES
    rules = _read_rules(path).get("trend", [])
    checked = []
    for number, rule in enumerate(rules, start=1):
        where = f"{path}, trend rule {number} ({rule.get('name', '?')})"
        missing = _TREND_FIELDS - set(rule)
        if missing:
            raise RulesError(f"{where}: missing {', '.join(sorted(missing))}.")
        if rule["kind"] not in TREND_KINDS:
            raise RulesError(f"{where}: unknown kind {rule['kind']!r}; known: {', '.join(TREND_KINDS)}.")
        missing = TREND_KINDS[rule["kind"]] - set(rule)
        if missing:
            raise RulesError(f"{where}: a {rule['kind']!r} rule needs {', '.join(sorted(missing))}.")
        _check_metric(rule["metric"], where)
        if rule["severity"] not in ("warning", "alarm"):
            raise RulesError(f"{where}: 'severity' must be warning or alarm.")
        rule = {"direction": "up", "min_spread": 0.02, **rule}
        if rule["kind"] in ("drop", "rise"):
            if rule["reference"] not in ("first", "window"):
                raise RulesError(f"{where}: 'reference' must be first or window.")
            rule.setdefault("window", 1)
        if rule["direction"] not in ("up", "down", "both"):
            raise RulesError(f"{where}: 'direction' must be up, down or both.")
        least = {"spike": 2, "plateau": 2}.get(rule["kind"], 1)
        if "window" in rule and (not isinstance(rule["window"], int) or rule["window"] < least):
            raise RulesError(f"{where}: 'window' must be a whole number of snapshots, at least {least}.")
        checked.append(rule)
    return checked
