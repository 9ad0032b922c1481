"""The accuracy rule a fast embedding backend must pass to be a default (analysis.judge.backend_rule, issue 35).

No model here: vectors shaped like a sentence model's (unit rows in 384 dimensions, topics, a spread that fades
along the directions, about as many effective dimensions as MiniLM's ~100) and a "backend" made from them. The
k-NN metrics are exact (float64 decides every comparison), so the outcomes do not depend on the CPU's kernels;
the tests still assert only pass or fail and inequalities with room, never a metric's value.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.judge.backend_rule import RULE_FRACTION, accuracy_rule, resolution, rule_limit


def _embeddings(seed: int, n: int, d: int = 384, topics: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit rows around ``topics`` topic centres, and each row's (unit) topic centre."""
    rng = np.random.default_rng(seed)
    scale = np.arange(1, d + 1) ** -0.35  # variance fading as 1 / i**0.7
    centres = rng.standard_normal((topics, d)) * scale
    centre = centres[rng.integers(0, topics, n)]
    x = centre + 0.7 * rng.standard_normal((n, d)) * scale
    return x / np.linalg.norm(x, axis=1, keepdims=True), centre / np.linalg.norm(centre, axis=1, keepdims=True)


def _with_noise(x: np.ndarray, seed: int, cosine: float = 0.9999) -> np.ndarray:
    """``x`` plus noise of a fixed length per row: every row's cosine to its own row of ``x`` is about ``cosine``."""
    e = np.random.default_rng(seed).standard_normal(x.shape)
    return x + e / np.linalg.norm(e, axis=1, keepdims=True) * np.sqrt(2 * (1 - cosine))


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


SIZES = [(200, 120), (1000, 600)]  # the suite's demo check, and the minimum


