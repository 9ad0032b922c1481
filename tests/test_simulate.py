"""The collapse simulator: closed forms by Monte Carlo, the n-gram model's direction per regime, CLI.

Closed forms are checked by Monte Carlo over many seeds, each generation's mean within three
standard errors of the published expectation. The n-gram tests use a few hundred real demo texts;
the embedding test the demo's shipped MiniLM vectors, so no model runs here.
"""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.demo import load_demo
from analysis.errors import CollapseLabError
from analysis.metrics import diversity, tails
from analysis.metrics.array_lm import ArrayKneserNey, Vocabulary
from analysis.metrics.diversity import tokenize
from analysis.metrics.lm import KneserNeyLM
from analysis.simulate import (
    METRICS,
    MODEL_CLASSES,
    MODELS,
    REGIMES,
    NgramModel,
    SimulationError,
    closed_form,
    simulate,
)
from analysis.simulate.protocol import PointsModel, SimulationModel

SEEDS = 1500


def within_three_standard_errors(runs: np.ndarray, expected: np.ndarray) -> None:
    mean = runs.mean(axis=0)
    standard_error = runs.std(axis=0, ddof=1) / np.sqrt(len(runs))
    z = np.abs(mean - expected) / standard_error
    assert (z < 3).all(), f"z per generation {np.round(z, 2)}; mean {mean}; expected {expected}"


# ------------------------------------------------------------------------------------------ closed forms


@pytest.mark.slow  # no model, but tens of seconds of CPU on 2 cores
def test_gaussian_variance_follows_the_closed_form_under_replace():
    n, generations = 20, 8
    runs = np.array(
        [
            simulate("gaussian", ["replace"], generations=generations, n=n, seed=seed).curve("variance", "replace")
            for seed in range(SEEDS)
        ]
    )
    expected = closed_form("gaussian", "replace", generations=generations, n=n)["value"].to_numpy()
    np.testing.assert_allclose(expected, ((n - 1) / n) ** (np.arange(generations + 1) + 1))
    within_three_standard_errors(runs, expected)
    assert expected[-1] < 0.65  # the collapse is real: a third of the variance gone in 9 fits


def test_gaussian_tail_mass_is_exact_and_shrinks_under_replace():
    result = simulate("gaussian", ["replace", "mix"], generations=30, n=10, seed=3)
    tail = result.curve("tail mass", "replace")
    mean, variance = result.curve("mean", "replace"), result.curve("variance", "replace")
    from scipy.stats import norm

    exact = norm.cdf(-2, mean, np.sqrt(variance)) + norm.sf(2, mean, np.sqrt(variance))
    np.testing.assert_allclose(tail, exact, rtol=1e-9, atol=1e-15)
    assert tail[-5:].mean() < 0.5 * tail[0]
    assert result.curve("variance", "mix")[-5:].mean() > result.curve("variance", "replace")[-5:].mean()


@pytest.mark.slow  # no model, but tens of seconds of CPU on 2 cores
def test_regression_test_error_grows_linearly_under_replace_and_stays_bounded_under_accumulate():
    n, dim, noise, generations = 30, 5, 1.0, 8
    runs = [
        simulate("regression", ["replace", "accumulate"], generations=generations, n=n, seed=seed, dim=dim, noise=noise)
        for seed in range(SEEDS)
    ]
    replace = np.array([r.curve("test error", "replace") for r in runs])
    accumulate = np.array([r.curve("test error", "accumulate") for r in runs])
    unit = noise**2 * dim / (n - dim - 1)
    expected_replace = closed_form("regression", "replace", generations=generations, n=n, dim=dim, noise=noise)[
        "value"
    ].to_numpy()
    expected_accumulate = closed_form("regression", "accumulate", generations=generations, n=n, dim=dim, noise=noise)[
        "value"
    ].to_numpy()
    np.testing.assert_allclose(expected_replace, unit * (np.arange(generations + 1) + 1))
    assert (expected_accumulate <= np.pi**2 / 6 * unit).all()
    within_three_standard_errors(replace, expected_replace)
    within_three_standard_errors(accumulate, expected_accumulate)
    assert replace.mean(axis=0)[-1] > 3 * accumulate.mean(axis=0)[-1]


def test_closed_form_refuses_where_none_is_known():
    with pytest.raises(SimulationError, match="no closed form"):
        closed_form("ngram", "replace", generations=3, n=10)
    with pytest.raises(SimulationError, match="n > d \\+ 1"):
        closed_form("regression", "replace", generations=3, n=5, dim=10)


# ------------------------------------------------------------------------------------------ n-gram


@pytest.fixture(scope="module")
def small_corpus():
    real = load_demo(synthetic=False)
    train = real.loc[real["split"] == "train", "text"].tolist()[:400]
    holdout = real.loc[real["split"] == "holdout", "text"].tolist()[:150]
    return train, holdout


