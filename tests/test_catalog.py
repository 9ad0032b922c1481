"""The metric catalogue is the one home of every metric: a record added there reaches compare, the A/B test and
the report; every name the rules, the engine and the pages use is in it; every kind has one computation, and
compare and the A/B test, which both call it, give the same number for the same set."""

import tomllib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from analysis.ab import ab_test
from analysis.judge.compare import compare
from analysis.judge.risks import DEFAULT_RULES
from analysis.metrics import catalog, diversity
from analysis.metrics.catalog import CATALOG, Metric
from analysis.metrics.formulas import COMPUTATIONS
from analysis.mixture.measure import ENGINE_KINDS
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


def test_every_kind_has_one_computation_and_the_engine_computes_the_incremental_ones():
    for metric in CATALOG.values():
        assert metric.kind in COMPUTATIONS, metric.name
        # the A/B test's plain bootstrap resamples the per-sample values of the "sample" metrics
        assert metric.resampling != "sample" or COMPUTATIONS[metric.kind].units is not None, metric.name
        assert not metric.incremental or metric.kind in ENGINE_KINDS, metric.name
    assert set(COMPUTATIONS) == {metric.kind for metric in CATALOG.values()}  # no computation without a metric
    assert catalog.frontier_metrics() and set(catalog.frontier_metrics()) <= set(CATALOG)
    assert set(catalog.tile_metrics()) <= {m.name for m in catalog.incremental_metrics()}


@pytest.mark.slow  # compare and an A/B test on a tiny table, with the fitted metrics: tens of seconds on 2 cores
def test_compare_and_the_ab_test_give_the_same_number_for_the_same_set(tiny):
    """Both call the catalogue's one computation: on the same rows against the same reference, every metric of
    compare equals the A/B test's value (B = the whole synthetic set, which compare keeps at equal size)."""
    samples, vectors = tiny
    table = compare(samples, embeddings=vectors, with_mauve=False)
    compared = table[table["set"] == "llm"].set_index("metric")["value"]
    llm = np.flatnonzero(samples["method"] == "llm")
    assert len(compared) == len(catalog.compare_metrics()) - 1  # all but MAUVE
    train = np.flatnonzero(samples["split"] == "train")[: len(llm)]
    tested = ab_test(
        samples, train, llm, embeddings=vectors, metrics=list(compared.index), rounds=3, permutations=3, slow_rounds=2
    ).table.set_index("metric")["b"]
    for metric, value in compared.items():
        assert tested[metric] == pytest.approx(value, rel=1e-10, abs=1e-12, nan_ok=True), metric


def test_a_sample_metric_is_the_mean_of_its_units_in_the_ab_test(tiny):
    """The A/B test resamples a "sample" metric's units (per pool row): their mean over a side is its value."""
    from analysis.ab.context import ABContext
    from analysis.ab.values import per_sample, value

    samples, vectors = tiny
    reference = np.flatnonzero(samples["split"] == "holdout")
    train = np.flatnonzero((samples["source"] == "real") & (samples["split"] == "train"))
    llm = np.flatnonzero(samples["method"] == "llm")
    ctx = ABContext(samples, vectors, train[:50], llm, reference, train, k=5, bins=10, seed=0)
    for metric in CATALOG.values():
        if metric.resampling == "sample":
            for side, rows in enumerate(ctx.sides):
                expected = value(ctx, metric, side, rows, np.arange(len(reference)))
                assert per_sample(ctx, metric)[rows].mean() == pytest.approx(expected, rel=1e-12), metric.name


def test_a_record_with_an_unknown_family_or_direction_is_refused():
    with pytest.raises(ValueError, match="family 'style'"):
        Metric("x", "style", "higher", "", "", "", frozenset(), "set")
    with pytest.raises(ValueError, match="direction 'up'"):
        Metric("x", "diversity", "up", "", "", "", frozenset(), "set", kind="distinct")
    with pytest.raises(ValueError, match="kind 'distinct-ish'"):
        Metric("x", "diversity", "higher", "", "", "", frozenset(), "set", kind="distinct-ish")
    with pytest.raises(KeyError, match="known: distinct-1"):
        catalog.get("no such metric")
