"""Utility metrics: train on synthetic, test on real (TSTR) and real-vs-synthetic detection, on demo embeddings."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from analysis.demo import load_demo
from analysis.metrics.utility import UtilityError, detection, most_synthetic, roc_auc, tstr
from analysis.vectors.embed import embed


@pytest.fixture(scope="module")
def real():
    demo = load_demo(synthetic=False)
    return demo, embed(demo["text"])  # shipped vectors: no model is loaded


@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_detection_of_real_against_a_disjoint_real_split_stays_near_one_half(real):
    demo, vectors = real
    train = np.flatnonzero((demo["split"] == "train").to_numpy())
    aucs = []
    for seed in range(3):
        rows = np.random.default_rng(seed).permutation(train)[:800]
        aucs.append(detection(vectors[rows[:400]], vectors[rows[400:]], seed=seed).auc)
    # Band: out-of-fold AUCs of two real halves of 400 + 400 scatter with sd ~ 0.02-0.03 (measured
    # 0.030 at 300 + 300, 0.011 at 976 + 976); 0.5 ± 0.08 is about 3 sd for each split.
    assert all(abs(auc - 0.5) <= 0.08 for auc in aucs), aucs
    assert abs(np.mean(aucs) - 0.5) <= 0.05, aucs


@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_detection_of_visibly_different_texts_is_near_one(real):
    demo, vectors = real
    fake = [
        f"Order #{i}: {n} units of part {chr(65 + i % 26)}-{i * 7 % 100} ship on day {i % 28 + 1}; invoice attached."
        for i, n in zip(range(150), range(3, 600, 4))
    ]
    rows = np.flatnonzero((demo["split"] == "holdout").to_numpy())[:150]
    result = detection(vectors[rows], embed(fake), seed=0)
    assert result.auc >= 0.98
    top = most_synthetic(fake, result, n=5)
    assert list(top.columns) == ["position", "score", "text"] and len(top) == 5
    assert top["score"].is_monotonic_decreasing and top["text"].iloc[0] == fake[top["position"].iloc[0]]


def test_auc_is_the_mann_whitney_statistic_as_scikit_learn_computes_it():
    rng = np.random.default_rng(0)
    real_scores, synthetic_scores = rng.random(40).round(1), (rng.random(50) + 0.2).round(1)  # with ties
    expected = roc_auc_score(np.r_[np.zeros(40), np.ones(50)], np.r_[real_scores, synthetic_scores])
    assert roc_auc(real_scores, synthetic_scores) == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_tstr_of_real_train_data_beats_a_set_that_lost_half_the_labels(real):
    demo, vectors = real
    labels = demo["label"].to_numpy()
    train = np.flatnonzero((demo["split"] == "train").to_numpy())
    holdout = np.flatnonzero((demo["split"] == "holdout").to_numpy())
    names = sorted(set(labels))
    lost = set(names[::2])  # 6 of the 12 topics
    rng = np.random.default_rng(0)
    full = rng.choice(train, 600, replace=False)
    half = rng.choice(train[~np.isin(labels[train], list(lost))], 600, replace=False)  # same size, half the labels

    ceiling = tstr(vectors[full], labels[full], vectors[holdout], labels[holdout])
    missing = tstr(vectors[half], labels[half], vectors[holdout], labels[holdout])
    assert ceiling.macro_f1 >= missing.macro_f1 and ceiling.accuracy >= missing.accuracy
    assert set(missing.lost_labels) == lost  # per-label recall shows which labels were lost
    kept = missing.per_label[~missing.per_label["label"].isin(lost)]
    assert (kept["recall"] > 0.3).all() and (
        missing.per_label.loc[missing.per_label["label"].isin(lost), "train"] == 0
    ).all()
    assert ceiling.lost_labels == []
    # the scores are scikit-learn's on the same predictions
    assert missing.macro_f1 == pytest.approx(
        f1_score(labels[holdout], missing.predicted, average="macro", labels=names, zero_division=0)
    )
    assert missing.accuracy == pytest.approx(np.mean(missing.predicted == labels[holdout]))


@pytest.mark.slow  # embeds the demo (its built vectors) in a module fixture
def test_tstr_without_labels_says_to_use_detection(real):
    demo, vectors = real
    with pytest.raises(UtilityError, match="detection only"):
        tstr(vectors[:50], [None] * 50, vectors[50:100], demo["label"].iloc[50:100])
    with pytest.raises(UtilityError, match="at least 2"):
        tstr(vectors[:50], demo["label"].iloc[:50], vectors[50:100], ["x"] * 50)
    single = tstr(vectors[:20], ["a"] * 20, vectors[20:40], ["a"] * 10 + ["b"] * 10)  # one training label
    assert single.accuracy == 0.5 and single.lost_labels == ["b"]
    assert isinstance(single.per_label, pd.DataFrame)