@pytest.mark.parametrize("order", [2, 3])
def test_array_kneser_ney_equals_the_metrics_model(small_corpus, order):
    train, holdout = small_corpus
    vocabulary = Vocabulary()
    corpus, held = vocabulary.encode(train[:200]), vocabulary.encode(holdout[:60])
    fast = ArrayKneserNey(order, 16).fit(corpus)
    reference = KneserNeyLM(order).fit_texts(train[:200])
    assert fast.perplexity(held) == pytest.approx(
        reference.perplexity_tokens(tokenize(t) for t in holdout[:60]), rel=1e-9
    )
    words = np.array(vocabulary.words)
    for text in holdout[:5]:
        ids = vocabulary.encode([text]).ids[:4]
        context = np.concatenate([[0] * (order - 1), ids])[-(order - 1) :]
        p = fast.score(fast.known(ids[-1:]), fast.known(context)[None, :])[0]
        assert p == pytest.approx(reference.score(words[ids[-1]], list(words[context])), rel=1e-9)


def test_exact_sampling_draws_the_model_distribution(small_corpus):
    train, _ = small_corpus
    vocabulary = Vocabulary()
    model = ArrayKneserNey(3, 16).fit(vocabulary.encode(train[:200]))
    context = np.array([vocabulary.index["the"], vocabulary.index["first"]])
    draws = 40_000
    words = model._draw(np.tile(context, (draws, 1)), np.random.default_rng(0))
    counts = np.bincount(words, minlength=len(vocabulary.words))
    candidates = np.flatnonzero(counts)
    p = model.score(candidates, np.tile(context, (len(candidates), 1)))
    top = candidates[np.argsort(-p)[:8]]
    p_top = model.score(top, np.tile(context, (len(top), 1)))
    frequency = counts[top] / draws
    assert (np.abs(frequency - p_top) < 4 * np.sqrt(p_top * (1 - p_top) / draws)).all()


def test_ngram_metrics_equal_the_metric_functions(small_corpus):
    train, holdout = small_corpus
    engine = NgramModel(n=200, texts=train, holdout=holdout)
    rng = np.random.default_rng(0)
    real = engine.real_data(rng)
    sample = engine.sample(engine.fit(real, rng), 200, rng)
    measured = engine.measure(engine.fit(real, rng), sample, rng)
    texts = engine.vocabulary.decode(sample)
    real_texts = engine.vocabulary.decode(real)
    assert measured["entropy"] == pytest.approx(diversity.ngram_entropy(texts, 1), rel=1e-12)
    assert measured["distinct-2"] == pytest.approx(diversity.distinct_n(texts, 2), rel=1e-12)
    assert measured["vocabulary"] == len({w for t in texts for w in tokenize(t)})
    assert measured["rare-token coverage"] == pytest.approx(tails.rare_token_coverage(real_texts, texts), rel=1e-12)
    table = tails.rank_frequency(real_texts)
    rare = set(table.loc[table["count"] <= 2, "token"])
    tokens = [w for t in texts for w in tokenize(t)]
    assert measured["rare-token mass"] == pytest.approx(sum(w in rare for w in tokens) / len(tokens), rel=1e-12)


@pytest.fixture(scope="module")
def ngram_run(small_corpus):
    train, holdout = small_corpus
    return simulate("ngram", generations=8, n=300, seed=0, texts=train, holdout=holdout)


def test_ngram_collapses_under_replace(ngram_run):
    perplexity = ngram_run.curve("perplexity", "replace")
    rare = ngram_run.curve("rare-token mass", "replace")
    vocabulary = ngram_run.curve("vocabulary", "replace")
    assert (
        perplexity[2] > 1.5 * perplexity[0] and perplexity[-1] > 4 * perplexity[0]
    )  # Shumailov et al.: perplexity climbs
    assert rare[-1] < 0.1 * rare[0]  # the tails go first
    assert (np.diff(vocabulary) < 0).all()


def test_ngram_stays_in_band_with_real_data(ngram_run):
    """Stated bands, generations 1-8 against generation 0: mix keeps perplexity within [0.9, 1.5] x and
    rare-token mass >= 0.5 x; accumulate keeps perplexity <= 2.5 x, growing by less each generation
    (bounded, as Gerstgrasser et al. find), and rare-token mass >= 0.5 x (replace: < 0.1 x)."""
    base_ppl, base_rare = ngram_run.curve("perplexity", "mix")[0], ngram_run.curve("rare-token mass", "mix")[0]
    mix_ppl, mix_rare = ngram_run.curve("perplexity", "mix")[1:], ngram_run.curve("rare-token mass", "mix")[1:]
    assert ((0.9 * base_ppl <= mix_ppl) & (mix_ppl <= 1.5 * base_ppl)).all()
    assert (mix_rare >= 0.5 * base_rare).all()
    acc_ppl, acc_rare = ngram_run.curve("perplexity", "accumulate"), ngram_run.curve("rare-token mass", "accumulate")
    assert (acc_ppl <= 2.5 * base_ppl).all()
    steps = np.diff(acc_ppl)
    assert steps[4:].mean() < steps[:4].mean()
    assert (acc_rare >= 0.5 * base_rare).all()
    assert acc_rare[-1] >= 3 * ngram_run.curve("rare-token mass", "replace")[-1]


