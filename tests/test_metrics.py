"""Every metric against a reference implementation on the same inputs, or a closed form."""

import math

import numpy as np
import pytest

from analysis.metrics import diversity, drift, fidelity, lm, novelty, tails

TEXTS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a bird flew over the house",
    "the cat ate the fish",
    "rain fell on the old town all night",
    "the dog chased the cat around the garden",
]


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --------------------------------------------------------------------------- diversity


def test_distinct_n_by_hand():
    texts = ["a b a b", "a b c"]
    # bigrams: ab ba ab | ab bc -> 5 bigrams, 3 distinct
    assert diversity.distinct_n(texts, 2) == pytest.approx(3 / 5)
    assert diversity.distinct_n(texts, 1) == pytest.approx(3 / 7)
    assert diversity.distinct_n(["same words"] * 3, 2) == pytest.approx(1 / 3)


def test_entropy_closed_form():
    assert diversity.ngram_entropy(["a b c d"], 1) == pytest.approx(2.0)  # uniform over 4
    assert diversity.ngram_entropy(["a a a a"], 1) == 0.0
    p = np.array([3, 1]) / 4
    assert diversity.ngram_entropy(["x x x y"], 1) == pytest.approx(-(p * np.log2(p)).sum())


def test_compression_ratio_rises_with_repetition():
    varied = [f"sentence {i} about {w}" for i, w in enumerate(["apples", "rivers", "stars", "engines", "poems"])]
    repeated = ["sentence about apples"] * 5
    assert diversity.compression_ratio(repeated) > diversity.compression_ratio(varied) >= 0.5


def test_self_bleu_equals_nltk():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    tokens = [diversity.tokenize(t) for t in TEXTS]
    smoothing = SmoothingFunction().method1
    expected = np.mean(
        [sentence_bleu(tokens[:i] + tokens[i + 1 :], hyp, smoothing_function=smoothing) for i, hyp in enumerate(tokens)]
    )
    assert diversity.self_bleu(TEXTS, sample_size=None) == pytest.approx(expected, abs=1e-12)


def test_self_bleu_of_identical_texts_is_one_and_subsample_is_seeded():
    assert diversity.self_bleu(["the same short text here"] * 4, sample_size=None) == pytest.approx(1.0)
    many = [f"text number {i} with words {i % 5}" for i in range(50)]
    assert diversity.self_bleu(many, sample_size=20, seed=1) == diversity.self_bleu(many, sample_size=20, seed=1)


def test_vendi_equals_the_vendi_score_package():
    from vendi_score import vendi

    rng = np.random.default_rng(0)
    for n, d in [(30, 8), (8, 30)]:  # both the n x n and the d x d route
        x = rng.normal(size=(n, d))
        assert diversity.vendi_score(x) == pytest.approx(vendi.score_X(x), rel=1e-9)


def test_vendi_closed_forms():
    assert diversity.vendi_score(np.ones((5, 3))) == pytest.approx(1.0)  # all the same sample
    assert diversity.vendi_score(np.eye(4)) == pytest.approx(4.0)  # four orthogonal samples


def test_mean_pairwise_distance_equals_brute_force():
    x = unit(np.random.default_rng(1).normal(size=(20, 6)))
    brute = np.mean([1 - x[i] @ x[j] for i in range(20) for j in range(20) if i != j])
    assert diversity.mean_pairwise_distance(x) == pytest.approx(brute, abs=1e-12)


# --------------------------------------------------------------------------- fidelity and coverage


@pytest.mark.parametrize("kind", ["bfloat16", "float32"])  # the two GEMMs analysis.metrics.knn can use
@pytest.mark.parametrize("block_bytes", [64 * 1024 * 1024, 4096])  # one block, and many small ones
def test_prdc_equals_the_prdc_package(block_bytes, kind, monkeypatch):
    from prdc import compute_prdc

    from analysis.metrics import knn

    monkeypatch.setattr(knn, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(knn, "gemm_kind", lambda: kind)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 16))
    synthetic = rng.normal(loc=0.3, scale=0.8, size=(250, 16))
    ours = fidelity.prdc(real, synthetic, k=5)
    reference = compute_prdc(real, synthetic, nearest_k=5)
    for key in ("precision", "recall", "density", "coverage"):
        assert abs(ours[key] - reference[key]) <= 1e-9, key


def test_prdc_of_a_set_against_itself():
    x = np.random.default_rng(2).normal(size=(100, 4))
    values = fidelity.prdc(x, x, k=3)
    assert values["precision"] == values["recall"] == values["coverage"] == 1.0


