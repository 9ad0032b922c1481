"""The caps that bound compare, Tail coverage, the mixture engine and the A/B test at scale (issue 18).

Each cap bites only above its size: the tests shrink the constants (monkeypatch) on a tiny random
table, check that the capped numbers are of a seeded, reported subsample, and that below the caps
nothing changes. No model, no demo: random vectors and texts.
"""

import numpy as np
import pandas as pd
import pytest

from analysis.ab import ab_sets
from analysis.ab import context as ab_context
from analysis.judge import compare as compare_module
from analysis.judge import reference as reference_module
from analysis.judge.compare import compare, coverage_reference, equal_size, sets_of
from analysis.judge.coverage import tail_report
from analysis.mixture import MixtureEngine, MixtureSpec, metrics_from_scratch
from analysis.mixture import engine as engine_module
from analysis.mixture.engine import pool_caps

WORDS = ["river", "stone", "cloud", "lamp", "music", "paper", "garden", "window", "silver", "orange"]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    parts = [("real", "real", "holdout", 400), ("real", "real", "train", 250), ("synthetic", "a", "train", 120)]
    parts.append(("synthetic", "b", "train", 150))
    rows = []
    for source, method, split, count in parts:
        for i in range(count):
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 9))))
            rows.append((f"{method}-{split}-{i}", text, source, method, int(source != "real"), f"t{i % 3}", split))
    samples = pd.DataFrame(rows, columns=["id", "text", "source", "method", "generation", "label", "split"])
    centres = rng.normal(size=(3, 16))
    vectors = centres[np.arange(len(samples)) % 3] + rng.normal(size=(len(samples), 16))
    return samples, (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def small_caps(monkeypatch):
    """Caps far below the fixture's sizes: reference 200 of 400, sets 60, 20 nearest-real queries a set."""
    monkeypatch.setattr(reference_module, "REFERENCE_LIMIT", 200)
    monkeypatch.setattr(compare_module, "SIZE_LIMIT", 60)
    monkeypatch.setattr(compare_module, "NEAREST_QUERY_FLOOR", 5)
    monkeypatch.setattr(compare_module, "NEAREST_PAIR_LIMIT", 20 * 650)  # 650 real rows: 20 queries a set


def test_the_reference_is_a_seeded_subsample_above_the_cap_only(table, small_caps, monkeypatch):
    samples, vectors = table
    holdout = np.flatnonzero((samples["split"] == "holdout").to_numpy())
    balls = coverage_reference(samples, vectors)
    assert balls.size == 200 and balls.total == 400 and balls.capped
    assert np.isin(balls.rows, holdout).all() and (np.diff(balls.rows) > 0).all()
    assert np.array_equal(balls.rows, coverage_reference(samples, vectors).rows)  # seeded: the same rows again
    assert "seeded subsample of 200 of the 400 real holdout samples" in balls.describe()
    # the Tail coverage page judges by the same balls, and says so
    report = tail_report(samples, vectors, coverage="holdout")
    assert report.reference == balls.describe() and report.size == 60

    monkeypatch.setattr(reference_module, "REFERENCE_LIMIT", 400)  # at the split's size: no cap
    whole = coverage_reference(samples, vectors)
    assert np.array_equal(whole.rows, holdout) and not whole.capped
    assert whole.describe() == "5-NN balls of the real holdout (400 samples)"


def test_the_default_equal_size_is_capped(table, small_caps, monkeypatch):
    samples, _ = table
    groups = sets_of(samples)
    assert {len(rows) for rows in equal_size(groups).values()} == {60}
    assert {len(rows) for rows in equal_size(groups, 100).values()} == {100}  # an explicit size is kept
    monkeypatch.setattr(compare_module, "SIZE_LIMIT", 1000)
    assert {len(rows) for rows in equal_size(groups).values()} == {120}  # the smallest set


def test_compare_says_where_a_cap_bites_and_is_deterministic(table, small_caps):
    samples, vectors = table
    first = compare(samples, embeddings=vectors, with_mauve=False, with_utility=False, coverage="holdout")
    again = compare(samples, embeddings=vectors, with_mauve=False, with_utility=False, coverage="holdout")
    pd.testing.assert_frame_equal(first, again)
    rows = first.set_index(["set", "metric"])
    assert rows.loc[("a", "coverage"), "n"] == 60
    assert "seeded subsample of 200 of the 400 real holdout samples" in rows.loc[("a", "coverage"), "reference"]
    assert "seeded subsample of 200 of the 400" in rows.loc[("a", "frechet distance"), "reference"]
    nearest = rows.loc[("a", "nearest-real similarity")]
    assert nearest["n"] == 20 and "seeded subsample of 20 of the 60 samples of the set" in nearest["reference"]
    assert rows.loc[("a", "near copy rate"), "n"] == 20
    assert "subsample" not in rows.loc[("a", "distinct-2"), "reference"]


def test_compare_below_the_caps_reports_no_subsample(table):
    samples, vectors = table
    result = compare(samples, embeddings=vectors, with_mauve=False, with_utility=False, coverage="holdout")
    assert (result["n"] == 120).all()
    assert not result["reference"].str.contains("subsample").any()


def test_pool_caps_share_the_limit():
    assert pool_caps(np.array([5, 100, 50]), 60).tolist() == [5, 27, 27]
    assert pool_caps(np.array([5, 10]), 60).tolist() == [5, 10]  # they fit: every row


def test_the_mixture_engine_mixes_a_seeded_pool_and_stays_exact_for_it(table, small_caps, monkeypatch):
    samples, vectors = table
    monkeypatch.setattr(engine_module, "POOL_LIMIT", 300)
    engine = MixtureEngine(samples, vectors, coverage="holdout")
    assert engine.group_sizes.tolist() == [100, 100, 100] and engine.set_totals.tolist() == [250, 120, 150]
    assert np.array_equal(engine.holdout_rows, coverage_reference(samples, vectors).rows)  # one reference
    assert np.array_equal(MixtureEngine(samples, vectors, coverage="holdout").pool_rows, engine.pool_rows)  # seeded
    assert engine.capped and "seeded subsample of 300 of the 520 candidate rows" in engine.describe()
    assert "seeded subsample of 200 of the 400 real holdout samples" in engine.describe()
    spec = MixtureSpec(size=150, real_share=0.5, seed=1)
    rows = engine.rows(spec)
    assert np.isin(rows, engine.pool_rows).all()
    expected = metrics_from_scratch(samples, vectors, engine.holdout_rows, rows)
    for name, value in engine.metrics(spec).items():
        assert value == pytest.approx(expected[name], abs=1e-9, nan_ok=True), name
    for strategy in ("dedup", "tail-aware"):  # orders built on the capped pool's neighbourhoods (train rows first)
        spec = MixtureSpec(size=150, real_share=0.5, strategy=strategy, seed=2)
        rows = engine.rows(spec)
        expected = metrics_from_scratch(samples, vectors, engine.holdout_rows, rows)
        for name, value in engine.metrics(spec).items():
            assert value == pytest.approx(expected[name], abs=1e-9, nan_ok=True), (strategy, name)
    assert len(engine._train_bins) == 100 and np.isin(engine._train_bins, range(10)).all()
    with pytest.raises(compare_module.CompareError, match="seeded subsample of the real train split holds 100"):
        engine.counts(MixtureSpec(size=250, real_share=0.8))


def test_the_mixture_engine_below_the_caps_mixes_every_row(table):
    samples, vectors = table
    engine = MixtureEngine(samples, vectors, coverage="holdout")
    assert not engine.capped and engine.group_sizes.tolist() == [250, 120, 150]
    assert (
        engine.describe()
        == "Mixtures are drawn from all 520 candidate rows and measured against the 400 real holdout samples."
    )


AB_METRICS = ["coverage", "recall", "precision", "density", "nearest-real similarity", "near copy rate"]


def test_the_ab_test_is_judged_by_the_capped_reference_and_says_so(table, small_caps):
    samples, vectors = table
    options = dict(
        embeddings=vectors, metrics=AB_METRICS, rounds=19, permutations=19, slow_rounds=3, coverage="holdout"
    )
    result = ab_sets(samples, "a", "b", **options)
    again = ab_sets(samples, "a", "b", **options)
    pd.testing.assert_frame_equal(result.table, again.table)
    assert result.settings["reference_n"] == 200 and result.settings["reference_total"] == 400
    rows = result.table.set_index("metric")
    assert rows.loc["coverage", "n"] == 60
    assert "seeded subsample of 200 of the 400 real holdout samples" in rows.loc["coverage", "reference"]
    assert rows.loc["nearest-real similarity", "n"] == 20 and rows.loc["near copy rate", "n"] == 20
    assert "subsample of 20 of the 60" in rows.loc["nearest-real similarity", "reference"]
    assert np.isfinite(rows.loc["nearest-real similarity", ["a", "b", "ci_low", "ci_high", "p_value"]]).all()


def test_the_ab_test_computes_blockwise_what_it_computes_at_once(table, monkeypatch):
    samples, vectors = table
    options = dict(
        embeddings=vectors, metrics=AB_METRICS, rounds=19, permutations=19, slow_rounds=3, coverage="holdout"
    )
    whole = ab_sets(samples, "a", "b", **options).table
    monkeypatch.setattr(ab_context, "DENSE_LIMIT", 1)  # one block of reference rows at a time
    blocks = ab_sets(samples, "a", "b", **options).table
    pd.testing.assert_frame_equal(whole, blocks)
    assert not whole["reference"].str.contains("subsample").any()


def test_large_sets_take_the_vectorised_language_model_with_the_same_numbers(table, monkeypatch):
    from analysis.metrics import lm

    samples, vectors = table
    train, test = samples["text"].iloc[:300].tolist(), samples["text"].iloc[300:420].tolist()
    dictionary = lm.perplexity(train, test)
    options = dict(embeddings=vectors, metrics=["perplexity on real"], rounds=19, permutations=19, slow_rounds=3)
    expected = ab_sets(samples, "a", "b", **options).table
    monkeypatch.setattr(lm, "ARRAY_FROM", 1)  # every set large: ArrayKneserNey (lm, compare and the A/B test)
    assert lm.perplexity(train, test) == pytest.approx(dictionary, rel=1e-9)
    result = ab_sets(samples, "a", "b", **options).table
    for column in ("a", "b", "difference", "ci_low", "ci_high"):
        assert result[column].iloc[0] == pytest.approx(expected[column].iloc[0], rel=1e-9), column


def test_the_nearest_real_search_in_tiles_finds_the_same_rows(monkeypatch):
    from analysis.metrics import fidelity

    rng = np.random.default_rng(3)
    queries, pool = rng.normal(size=(300, 16)), rng.normal(size=(5000, 16))
    pool[4000] = pool[1000] = queries[7]  # a tie: the earlier row wins, as one argmax gives it
    whole, at = fidelity.nearest_similarity(queries, pool)
    monkeypatch.setattr(fidelity, "BLOCK_BYTES", 5000 * 4 * 10)  # 10 rows a block: tiles of 1,024 × 48 columns
    calls = []
    tiles = fidelity._nearest_tiled
    monkeypatch.setattr(fidelity, "_nearest_tiled", lambda q, p: calls.append(len(q)) or tiles(q, p))
    tiled, tiled_at = fidelity.nearest_similarity(queries, pool)
    assert calls == [300]  # the pool is read in tiles, not 30 times in blocks of 10 queries
    assert np.array_equal(tiled_at, at) and tiled_at[7] == 1000
    assert np.allclose(tiled, whole, atol=1e-6)


def test_a_large_reference_gives_the_same_centroid_shift_without_copies(table, monkeypatch):
    from analysis.ab import values

    samples, vectors = table
    options = dict(embeddings=vectors, metrics=["centroid shift"], rounds=19, permutations=19, slow_rounds=3)
    expected = ab_sets(samples, "a", "b", **options).table
    monkeypatch.setattr(values, "MEAN_BY_COUNTS_FROM", 1)
    result = ab_sets(samples, "a", "b", **options).table
    for column in ("a", "b", "difference", "ci_low", "ci_high"):
        assert result[column].iloc[0] == pytest.approx(expected[column].iloc[0], rel=1e-9, abs=1e-12), column
