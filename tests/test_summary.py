"""The Data page's tables, checked against hand-computed values."""

import pandas as pd

from analysis import summary
from analysis.corpus import combine_samples, samples_from_frame


def table():
    real = samples_from_frame(pd.DataFrame({"text": ["a b c", "d e", "f"], "label": ["x", "x", "y"]}))[0]
    llm = samples_from_frame(pd.DataFrame({"text": ["a b c", "g h i j"]}), method="llm")[0]
    gen2 = samples_from_frame(pd.DataFrame({"text": ["a b c"]}), method="llm", generation=2)[0]
    return combine_samples(real, llm, gen2)[0]


def test_overview():
    samples = table()
    numbers = summary.overview(samples)
    assert numbers["holdout"] == int((samples["split"] == "holdout").sum())
    assert {k: v for k, v in numbers.items() if k != "holdout"} == {
        "samples": 6,
        "real": 3,
        "synthetic": 3,
        "methods": 1,
        "labels": 2,
    }


def test_counts_with_missing_labels():
    counts = summary.counts(table(), "label").set_index("label")["samples"].to_dict()
    assert counts == {"(none)": 3, "x": 2, "y": 1}
    assert summary.counts(table(), "method")["share"].sum() == 1.0


def test_length_stats_by_hand():
    stats = summary.length_stats(table(), by="method").set_index("method")
    assert stats.loc["real", "samples"] == 3
    assert stats.loc["real", "mean words"] == 2.0  # (3 + 2 + 1) / 3
    assert stats.loc["real", "median characters"] == 3.0  # lengths 5, 3, 1
    assert stats.loc["llm", "max characters"] == 7


def test_duplicate_stats_counts_copies_of_real():
    dup = summary.duplicate_stats(table()).set_index(["method", "generation"])
    assert dup.loc[("llm", 1), "exact copies of real"] == 1
    assert dup.loc[("llm", 2), "exact copies of real"] == 1
    assert dup.loc[("real", 0), "exact copies of real"] == 0


def test_dropped_table_from_reports():
    parts = [{"name": "f.csv", "report": {"dropped": {"empty text": 2}, "ids_made_unique": 1}}]
    assert summary.dropped_table(parts).to_dict("records") == [
        {"part": "f.csv", "what": "dropped: empty text", "rows": 2},
        {"part": "f.csv", "what": "duplicate id made unique", "rows": 1},
    ]
    assert summary.dropped_table([]).empty