@pytest.mark.parametrize(("n_real", "n_synthetic"), SIZES)
def test_float32_vectors_with_tiny_noise_pass(n_real, n_synthetic):
    """Vectors a fast float32 path could give (mean cosine 0.9999 to the reference) pass at both sizes, though a few
    texts cross k-NN ball and rarity-bin edges: one text is the smallest move a metric can make, and a limit is the
    stated fraction of the noise rounded up to whole texts, never below one."""
    vectors, _ = _embeddings(0, n_real + n_synthetic)
    mask = np.arange(len(vectors)) < n_real
    groups = ["rule-based", "paraphrase", "llm"] * (n_synthetic // 3)
    moved = 0
    for seed in (1, 2):
        fast = _with_noise(vectors, seed)
        assert _cosines(vectors, fast).mean() >= 0.9999 - 1e-6
        passes, table = accuracy_rule(vectors, fast, mask, groups)
        assert passes, table[~table["passes"]].to_string()
        checks = table[(table["metric"] != "gate verdict") & table["noise"].notna()]
        moved += int((checks["change"] != 0).sum())
        silent = checks[checks["noise"] == 0]  # e.g. real train's precision is 1 in every half-sample
        assert (silent["limit"] == silent["resolution"]).all()  # judged on one text, not on 0
    assert moved > 0  # texts did cross edges: the test is not vacuous


def test_a_backend_that_changes_a_verdict_is_refused_though_every_cosine_is_above_099():
    vectors, centre = _embeddings(0, 640)  # 400 real, then sets a and b of 120
    mask = np.arange(len(vectors)) < 400
    groups = ["a"] * 120 + ["b"] * 120
    passes, table = accuracy_rule(vectors, vectors.copy(), mask, groups)
    assert passes and (table["change"].iloc[1:-2] == 0).all()
    # set b drawn towards its topic centres in the fast backend only (mode collapse): recall falls past the alarm
    collapsed = vectors.copy()
    b = np.flatnonzero(~mask)[120:]
    collapsed[b] += 0.17 * (centre[b] - collapsed[b])
    assert _cosines(vectors, collapsed).min() >= 0.99
    passes, table = accuracy_rule(vectors, collapsed, mask, groups)
    assert not passes
    assert table.iloc[0]["passes"], "the cosine part holds: the verdict refuses it"
    verdict = table[table["metric"] == "gate verdict"].set_index("set")
    assert verdict.loc["b", "reference"] == "ok" and verdict.loc["b", "fast"] != "ok" and not verdict.loc["b", "passes"]
    assert verdict.loc["a", "passes"]


def test_a_backend_that_moves_a_metric_by_several_noise_units_is_refused():
    """No verdict changes and every cosine is >= 0.999, but set b's recall and density move by several of their
    standard errors: refused, and each failed check is over its limit."""
    vectors, centre = _embeddings(4, 640)
    mask = np.arange(len(vectors)) < 400
    groups = ["a"] * 120 + ["b"] * 120
    shifted = vectors.copy()
    b = np.flatnonzero(~mask)[120:]
    shifted[b] += 0.05 * (centre[b] - shifted[b])
    assert _cosines(vectors, shifted).min() >= 0.999
    passes, table = accuracy_rule(vectors, shifted, mask, groups)
    assert not passes and table.iloc[0]["passes"]
    assert table[table["metric"] == "gate verdict"]["passes"].all()
    failed = table[~table["passes"]]
    assert (failed["change"].abs() > failed["limit"]).all()
    assert (failed["change"].abs() >= 3 * failed["noise"]).any()
    assert set(failed["set"]) == {"b"}


def test_the_limit_is_the_stated_fraction_of_the_noise_in_whole_texts_and_at_least_one():
    one = 1 / 20  # a 20-text rarity bin
    assert rule_limit(0.0, one) == one  # no resampling noise: one text, not 0
    assert rule_limit(float("nan"), one) == one
    assert rule_limit(0.064, one, 0.75) == one  # 0.048: less than one text
    assert rule_limit(0.10, one, 0.75) == pytest.approx(2 * one)  # 1.5 texts, rounded up to 2
    assert rule_limit(0.1, one * 1.5 / 0.75, 0.75) == pytest.approx(one * 1.5 / 0.75)  # exactly one step: not 2
    assert 0 < RULE_FRACTION <= 1


def test_each_metric_states_the_change_one_text_makes():
    assert resolution("precision", 200, 500, 5) == 1 / 200
    assert resolution("recall", 200, 500, 5) == resolution("coverage", 200, 500, 5) == 1 / 500
    assert resolution("density", 200, 500, 5) == 1 / 1000
    vectors, _ = _embeddings(5, 400)
    mask = np.arange(len(vectors)) < 300
    table = accuracy_rule(vectors, vectors, mask, rounds=5)[1].set_index(["set", "metric"])
    assert table.loc[("synthetic", "precision"), "resolution"] == 1 / 100
    assert table.loc[("real train", "precision"), "resolution"] == 1 / 150
    assert table.loc[("synthetic", "coverage in rarity bin 0"), "resolution"] == 1 / 30  # 150 in 5 bins
    assert table.loc[("synthetic", "tail coverage (rarest 10%)"), "resolution"] == 1 / 15


def _labelled(n_real: int, n_synthetic: int, seed: int = 3, topics: int = 12):
    """A sample table of ``n_real`` real and ``n_synthetic`` llm texts over ``topics`` labelled topics, and vectors."""
    import pandas as pd

    vectors, centre = _embeddings(seed, n_real + n_synthetic, topics=topics)
    _, topic = np.unique(centre.round(6), axis=0, return_inverse=True)
    synthetic = np.arange(len(vectors)) >= n_real
    samples = pd.DataFrame(
        {
            "id": [f"t{i}" for i in range(len(vectors))],
            "text": [f"text {i}" for i in range(len(vectors))],
            "source": np.where(synthetic, "synthetic", "real"),
            "method": np.where(synthetic, "llm", "real"),
            "generation": synthetic.astype(int),
            "label": [f"topic {t}" for t in topic.ravel()],
            "split": np.where(np.arange(len(vectors)) % 2 & ~synthetic, "holdout", "train"),
        }
    )
    return samples, vectors, topic.ravel(), ~synthetic


def test_a_backend_that_changes_the_named_gaps_is_refused():
    """Issue 35 (b): the named gaps (analysis.maps.gaps.find_gaps) of every set must not change. Vectors with tiny
    noise keep them; a backend that moves one topic's synthetic texts into another topic names a new gap there, and
    the rule refuses it on that row, whatever the metrics say."""
    samples, vectors, topic, mask = _labelled(600, 300)
    groups = ["llm"] * int((~mask).sum())
    same, table = accuracy_rule(vectors, _with_noise(vectors, 1), mask, groups, rounds=3, samples=samples)
    gap_rows = table[table["metric"] == "named gaps"]
    assert list(gap_rows["set"]) == ["llm"] and gap_rows["passes"].all()
    moved = vectors.copy()
    lost = np.flatnonzero(~mask & (topic == topic[~mask][0]))  # one topic's synthetic texts ...
    donor = np.flatnonzero(~mask & (topic != topic[lost[0]]))[: len(lost)]
    moved[lost] = moved[donor]  # ... land on another topic's
    passes, table = accuracy_rule(vectors, moved, mask, groups, rounds=3, samples=samples)
    row = table[table["metric"] == "named gaps"].iloc[0]
    assert not passes and not row["passes"] and row["change"] == "changed"
    assert f"topic {topic[lost[0]]}" in row["fast"] and f"topic {topic[lost[0]]}" not in row["reference"]


def test_a_backend_that_hides_missing_topics_is_refused():
    """Issue 35 (b), named gaps beyond the rule's own sets: each label of at least 10 % of the real texts is dropped
    from a set of other real texts (10 seeded draws each; analysis.judge.backend_rule.dropped_topic_draws) and the
    draws whose set names it are counted. Vectors with tiny noise name as many; a backend that puts one topic's
    texts where another's are hides either topic when it is missing, and the rule refuses it on that row."""
    samples, vectors, topic, mask = _labelled(600, 60, topics=6)
    groups = ["llm"] * int((~mask).sum())
    _, table = accuracy_rule(vectors, _with_noise(vectors, 1), mask, groups, rounds=3, samples=samples)
    row = table[table["metric"] == "dropped topics named"].iloc[0]
    assert row["set"] == "60 draws" and row["passes"]
    assert row["reference"] >= 54  # a missing topic is named in (nearly) every draw: the check is not vacuous
    moved = vectors.copy()
    first, second = np.flatnonzero(topic == 0), np.flatnonzero(topic == 1)
    moved[second] = vectors[np.random.default_rng(0).choice(first, len(second))]  # topic 1's texts land on topic 0's
    passes, table = accuracy_rule(vectors, moved, mask, groups, rounds=3, samples=samples)
    row = table[table["metric"] == "dropped topics named"].iloc[0]
    assert not passes and not row["passes"] and row["fast"] < row["reference"] - row["limit"]