def test_frechet_distance_closed_form_for_two_gaussians():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4000, 3))
    b = rng.normal(size=(4000, 3))
    # sample statistics, then the closed form on them
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    from scipy.linalg import sqrtm

    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * sqrtm(ca @ cb).real)
    assert fidelity.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    # shifted by 2 along one axis, identical covariance: FD = 4
    assert fidelity.frechet_distance(a, a + np.array([2.0, 0, 0])) == pytest.approx(4.0, abs=1e-9)
    # X against 2X in one dimension: mu^2 + s^2 + 4 s^2 - 2 * 2 s^2 = mu^2 + s^2
    one = rng.normal(size=(2000, 1))
    expected_1d = one.mean() ** 2 + np.var(one, ddof=1)
    assert fidelity.frechet_distance(one, 2 * one) == pytest.approx(expected_1d, rel=1e-9)


def test_frechet_distance_with_fewer_samples_than_dimensions():
    """Singular covariances (n < d, as compare's 200 samples in 384 dimensions): a set against itself is 0,
    and the value is invariant under a rotation of the space, to rounding, with no offset added."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(60, 100)), rng.normal(size=(80, 100)) + 0.1
    assert fidelity.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-10)
    rotation, _ = np.linalg.qr(rng.normal(size=(100, 100)))
    assert fidelity.frechet_distance(a @ rotation, b @ rotation) == pytest.approx(
        fidelity.frechet_distance(a, b), rel=1e-11
    )


def test_nearest_similarity_is_the_float64_cosine_of_the_nearest_row():
    rng = np.random.default_rng(5)
    queries, pool = rng.normal(size=(50, 16)).astype(np.float32), rng.normal(size=(300, 16)).astype(np.float32)
    best, index = fidelity.nearest_similarity(queries, pool)
    q, p = queries.astype(np.float64), pool.astype(np.float64)
    cosines = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (p / np.linalg.norm(p, axis=1, keepdims=True)).T
    assert (index == cosines.argmax(axis=1)).all()
    np.testing.assert_allclose(best, cosines.max(axis=1), rtol=1e-14)


# --------------------------------------------------------------------------- tails


def test_rarity_bins_split_head_to_tail_evenly():
    bins = tails.rarity_bins(np.array([5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 0.5, 7.0, 8.0, 9.0]), bins=5)
    assert bins.tolist() == [2, 0, 1, 1, 2, 3, 0, 3, 4, 4]  # ranks 5,1,3,2,4,6,0,7,8,9 times 5 // 10
    assert np.bincount(bins).tolist() == [2, 2, 2, 2, 2]
    assert bins[6] == 0 and bins[9] == 4  # the smallest radius is head, the largest tail


def test_tail_coverage_by_hand():
    # a dense head cluster at 0 and a sparse tail; synthetic only near the head
    real = np.array([[0.0], [0.1], [0.2], [0.3], [10.0], [20.0], [30.0], [40.0]])
    synthetic = np.array([[0.05], [0.15], [0.25]])
    table = tails.tail_coverage(real, synthetic, k=1, bins=2)
    assert table["real"].tolist() == [4, 4]
    assert table["coverage"].tolist() == [1.0, 0.0]  # head all covered, tail none


def test_rank_frequency_and_rare_tokens():
    table = tails.rank_frequency(["a a a b b c"])
    assert table[["rank", "token", "count"]].values.tolist() == [[1, "a", 3], [2, "b", 2], [3, "c", 1]]
    assert table["share"].sum() == pytest.approx(1.0)
    # rare real tokens (count <= 1): c, d, e; the synthetic set uses c and e
    assert tails.rare_token_coverage(["a a b b c d e"], ["a c e"], max_count=1) == pytest.approx(2 / 3)


def test_label_coverage():
    table = tails.label_coverage(["x", "x", "y"], np.array([True, False, False])).set_index("label")
    assert table.loc["x", "coverage"] == 0.5 and table.loc["y", "coverage"] == 0.0


# --------------------------------------------------------------------------- novelty and drift


def test_novelty_by_brute_force():
    real_texts = ["r0", "r1", "r2"]
    real = unit(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]))
    synthetic_texts = ["r0", "new", "new"]
    synthetic = unit(np.array([[1.0, 0, 0], [0.1, 1.0, 0], [1.0, 1.0, 1.0]]))
    values = novelty.novelty(real_texts, synthetic_texts, real, synthetic, near=0.95)
    nearest = [max(s @ r for r in real) for s in synthetic]
    assert values["nearest_real_similarity"] == pytest.approx(np.mean(nearest))
    assert values["exact_copy_rate"] == pytest.approx(1 / 3)
    assert values["near_copy_rate"] == pytest.approx(np.mean([v >= 0.95 for v in nearest]))
    assert values["duplicate_rate"] == pytest.approx(1 / 3)


def test_drift_by_hand_and_scipy():
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import ks_2samp

    assert drift.centroid_shift(np.array([[1.0, 0]]), np.array([[0.0, 1]])) == pytest.approx(1.0)
    assert drift.centroid_shift(np.array([[1.0, 0]]), np.array([[2.0, 0]])) == pytest.approx(0.0)
    real_labels, synthetic_labels = ["a", "a", "b", None], ["a", "b", "b", "c"]
    expected = jensenshannon([2 / 3, 1 / 3, 0], [1 / 4, 2 / 4, 1 / 4], base=2) ** 2
    assert drift.label_divergence(real_labels, synthetic_labels) == pytest.approx(expected)
    assert drift.label_divergence(["a"], ["b"]) == pytest.approx(1.0)
    statistic, pvalue = drift.length_ks(TEXTS, TEXTS[:3])
    reference = ks_2samp([len(t.split()) for t in TEXTS], [len(t.split()) for t in TEXTS[:3]])
    assert (statistic, pvalue) == (pytest.approx(reference.statistic), pytest.approx(reference.pvalue))


# --------------------------------------------------------------------------- model health


def test_kneser_ney_equals_nltk():
    from nltk.lm import KneserNeyInterpolated
    from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
    from nltk.util import ngrams

    sentences = [diversity.tokenize(t) for t in TEXTS]
    for order in (2, 3):
        train, vocabulary = padded_everygram_pipeline(order, sentences)
        reference = KneserNeyInterpolated(order, discount=0.1)
        reference.fit(train, vocabulary)
        ours = lm.KneserNeyLM(order, discount=0.1, uniform_floor=False).fit(sentences)
        for sentence in sentences[:3] + [["the", "cat", "sat", "on", "the", "log"]]:
            for gram in ngrams(pad_both_ends(sentence, n=order), order):
                assert ours.score(gram[-1], gram[:-1]) == pytest.approx(reference.score(gram[-1], gram[:-1]), abs=1e-12)


def test_kneser_ney_by_hand_and_finite_on_unseen_words():
    # bigram model on "a b" and "a c": p(b | a) = (1 - d)/2 + d * 2/2 * p_uni(b)
    model = lm.KneserNeyLM(2, discount=0.5, uniform_floor=False).fit([["a", "b"], ["a", "c"]])
    # continuation unigram: bigram types (<s> a)(a b)(b </s>)(a c)(c </s>) -> N1+(.b) = 1 of 5
    assert model.score("b", ["a"]) == pytest.approx(0.5 / 2 + 0.5 * 2 / 2 * (1 / 5))
    floored = lm.KneserNeyLM(2).fit([["a", "b"], ["a", "c"]])
    assert 0 < floored.score("zebra", ["a"]) < floored.score("b", ["a"])
    total = sum(floored.score(w, ["a"]) for w in floored.vocabulary | {lm.UNK})
    assert total == pytest.approx(1.0, abs=1e-9)  # a proper distribution over the vocabulary + <unk>


def test_perplexity_rises_when_training_text_loses_variety():
    real = TEXTS * 3
    collapsed = ["the cat sat on the mat"] * 18
    holdout = ["the dog sat on the mat", "a bird sat on the old house"]
    assert lm.perplexity(real, holdout) < lm.perplexity(collapsed, holdout)
    assert math.isfinite(lm.perplexity(collapsed, holdout))


def test_fast_kth_smallest_equals_a_full_partition_even_with_ties():
    rng = np.random.default_rng(4)
    cases = [
        rng.normal(size=(50, 3000)),
        rng.integers(0, 5, size=(40, 2000)).astype(float),  # many ties
        np.ones((10, 1500)),  # all equal: every value passes the bound
        np.sort(rng.normal(size=(20, 2500)), axis=1)[:, ::-1].copy(),  # the sampled columns are the largest
    ]
    for values in cases:
        for kth in (0, 5, 40):
            expected = np.partition(values, kth, axis=1)[:, kth]
            assert np.array_equal(fidelity.kth_smallest(values, kth), expected)
