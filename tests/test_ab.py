"""A/B tests: intervals, permutation tests, Holm correction and verdicts.

On demo rows with the demo vectors built at install.
"""

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from analysis.ab import COLUMNS, ABError, ab_sets, ab_test, holm
from analysis.cli.ab import command_ab, format_table
from analysis.judge.compare import compare


@pytest.fixture(scope="module")
def small(demo_embedded):
    """300 real samples (25 per label, ~30 in the holdout) and 60 llm and 60 paraphrase samples."""
    samples, vectors = demo_embedded
    real = samples[samples["source"] == "real"].groupby("label").head(25)
    llm = samples[(samples["method"] == "llm") & (samples["generation"] == 1)].head(60)
    paraphrase = samples[samples["method"] == "paraphrase"].head(60)
    index = pd.concat([real, llm, paraphrase]).index
    return samples.loc[index].reset_index(drop=True), vectors[index]


def test_holm_matches_the_closed_form():
    # m = 3 finite p-values: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; max(0.06, 0.04 * 1) = 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, np.nan]), [0.03, 0.06, 0.06, np.nan])
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]


def test_point_estimates_equal_compare_on_the_same_rows(small):
    samples, vectors = small
    table = compare(samples, embeddings=vectors, size=60, seed=0, with_mauve=False)
    expected = table.set_index(["set", "metric"])["value"]
    result = ab_sets(samples, "llm", "paraphrase", embeddings=vectors, rounds=19, permutations=19, slow_rounds=3)
    assert list(result.table.columns) == COLUMNS
    assert "tested metrics differ" in format_table(result) and "paraphrase" in format_table(result)
    for row in result.table.itertuples():
        if row.metric == "TSTR accuracy":
            continue  # not a compare metric
        for name, value in (("llm", row.a), ("paraphrase", row.b)):
            # cosine similarities are float32 GEMMs: their means agree to float32 precision across BLAS thread counts
            rel = 1e-6 if row.metric == "nearest-real similarity" else 1e-9
            assert value == pytest.approx(expected[(name, row.metric)], rel=rel, abs=1e-12, nan_ok=True), (
                name,
                row.metric,
            )


def test_the_bootstrap_interval_covers_a_known_difference():
    # A copies real train text with probability 0.2, B with 0.5: the difference of exact copy rates is 0.3.
    real = pd.DataFrame(
        {
            "text": [f"real sample number {i}" for i in range(200)],
            "source": "real",
            "method": "real",
            "generation": 0,
            "split": ["holdout" if i % 5 == 0 else "train" for i in range(200)],
        }
    )
    train_texts = real.loc[real["split"] == "train", "text"].tolist()
    covered = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        sides = []
        for method, share in (("a", 0.2), ("b", 0.5)):
            copy = rng.random(150) < share
            texts = [
                train_texts[rng.integers(len(train_texts))] if c else f"new {method} text {seed} {i}"
                for i, c in enumerate(copy)
            ]
            sides.append(
                pd.DataFrame(
                    {"text": texts, "source": "synthetic", "method": method, "generation": 1, "split": "train"}
                )
            )
        samples = pd.concat([real, *sides], ignore_index=True)
        samples["label"], samples["id"] = None, samples.index.astype(str)
        vectors = np.random.default_rng(seed).normal(size=(len(samples), 8))
        result = ab_sets(
            samples, "a", "b", embeddings=vectors, metrics=["exact copy rate"], rounds=999, permutations=199, seed=seed
        )
        row = result.table.iloc[0]
        covered += row["ci_low"] <= 0.3 <= row["ci_high"]
        assert row["ci_low"] > 0 and row["significant"]  # 0.3 apart at n = 150 is never missed
    # nominal 95 %: 19 of 20 expected; P(at most 16 of 20 | 0.95) = 0.016
    assert covered >= 17, covered