def test_ngram_snapshots_for_the_slider(ngram_run):
    table = ngram_run.snapshots["rank_frequency"]
    assert set(table.columns) == {"regime", "generation", "rank", "token", "count", "share"}
    last = table[(table["regime"] == "replace") & (table["generation"] == 8)]
    assert last["rank"].max() == ngram_run.curve("vocabulary", "replace")[-1]
    assert last["count"].is_monotonic_decreasing
    assert len(ngram_run.snapshots["texts"]) == 3 * 9 * 3


def test_sampling_settings_apply(small_corpus):
    train, holdout = small_corpus
    common = dict(generations=1, n=100, seed=0, texts=train, holdout=holdout, regimes=["replace"])
    narrow = simulate("ngram", top_k=5, **common).curve("vocabulary", "replace")[0]
    wide = simulate("ngram", top_p=1.0, **common).curve("vocabulary", "replace")[0]
    cold = simulate("ngram", top_p=1.0, temperature=0.5, **common).curve("vocabulary", "replace")[0]
    assert narrow < cold < wide


# ------------------------------------------------------------------------------------------ embedding


@pytest.mark.slow  # reaches the model or the built demo in its body
def test_embedding_model_loses_coverage_under_replace():
    result = simulate("embedding", ["replace", "mix"], generations=6, n=300, seed=0)
    coverage = result.curve("coverage", "replace")
    assert coverage[-1] < coverage[0] - 0.1
    assert result.curve("coverage", "mix")[-1] > coverage[-1]
    assert result.points[("replace", 6)].shape == (300, result.params["dims"])
    assert result.reference["holdout"].shape[1] == result.params["dims"]


# ------------------------------------------------------------------------------------------ engine


def test_results_are_deterministic_and_regimes_independent(small_corpus):
    train, holdout = small_corpus
    for model, params in [
        ("gaussian", {}),
        ("regression", {}),
        ("ngram", {"texts": train, "holdout": holdout, "n": 50}),
    ]:
        first = simulate(model, generations=3, seed=7, **params)
        again = simulate(model, generations=3, seed=7, **params)
        alone = simulate(model, ["mix"], generations=3, seed=7, **params)
        assert first.metrics.equals(again.metrics)
        np.testing.assert_array_equal(
            first.curve(first.metrics["metric"].iloc[0], "mix"), alone.curve(first.metrics["metric"].iloc[0], "mix")
        )
        other = simulate(model, generations=3, seed=8, **params)
        assert not first.metrics["value"].equals(other.metrics["value"])


def test_result_structure_and_progress():
    calls = []
    result = simulate("gaussian", generations=4, n=30, seed=0, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 13) for i in range(1, 14)]
    assert list(result.metrics.columns) == ["model", "regime", "generation", "metric", "value"]
    assert set(result.metrics["regime"]) == set(REGIMES)
    assert sorted(result.metrics["generation"].unique()) == list(range(5))
    histogram = result.snapshots["histogram"]
    assert (histogram.groupby(["regime", "generation"])["count"].sum() <= 30).all()
    wide = result.wide()
    assert {"mean", "variance", "tail mass"} <= set(wide.columns) and len(wide) == 15
    assert result.real_share == pytest.approx(2 / 3)


def test_mix_with_all_real_data_never_drifts():
    result = simulate("regression", ["mix"], generations=5, n=40, seed=0, real_share=1.0)
    errors = result.curve("test error", "mix")
    assert np.allclose(errors, errors[0])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: simulate("markov", generations=2), "unknown model 'markov'"),
        (lambda: simulate("gaussian", ["swap"], generations=2), "unknown regime 'swap'"),
        (lambda: simulate("gaussian", [], generations=2), "at least one regime"),
        (lambda: simulate("gaussian", generations=0), "generations must be an integer >= 1"),
        (lambda: simulate("gaussian", generations=2, real_share=1.5), "real_share must be a number in \\[0, 1\\]"),
        (lambda: simulate("gaussian", generations=2, n=1), "n \\(samples per generation\\) must be"),
        (lambda: simulate("regression", generations=2, n=8, dim=10), "n must be at least dim \\+ 2"),
        (lambda: simulate("gaussian", generations=2, n=3, dim=5), "n must be at least dim \\+ 1"),
        (lambda: simulate("gaussian", generations=2, colour="red"), "Parameters of gaussian"),
        (lambda: simulate("ngram", generations=2, n=5, texts=["a b"] * 20, holdout=["a"]), "at least 10 texts"),
        (lambda: simulate("ngram", generations=2, n=50, texts=["a b"] * 20, holdout=["a"]), "only 20 train texts"),
        (lambda: simulate("ngram", generations=2, n=10, texts=["a b"] * 20, holdout=["a"], top_p=0), "top_p"),
    ],
)
def test_bad_input_says_what_to_fix(call, message):
    with pytest.raises(SimulationError, match=message):
        call()


