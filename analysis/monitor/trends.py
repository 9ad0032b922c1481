"""Early-warning trend rules over a monitor history: which rule fires at which snapshot, and each rule's limit.

:func:`warnings` applies the ``[[trend]]`` rules of the risk-rules TOML
(:func:`analysis.judge.risks.load_trend_rules`) to a history; :func:`thresholds` gives each rule's
limit at each snapshot (the line to draw on a trend chart). Rule kinds: ``drop``/``rise`` (from
the first or an earlier snapshot), ``spike`` (standard deviations from a window), ``plateau`` (a
flat stretch above the baseline), ``above``/``below`` (a level, absolute or a multiple of the
real-train baseline). :func:`ledger_warnings` gives the same rows for a ledger of loss across
generations (:func:`analysis.maps.ledger.loss_ledger`): "region 'x' lost half its share between g1 and g2".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.judge.risks import fill_message, load_trend_rules

__all__ = ["WARNING_COLUMNS", "THRESHOLD_COLUMNS", "warnings", "thresholds", "ledger_warnings"]

#: Columns of :func:`warnings`: one row per rule firing at a snapshot.
WARNING_COLUMNS = [
    "series",
    "snapshot",
    "order",
    "generation",
    "timestamp",
    "metric",
    "rule",
    "kind",
    "risk",
    "severity",
    "value",
    "reference",
    "change",
    "limit",
    "threshold",
    "baseline",
    "message",
]
#: Columns of :func:`thresholds`: each rule's limit at each snapshot.
THRESHOLD_COLUMNS = ["series", "snapshot", "order", "metric", "rule", "kind", "severity", "limit"]


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
        return {
            "reference": reference,
            "change": change,
            "limit": reference + sign * threshold * abs(reference),
            "fires": change > threshold,
        }
    if kind == "spike":
        previous = values[max(0, i - int(rule["window"])) : i]
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
        recent = values[i - window + 1 : i + 1] if i + 1 >= window else np.array([])
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
    return {
        "reference": baseline,
        "change": change,
        "limit": limit,
        "fires": value > limit if kind == "above" else value < limit,
    }


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


def _judged(
    history: pd.DataFrame, rules
) -> Iterator[tuple[str, str, pd.DataFrame, dict[str, Any], int, dict[str, Any]]]:
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
        A rules file, a list of rules from :func:`analysis.judge.risks.load_trend_rules`, or ``None``
        for the shipped ``[[trend]]`` rules of ``analysis/judge/risk_rules.toml``.

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
        numbers = {
            "value": float(rows["value"].iat[i]),
            "reference": outcome["reference"],
            "change": outcome["change"],
            "limit": outcome["limit"],
            "baseline": float(rows["baseline"].iat[i]),
        }
        fired.append(
            {
                "series": series,
                "snapshot": rows["snapshot"].iat[i],
                "order": int(rows["order"].iat[i]),
                "generation": rows["generation"].iat[i],
                "timestamp": rows["timestamp"].iat[i],
                "metric": metric,
                "rule": rule["name"],
                "kind": rule["kind"],
                "risk": rule["risk"],
                "severity": rule["severity"],
                **{k: float(v) for k, v in numbers.items()},
                "threshold": float(rule["threshold"]),
                "message": fill_message(rule["message"], **numbers),
            }
        )
    table = pd.DataFrame(fired, columns=WARNING_COLUMNS)
    return (
        table.sort_values(["series", "order", "severity"], kind="stable").reset_index(drop=True)
        if len(table)
        else table
    )


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
        {
            "series": series,
            "snapshot": rows["snapshot"].iat[i],
            "order": int(rows["order"].iat[i]),
            "metric": metric,
            "rule": rule["name"],
            "kind": rule["kind"],
            "severity": rule["severity"],
            "limit": float(outcome["limit"]),
        }
        for series, metric, rows, rule, i, outcome in _judged(history, rules)
        if math.isfinite(outcome["limit"])
    ]
    return pd.DataFrame(rows_out, columns=THRESHOLD_COLUMNS)


def ledger_warnings(ledger: Any) -> pd.DataFrame:
    """A ledger of loss (:class:`analysis.maps.ledger.LossLedger`) as trend warnings, in :data:`WARNING_COLUMNS`.

    One ``warning`` per region that lost half its share between two generations (rule ``region lost half
    its share``, kind ``drop``: ``value`` the later share, ``reference`` the earlier, ``limit`` half of it,
    ``baseline`` the real share) and one ``alarm`` per region at the generation it first fell under the gap
    rule (rule ``region under the gap rule``: ``limit`` half the real share, the rule's ratio). ``series``
    is the method, ``snapshot`` the generation's set name, ``message`` the ledger's own line
    (:meth:`~analysis.maps.ledger.LossLedger.in_words`).
    """
    lines = ledger.in_words()
    rows = []
    for row in ledger.halved.itertuples(index=False):
        prefix = f"region '{row.name}' lost half its share between g{row.from_generation} and g{row.to_generation}"
        rows.append(
            {
                "snapshot": row.set,
                "order": int(row.to_generation),
                "generation": int(row.to_generation),
                "metric": f"region share: {row.name}",
                "rule": "region lost half its share",
                "kind": "drop",
                "severity": "warning",
                "value": float(row.share_after),
                "reference": float(row.share_before),
                "change": (float(row.share_before) - float(row.share_after)) / float(row.share_before),
                "limit": 0.5 * float(row.share_before),
                "threshold": 0.5,
                "baseline": float(row.real_share),
                "message": next((line for line in lines if line.startswith(prefix)), prefix),
            }
        )
    for row in ledger.lost_regions.itertuples(index=False):
        prefix = f"region '{row.name}' fell under the gap rule in g{row.lost_in}"
        reference = float(row.share_before)
        rows.append(
            {
                "snapshot": row.set,
                "order": int(row.lost_in),
                "generation": int(row.lost_in),
                "metric": f"region share: {row.name}",
                "rule": "region under the gap rule",
                "kind": "below",
                "severity": "alarm",
                "value": float(row.share_at_loss),
                "reference": reference,
                "change": (reference - float(row.share_at_loss)) / reference if reference else math.nan,
                "limit": 0.5 * float(row.real_share),
                "threshold": 0.5,
                "baseline": float(row.real_share),
                "message": next((line for line in lines if line.startswith(prefix)), prefix),
            }
        )
    table = pd.DataFrame(
        [{"series": ledger.method, "timestamp": None, "risk": "tail loss", **row} for row in rows],
        columns=WARNING_COLUMNS,
    )
    return table.sort_values(["order", "severity"], kind="stable").reset_index(drop=True) if len(table) else table
