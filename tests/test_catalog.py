"""The metric catalogue is the one home of every metric: a record added there reaches compare, the A/B test and
the report; every name the rules, the engine and the pages use is in it; every kind has its computation."""

import tomllib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analysis.ab import ab_test
from analysis.ab.values import PER_SAMPLE, VALUES
from analysis.judge.compare import COMPUTE, compare
from analysis.judge.risks import DEFAULT_RULES
from analysis.metrics import catalog, diversity
from analysis.metrics.catalog import CATALOG, Metric
from analysis.mixture.engine import ENGINE_KINDS
from analysis.views.report import definitions_table

WORDS = [f"w{i}" for i in range(60)]


@pytest.fixture(scope="module")
def tiny():
    """A real train split, a holdout above the coverage floor (k = 5) and one synthetic set; random unit vectors."""
    rng = np.random.default_rng(0)
    rows = []
    for source, split, method, count in (
        ("real", "train", "", 60),
        ("real", "holdout", "", 210),
        ("synthetic", "train", "llm", 50),
    ):
        for i in range(count):
            text = " ".join(rng.choice(WORDS, size=rng.integers(6, 12)))
            rows.append((f"{source}-{split}-{i}", text, source, method, 1, f"t{i % 3}", split))
    samples = pd.DataFrame(rows, columns=["id", "text", "source", "method", "generation", "label", "split"])
    vectors = rng.normal(size=(len(samples), 16))
    return samples, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def distinct_5(monkeypatch):
    """A new metric, added as one catalogue record of an existing kind."""
    record = replace(CATALOG["distinct-4"], name="distinct-5", parameter=5, definition="Unique 5-grams over all.")
    monkeypatch.setitem(CATALOG, "distinct-5", record)
    return record


@pytest.mark.slow  # no model, but tens of seconds of CPU on 2 cores
def test_a_metric_added_to_the_catalogue_reaches_compare_the_ab_test_and_the_report(tiny, distinct_5):
    samples, vectors = tiny
    table = compare(samples, embeddings=vectors, with_mauve=False, with_utility=False)
    row = table[(table["metric"] == "distinct-5") & (table["set"] == "llm")]
    assert len(row) == 1 and row["family"].item() == "diversity" and row["direction"].item() == "higher"
    chosen = samples.index[samples["method"] == "llm"].to_numpy()
    assert row["value"].item() == pytest.approx(diversity.distinct_n(samples["text"].to_numpy()[chosen], 5), abs=1e-12)

    a, b = np.flatnonzero(samples["split"] == "train")[:50], chosen
    result = ab_test(samples, a, b, embeddings=vectors, metrics=["distinct-5"], rounds=5, permutations=5)
    tested = result.table.set_index("metric").loc["distinct-5"]
    assert tested["definition"] == "Unique 5-grams over all." and tested["b"] == pytest.approx(row["value"].item())

    definitions = definitions_table().set_index("metric")
    assert definitions.loc["distinct-5", "definition"] == "Unique 5-grams over all."


def test_every_metric_the_rules_name_is_in_the_catalogue():
    rules = tomllib.loads(DEFAULT_RULES.read_text(encoding="utf-8"))
    named = {rule["metric"] for part in ("rule", "trend") for rule in rules.get(part, [])}
    assert named and named <= set(CATALOG), named - set(CATALOG)
    assert named <= {m.name for m in catalog.compare_metrics()}  # rules judge compare tables


def test_every_kind_has_its_computation_in_compare_the_ab_test_and_the_engine():
    for metric in CATALOG.values():
        assert metric.kind in VALUES, metric.name
        assert not metric.in_compare or metric.kind in COMPUTE, metric.name
        assert (metric.resampling == "sample") == (metric.kind in PER_SAMPLE), metric.name
        assert not metric.incremental or metric.kind in ENGINE_KINDS, metric.name
    assert catalog.frontier_metrics() and set(catalog.frontier_metrics()) <= set(CATALOG)
    assert set(catalog.tile_metrics()) <= {m.name for m in catalog.incremental_metrics()}


def test_a_record_with_an_unknown_family_or_direction_is_refused():
    with pytest.raises(ValueError, match="family 'style'"):
        Metric("x", "style", "higher", "", "", "", frozenset(), "set")
    with pytest.raises(ValueError, match="direction 'up'"):
        Metric("x", "diversity", "up", "", "", "", frozenset(), "set")
    with pytest.raises(KeyError, match="known: distinct-1"):
        catalog.get("no such metric")