def test_every_model_is_listed():
    assert MODELS == ("gaussian", "regression", "ngram", "embedding")


def test_every_model_follows_the_protocol_and_defines_what_it_measures():
    for name, cls in MODEL_CLASSES.items():
        assert cls.METRICS is METRICS[name] and cls.DEFAULT_N >= 2 and isinstance(cls.PARAMETERS, tuple)
        assert all(
            callable(getattr(cls, member))
            for member in (
                "real_data",
                "fit",
                "sample",
                "measure",
                "snapshot",
                "combine",
                "take",
                "settings",
                "reference",
            )
        )
        assert callable(getattr(cls, "points_of", None)) == cls.KEEPS_POINTS
    for model in ("gaussian", "regression"):
        instance = MODEL_CLASSES[model](n=30)
        assert isinstance(instance, SimulationModel) and not isinstance(instance, PointsModel)
        result = simulate(model, generations=1, seed=0)
        assert result.n == MODEL_CLASSES[model].DEFAULT_N
        assert list(result.metrics["metric"].unique()) == list(METRICS[model])


def test_simulation_errors_are_collapse_lab_errors_and_the_lm_keeps_value_error():
    assert issubclass(SimulationError, CollapseLabError) and issubclass(SimulationError, ValueError)
    with pytest.raises(ValueError, match="discount must be in") as plain:
        ArrayKneserNey(3, 16, discount=1.5)
    assert not isinstance(plain.value, SimulationError)  # the LM is a metric, not part of the simulator
    with pytest.raises(SimulationError, match="discount must be in \\(0, 1\\), got 1.5"):
        simulate("ngram", generations=1, n=10, texts=["a b c"] * 20, holdout=["a b"], discount=1.5)


# ------------------------------------------------------------------------------------------ CLI


def test_cli_prints_the_tidy_table(capsys):
    assert (
        main(
            [
                "simulate",
                "--model",
                "regression",
                "--regime",
                "replace",
                "--regime",
                "mix",
                "--real-share",
                "0.5",
                "--generations",
                "3",
                "--seed",
                "1",
                "--n",
                "40",
                "--format",
                "json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["regimes"] == ["replace", "mix"] and out["settings"]["real_share"] == 0.5
    expected = simulate("regression", ["replace", "mix"], generations=3, seed=1, n=40, real_share=0.5).metrics
    assert [row["value"] for row in out["metrics"]] == expected["value"].tolist()
    assert main(["simulate", "--model", "gaussian", "--generations", "2", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "model,regime,generation,metric,value" and len(lines) == 1 + 3 * 3 * 3


def test_cli_bad_input_exits_3(capsys):
    assert main(["simulate", "--model", "regression", "--generations", "2", "--n", "5"]) == 3
    assert "n must be at least dim + 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--model", "markov", "--generations", "2"])
    assert exit_info.value.code == 2


def test_average_runs_is_the_mean_of_the_seeded_runs_and_expected_curves_stack_the_closed_forms():
    from analysis.simulate import average_runs, expected_curves

    runs = [simulate("gaussian", ["replace"], generations=3, n=15, seed=s).metrics for s in (4, 5, 6)]
    mean = pd.concat(runs).groupby(["generation", "metric"])["value"].mean()
    std = pd.concat(runs).groupby(["generation", "metric"])["value"].std(ddof=1)
    table = average_runs("gaussian", ["replace"], repeats=3, seed=4, generations=3, n=15).set_index(
        ["generation", "metric"]
    )
    np.testing.assert_allclose(table["value"], mean.loc[table.index], rtol=1e-12)
    np.testing.assert_allclose(table["se"], std.loc[table.index] / np.sqrt(3), rtol=1e-12)
    with pytest.raises(SimulationError, match="repeats"):
        average_runs("gaussian", repeats=0, generations=2)

    curves = expected_curves("regression", REGIMES, generations=4, n=50)
    assert set(curves["regime"]) == {"replace", "accumulate"}  # mix has no closed form
    assert expected_curves("ngram", REGIMES, generations=2, n=50).empty