def test_real_against_real_permutation_tests_reject_at_about_alpha(demo_embedded):
    samples, vectors = demo_embedded
    # 2,000 of the demo's real samples: every coverage ball is drawn again in each of the 100 tests, and the null
    # is the same at any size (at the demo's 10,033 the balls took three quarters of the test's 46 s)
    kept = np.sort(
        np.random.default_rng(0).choice(np.flatnonzero((samples["source"] == "real").to_numpy()), 2000, replace=False)
    )
    samples, vectors = samples.iloc[kept].reset_index(drop=True), vectors[kept]
    train = np.flatnonzero(((samples["source"] == "real") & (samples["split"] == "train")).to_numpy())
    rejected = 0
    repetitions = 100
    for seed in range(repetitions):
        rows = np.random.default_rng(seed).choice(train, 160, replace=False)
        result = ab_test(
            samples,
            rows[:80],
            rows[80:],
            embeddings=vectors,
            metrics=["coverage"],
            rounds=9,
            permutations=199,
            seed=seed,
        )
        rejected += result.table["p_value"].iloc[0] < 0.05
    # Two disjoint real samples: H0 holds, so rejections ~ Binomial(100, 0.05), mean 5;
    # P(X = 0) = 0.006 and P(X >= 12) = 0.004: [1, 11] is a 99 % band.
    assert 1 <= rejected <= 11, rejected


def test_a_clear_difference_gets_a_verdict_in_words(demo_embedded):
    samples, vectors = demo_embedded
    paraphrase = np.flatnonzero((samples["method"] == "paraphrase").to_numpy())
    repeated = np.repeat(paraphrase[:10], 6)  # 10 texts, each 6 times
    result = ab_test(
        samples,
        repeated,
        paraphrase[100:160],
        names=("echo", "varied"),
        embeddings=vectors,
        metrics=["distinct-2", "duplicate rate", "label divergence"],
        permutations=199,
        rounds=199,
    )
    table = result.table.set_index("metric")
    assert table.loc["distinct-2", "significant"] and table.loc["duplicate rate", "significant"]
    assert table.loc["distinct-2", "better"] == "varied" and table.loc["duplicate rate", "difference"] == pytest.approx(
        -50 / 60
    )
    assert table.loc["distinct-2", "verdict"].startswith("varied is more diverse than echo: +")
    assert "95 % CI [" in table.loc["distinct-2", "verdict"] and table.loc["distinct-2", "test"] == "permutation"
    assert table.loc["duplicate rate", "verdict"].startswith("varied copies less than echo")
    assert (table["p_holm"] >= table["p_value"]).all()


def test_bad_requests_say_what_to_change(demo_embedded):
    samples, vectors = demo_embedded
    with pytest.raises(ABError, match="different names"):
        ab_test(samples, [1] * 10, [2] * 10, names=("x", "x"), embeddings=vectors)
    with pytest.raises(ABError, match="at least 6"):
        ab_test(samples, [1, 2, 3], list(range(10)), embeddings=vectors)
    with pytest.raises(ABError, match="Unknown metric"):
        ab_test(samples, list(range(10)), list(range(10, 20)), embeddings=vectors, metrics=["nonsense"])
    with pytest.raises(ABError, match="the sets are"):
        ab_sets(samples, "llm", "nothing", embeddings=vectors)


def test_the_command_line_prints_json(small, tmp_path, capsys):
    samples, _ = small
    real = tmp_path / "real.csv"
    samples[samples["source"] == "real"][["text", "label"]].to_csv(real, index=False)
    paths = {}
    for method in ("llm", "paraphrase"):
        paths[method] = tmp_path / f"{method}.csv"
        samples[samples["method"] == method][["text", "label"]].to_csv(paths[method], index=False)
    args = argparse.Namespace(
        real=[str(real)],
        a=("llm", str(paths["llm"])),
        b=("paraphrase", str(paths["paraphrase"])),
        format="json",
        size=None,
        seed=0,
        holdout=0.1,
        rounds=19,
        permutations=19,
        alpha=0.05,
        mauve=False,
        coverage="crossfit",
    )
    assert command_ab(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["names"] == ["llm", "paraphrase"] and {m["metric"] for m in printed["metrics"]} >= {
        "TSTR macro-F1",
        "detection AUC",
    }
