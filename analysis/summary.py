"""Descriptive tables of a sample table: counts, text lengths, duplicates, what was dropped.

These are what the Data page and ``python -m analysis load`` show; each function takes the
sample table (see :mod:`analysis.corpus`) and returns a small DataFrame.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from analysis.corpus import text_codes, word_counts

__all__ = ["overview", "counts", "length_stats", "duplicate_stats", "dropped_table"]


def overview(samples: pd.DataFrame) -> dict[str, int]:
    """Headline numbers: samples, real, synthetic, real holdout, methods, labels."""
    real = samples["source"] == "real"
    return {
        "samples": int(len(samples)),
        "real": int(real.sum()),
        "synthetic": int((~real).sum()),
        "holdout": int((real & (samples["split"] == "holdout")).sum()),
        "methods": int(samples.loc[~real, "method"].nunique()),
        "labels": int(samples["label"].dropna().nunique()),
    }


def counts(samples: pd.DataFrame, by: str) -> pd.DataFrame:
    """Number and share of samples per value of ``by`` (missing values counted as "(none)")."""
    values = samples[by].astype(object).where(samples[by].notna(), "(none)").astype(str)
    table = values.value_counts().rename_axis(by).reset_index(name="samples")
    table["share"] = table["samples"] / max(len(samples), 1)
    return table


def length_stats(samples: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """Text length in characters and words per group: mean, median, 5th and 95th percentile."""
    lengths = pd.DataFrame(
        {
            by: samples[by].astype(str),
            "characters": samples["text"].str.len(),
            "words": word_counts(samples["text"]),  # len(text.split()), counted in C++
        }
    )
    grouped = lengths.groupby(by, sort=True)
    rows = []
    for group, frame in grouped:
        row: dict[str, Any] = {by: group, "samples": len(frame)}
        for unit in ("characters", "words"):
            values = frame[unit]
            row[f"mean {unit}"] = round(float(values.mean()), 1)
            row[f"median {unit}"] = float(values.median())
            row[f"p5 {unit}"] = round(float(values.quantile(0.05)), 1)
            row[f"p95 {unit}"] = round(float(values.quantile(0.95)), 1)
        row["min characters"] = int(frame["characters"].min())
        row["max characters"] = int(frame["characters"].max())
        rows.append(row)
    return pd.DataFrame(rows)


def duplicate_stats(samples: pd.DataFrame) -> pd.DataFrame:
    """Per set (method and generation): texts repeated inside the set, and exact copies of real text.

    Loading keeps exact repeats in synthetic files by default (they are the symptom of collapse) and
    drops them in real files (see ``analysis.corpus`` ``duplicates=``); this table shows the repeats
    in what was loaded, per set, and how many synthetic samples copy a real sample word for word.
    """
    codes = text_codes(samples["text"])  # equal exactly where the texts are equal: integers, not a set of texts
    real_codes = codes[(samples["source"] == "real").to_numpy()]
    rows = []
    groups = samples.groupby(["method", "generation"], sort=True).indices
    for method, generation in sorted(groups):
        synthetic = method != "real"
        own = codes[groups[(method, generation)]]
        rows.append(
            {
                "method": method,
                "generation": int(generation),
                "samples": len(own),
                "repeated inside the set": int(pd.Series(own).duplicated().sum()),
                "exact copies of real": int(np.isin(own, real_codes).sum()) if synthetic else 0,
            }
        )
    return pd.DataFrame(rows)


def dropped_table(parts: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """What loading dropped or changed, per loaded part, from the parts' load reports."""
    rows = []
    for part in parts:
        report = part.get("report", {})
        for reason, count in report.get("dropped", {}).items():
            rows.append({"part": part.get("name", "?"), "what": f"dropped: {reason}", "rows": count})
        if report.get("ids_made_unique"):
            rows.append(
                {"part": part.get("name", "?"), "what": "duplicate id made unique", "rows": report["ids_made_unique"]}
            )
    return pd.DataFrame(rows, columns=["part", "what", "rows"])
