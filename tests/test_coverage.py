"""One definition of coverage and its floor (issue 17): the holdout balls, Tail coverage and compare agree.

The fixture is the case of the issue in deterministic vectors: 600 real samples on six topics (100
each), 300 synthetic samples on two of them. Each topic is a unit disc in its own plane, the topics
0.6 apart: with 10 holdout samples a topic (60 in all) the 5-NN balls reach the neighbouring topics,
and the code before the floor credited the synthetic set with 40-70 % of topics it has no sample
on; with 50 a topic (300) every ball stays inside its topic.
"""

import numpy as np
import pandas as pd
import pytest

from analysis.judge.compare import compare, coverage_reference
from analysis.judge.coverage import tail_report
from analysis.metrics import fidelity, tails

pytestmark = pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # Fréchet distance on flat discs

TOPICS = ["sports", "tech", "health", "travel", "food", "music"]
COVERED = {"sports", "tech"}  # the synthetic set has text on these two only


def topic_vectors(topic: int, n: int, rng: np.random.Generator) -> np.ndarray:
    radius, angle = np.sqrt(rng.uniform(size=n)), rng.uniform(0, 2 * np.pi, size=n)
    x = np.zeros((n, 18))
    x[:, topic] = 0.6 / np.sqrt(2)  # topic centres 0.6 apart
    x[:, 6 + 2 * topic], x[:, 7 + 2 * topic] = radius * np.cos(angle), radius * np.sin(angle)
    return x


def six_topics(holdout_per_topic: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    real = [topic_vectors(t, 100, rng) for t in range(6)]
    synthetic = [topic_vectors(t, 150, rng) for t in (0, 1)]
    samples = pd.DataFrame(
        {
            "id": [f"real-{t}-{i}" for t in TOPICS for i in range(100)] + [f"llm-{i}" for i in range(300)],
            "text": [f"{t} text {i}" for t in TOPICS for i in range(100)]
            + [f"{t} story {i}" for t in ("sports", "tech") for i in range(150)],
            "source": ["real"] * 600 + ["synthetic"] * 300,
            "method": ["real"] * 600 + ["llm"] * 300,
            "generation": [0] * 600 + [1] * 300,
            "label": [t for t in TOPICS for _ in range(100)] + ["sports"] * 150 + ["tech"] * 150,
            "parent_id": None,
            "split": [("holdout" if i < holdout_per_topic else "train") for _ in TOPICS for i in range(100)]
            + [None] * 300,
        }
    )
    return samples, np.vstack(real + synthetic)


def synthetic_rows(samples: pd.DataFrame) -> np.ndarray:
    return np.flatnonzero((samples["source"] == "synthetic").to_numpy())


def test_the_floor_is_40_k_reference_samples_and_4_k_per_group():
    assert fidelity.coverage_floor(5) == 200 and fidelity.group_floor(5) == 20
    assert fidelity.coverage_unsupported(200, 5) == ""
    reason = fidelity.coverage_unsupported(60, 5, reference="real holdout")
    assert "60" in reason and "200" in reason and "holdout" in reason.lower()
    assert tails.supported([19, 20, 400], 200, 5).tolist() == [False, True, True]
    assert not tails.supported([100], 199, 5).any()
    table = tails.tail_coverage(np.arange(60.0)[:, None], np.zeros((3, 1)), k=5, bins=3)
    assert not table["supported"].any()  # 60 samples: the bins' shares are flagged


def test_a_small_holdout_never_credits_a_topic_without_synthetic_text():
    samples, x = six_topics(holdout_per_topic=10)  # 60 holdout samples, as in the issue
    report = tail_report(samples, x, bins=10, coverage="holdout")
    assert "60 samples" in report.unsupported and "200" in report.unsupported
    llm = report.labels[report.labels["set"] == "llm"].set_index("label")
    for topic in set(TOPICS) - COVERED:  # the code before the floor said 40-70 % here
        assert not llm.at[topic, "coverage"] > 0, topic
        assert not llm.at[topic, "supported"]
    assert report.bins["coverage"].isna().all() and not report.bins["supported"].any()
    assert report.missed.empty  # no sample is called missed by balls that cannot tell

    table = compare(samples, embeddings=x, with_mauve=False, with_utility=False, coverage="holdout")
    judged = table[table["metric"].isin(["coverage", "tail coverage (rarest 10%)", "tail coverage (rarest 30%)"])]
    assert len(judged) == 6 and judged["value"].isna().all()
    assert judged["reference"].str.contains("Coverage is not reported: the real holdout has 60 samples").all()
    assert table.loc[table["metric"] == "recall", "value"].notna().all()  # the other metrics are still there

    reference = coverage_reference(samples, x)
    assert reference.size == 60 and reference.unsupported == report.unsupported


def test_with_enough_holdout_absent_topics_are_not_covered_and_the_three_views_agree():
    samples, x = six_topics(holdout_per_topic=50)  # 300 holdout samples; real train and the set both 300
    report = tail_report(samples, x, bins=10, coverage="holdout")
    assert report.unsupported == "" and report.reference == "5-NN balls of the real holdout (300 samples)"
    assert report.bins["supported"].all() and report.labels["supported"].all()
    llm = report.labels[report.labels["set"] == "llm"].set_index("label")["coverage"]
    assert llm[sorted(COVERED)].tolist() == [1.0, 1.0]
    assert (llm[sorted(set(TOPICS) - COVERED)] == 0).all()

    # the holdout balls: the same samples are uncovered as Tail coverage lists (the set is whole there)
    reference = coverage_reference(samples, x)
    uncovered = ~reference.covered(x[synthetic_rows(samples)])
    ball_ids = set(samples["id"].to_numpy()[reference.rows[uncovered]])
    assert len(ball_ids) == 200  # the four topics without synthetic text, 50 holdout samples each
    tail_missed = tail_report(samples, x, bins=10, missed=len(ball_ids), coverage="holdout")
    assert set(tail_missed.missed["id"]) == ball_ids

    # compare: its coverage is the share the balls do not leave uncovered, and it says which balls
    table = compare(samples, embeddings=x, with_mauve=False, with_utility=False, coverage="holdout").set_index(
        ["set", "metric"]
    )
    coverage = table.loc[("llm", "coverage")]
    assert coverage["value"] == pytest.approx(1 - uncovered.mean()) == pytest.approx(100 / 300)
    assert coverage["ci_low"] <= coverage["value"] <= coverage["ci_high"]
    assert table.at[("llm", "coverage"), "reference"].endswith("5-NN balls of the real holdout (300 samples)")
    rarest = report.bins[(report.bins["set"] == "llm") & (report.bins["bin"] == 9)]["coverage"].iloc[0]
    assert table.at[("llm", "tail coverage (rarest 10%)"), "value"] == pytest.approx(rarest)


def test_groups_below_4_k_holdout_samples_are_flagged_not_shown():
    samples, x = six_topics(holdout_per_topic=50)
    thin = samples.copy()
    thin.loc[(thin["label"] == "music") & (thin["split"] == "holdout"), "label"] = ["rare"] * 10 + ["music"] * 40
    labels = tail_report(thin, x, bins=20, coverage="holdout").labels  # 20 bins of 15 holdout samples, one label of 10
    llm = labels[labels["set"] == "llm"].set_index("label")
    assert not llm.at["rare", "supported"] and np.isnan(llm.at["rare", "coverage"]) and llm.at["rare", "real"] == 10
    assert llm.at["music", "supported"] and llm.at["music", "coverage"] == 0
    assert not tail_report(thin, x, bins=20, coverage="holdout").bins["supported"].any()  # 15 < 20 a bin
