"""The mixture designer's engine: sampling, exact metrics, frontier, suggestion, export, CLI.

Real demo texts and their MiniLM vectors built at install (data/demo/embeddings), so no model runs here.
"""

import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.corpus import combine_samples, samples_from_frame
from analysis.judge.compare import BASELINE
from analysis.metrics import fidelity
from analysis.mixture import (
    ALARM_SHARE,
    EXACT,
    STRATEGIES,
    WARNING_SHARE,
    MixtureEngine,
    MixtureError,
    MixtureSpec,
    export_mixture,
    frontier,
    guardrail,
    metrics_from_scratch,
    rows_from_manifest,
    sample_mixture,
    suggest,
)
from analysis.mixture.kernels import allocate
from analysis.vectors.embed import embed


@pytest.fixture(scope="module")
def small(demo_embedded):
    """About 1,400 samples: 30 per (method, label) of the demo, so about 37 real holdout samples."""
    samples, vectors = demo_embedded
    keep = samples.groupby(["method", "label"]).head(30).index.to_numpy()
    return samples.iloc[keep].reset_index(drop=True), vectors[keep]


@pytest.fixture(scope="module")
def engine(small):
    return MixtureEngine(*small)


def random_specs(engine, count, seed):
    rng = np.random.default_rng(seed)
    names = engine.set_names[1:]
    for _ in range(count):
        weights = {name: float(w) for name, w in zip(names, rng.dirichlet(np.ones(len(names)))) if rng.random() < 0.8}
        yield MixtureSpec(
            size=int(rng.integers(20, 700)),
            real_share=float(rng.choice([0, 1, rng.random()])),
            weights=weights or {names[0]: 1.0},
            strategy=str(rng.choice(STRATEGIES)),
            seed=int(rng.integers(0, 5)),
        )


def check_exact(engine, samples, vectors, spec):
    try:
        values = engine.metrics(spec)
    except MixtureError:
        return False
    rows = sample_mixture(engine, spec)
    assert len(rows) == spec.size
    expected = metrics_from_scratch(
        samples, vectors, engine.holdout_rows, rows, cover=engine.cover, recipe=engine.recipe(spec)
    )
    assert set(expected) == set(values)
    assert set(values) <= EXACT | {f"coverage bin {b}" for b in range(engine.bins)}
    for name, value in expected.items():
        assert values[name] == pytest.approx(value, abs=1e-9, rel=0, nan_ok=True), (name, spec)
    return True


def test_the_engine_equals_the_metrics_from_scratch_on_random_mixtures(small, engine):
    samples, vectors = small
    checked = sum(check_exact(engine, samples, vectors, spec) for spec in random_specs(engine, 14, seed=7))
    assert checked >= 8  # the rest asked for more rows than a set holds, which raises (tested below)


def test_cross_fitted_coverage_equals_the_metrics_from_scratch_on_random_mixtures(small):
    """Each fold's balls count the synthetic rows and the real recipe drawn from outside the fold:
    the engine's hit counts equal CoverageReference.covered_with_real on every mixture."""
    samples, vectors = small
    crossfit = MixtureEngine(samples, vectors, coverage="crossfit")
    assert crossfit.cover.folds == 2 and crossfit.cover.size == int((samples["source"] == "real").sum())
    checked = sum(check_exact(crossfit, samples, vectors, spec) for spec in random_specs(crossfit, 14, seed=8))
    assert checked >= 8
    everything = MixtureSpec(size=200, real_share=1.0)
    holdout = MixtureEngine(samples, vectors, coverage="holdout")
    assert crossfit.metrics(everything)["coverage"] < holdout.metrics(everything)["coverage"]


def test_recall_is_exact_when_radii_are_computed_directly(small):
    """With short neighbour lists most radii fall off their list: the direct path must agree too."""
    samples, vectors = small
    short = MixtureEngine(samples, vectors, neighbours=6)
    spec = MixtureSpec(size=300, real_share=0.3, weights={"rule-based": 1, "llm": 1})
    assert check_exact(short, samples, vectors, spec)
    assert short.last_direct_rows > 50


def test_rows_are_deterministic_real_train_only_and_nested(small, engine):
    samples, _ = small
    spec = MixtureSpec(size=400, real_share=0.6, weights={"llm": 2, "paraphrase": 1}, seed=4)
    rows = sample_mixture(engine, spec)
    assert np.array_equal(rows, sample_mixture(engine, MixtureSpec.from_dict(spec.to_dict())))
    chosen = samples.iloc[rows]
    assert (chosen["split"][chosen["source"] == "real"] == "train").all()  # the holdout is never mixed in
    assert not np.isin(engine.holdout_rows, rows).any()
    assert chosen["method"].value_counts().to_dict() == {"real": 240, "llm": 107, "paraphrase": 53}
    counts = engine.counts(spec)
    assert list(counts) == engine.set_names and counts[BASELINE] == 240
    assert {name: n for name, n in counts.items() if n} == {BASELINE: 240, "llm": 107, "paraphrase": 53}
    more_real = sample_mixture(engine, MixtureSpec(size=400, real_share=0.75, weights=spec.weights, seed=4))
    real = lambda r: set(r[samples["source"].to_numpy()[r] == "real"])  # noqa: E731
    assert real(rows) < real(more_real)  # a slider move adds rows; it does not redraw them
    assert not np.array_equal(
        rows, sample_mixture(engine, MixtureSpec(size=400, real_share=0.6, weights=spec.weights, seed=5))
    )


def test_largest_remainder_allocation_with_caps():
    assert allocate(10, np.array([1.0, 1.0, 1.0]), np.array([99, 99, 99])).tolist() == [4, 3, 3]
    assert allocate(7, np.array([0.5, 0.25, 0.25]), np.array([99, 99, 99])).tolist() == [3, 2, 2]  # 3.5, 1.75, 1.75
    # the first set holds 2: the rest goes to the others, by weight
    assert allocate(10, np.array([2.0, 1.0, 1.0]), np.array([2, 99, 99])).tolist() == [2, 4, 4]
    assert allocate(5, np.array([1.0, 0.0]), np.array([9, 9])).tolist() == [5, 0]


def test_impossible_mixtures_say_what_to_change(engine):
    with pytest.raises(
        MixtureError,
        match=(
            r"needs 900 synthetic samples but the sets with a weight above 0 hold \d+ \(llm g2 "
            r".*Lower the size to at most"
        ),
    ):
        engine.metrics(MixtureSpec(size=1000, real_share=0.1, weights={"llm g2": 1}))
    with pytest.raises(MixtureError, match=r"real samples but the real train split has \d+.*load more real data"):
        engine.metrics(MixtureSpec(size=1000, real_share=0.9))
    with pytest.raises(MixtureError, match="No synthetic set named 'gpt'; the sets are 'llm', "):
        engine.rows(MixtureSpec(size=100, weights={"gpt": 1}))
    with pytest.raises(MixtureError, match="Every synthetic weight is 0"):
        engine.rows(MixtureSpec(size=100, real_share=0.5, weights={"llm": 0}))
    with pytest.raises(MixtureError, match="too small"):
        engine.rows(MixtureSpec(size=3, real_share=1.0))
    with pytest.raises(MixtureError, match="between 0 and 1"):
        MixtureSpec(size=100, real_share=1.5)
    with pytest.raises(MixtureError, match="Unknown strategy 'smart'; use one of uniform, dedup, tail-aware"):
        MixtureSpec(size=100, strategy="smart")
    with pytest.raises(MixtureError, match="must be a number >= 0"):
        MixtureSpec(size=100, weights={"llm": -1})
    with pytest.raises(MixtureError, match="Unknown mixture settings: colour"):
        MixtureSpec.from_dict({"size": 10, "colour": "red"})


def test_dedup_drops_copies_of_real_and_repeats_within_a_set(small):
    samples, vectors = small
    train = samples[(samples["source"] == "real") & (samples["split"] == "train")]
    copies = samples_from_frame(pd.DataFrame({"text": train["text"].iloc[:20].tolist()}), method="copies")[0]
    fresh = samples[samples["method"] == "llm"]["text"].iloc[:30].tolist()
    # near-repeats: the loader drops exact repeats, so each variant gets its original's vector
    repeats = samples_from_frame(pd.DataFrame({"text": fresh + [t + " (copy)" for t in fresh[:10]]}), method="repeats")[
        0
    ]
    both = combine_samples(samples, copies, repeats)[0]
    both_vectors = embed(both["text"].str.removesuffix(" (copy)"))
    engine = MixtureEngine(both, both_vectors)
    real = both_vectors[(both["source"] == "real").to_numpy()]
    similarity, _ = fidelity.nearest_similarity(embed(fresh), real)
    novel = int((similarity < 0.95).sum())  # fresh texts that are not near-copies of a real one
    assert novel >= 20
    with pytest.raises(MixtureError, match=r"hold 0 after removing near-copies \(copies 0\)"):
        engine.rows(MixtureSpec(size=10, real_share=0.0, weights={"copies": 1}, strategy="dedup"))
    rows = engine.rows(MixtureSpec(size=novel, real_share=0.0, weights={"repeats": 1}, strategy="dedup"))
    assert both["text"].iloc[rows].str.removesuffix(" (copy)").nunique() == novel  # each repeated text once
    with pytest.raises(MixtureError, match=f"hold {novel} after removing near-copies"):
        engine.rows(MixtureSpec(size=novel + 1, real_share=0.0, weights={"repeats": 1}, strategy="tail-aware"))
    assert len(engine.rows(MixtureSpec(size=40, real_share=0.0, weights={"repeats": 1}))) == 40  # uniform keeps them


def test_tail_aware_covers_the_tail_at_least_as_well_as_uniform_on_the_demo(demo_embedded):
    engine = MixtureEngine(*demo_embedded)
    for size, share in ((600, 0.2), (1500, 0.3)):
        weights = {"rule-based": 1, "paraphrase": 1, "llm": 1}
        uniform = engine.metrics(MixtureSpec(size=size, real_share=share, weights=weights))
        tail = engine.metrics(MixtureSpec(size=size, real_share=share, weights=weights, strategy="tail-aware"))
        for metric in ("tail coverage (rarest 10%)", "tail coverage (rarest 30%)"):
            assert tail[metric] >= uniform[metric], (size, share, metric)
        tail_bins = [f"coverage bin {b}" for b in range(7, 10)]
        assert sum(tail[b] >= uniform[b] for b in tail_bins) >= 2


def test_guardrail_thresholds():
    assert guardrail(0.7)[0] == "ok" and guardrail(WARNING_SHARE)[0] == "ok"
    level, reason = guardrail(0.25)
    assert level == "warning" and "25%" in reason and "30%" in reason
    assert guardrail(ALARM_SHARE)[0] == "warning"
    level, reason = guardrail(0.15)
    assert level == "alarm" and "15%" in reason and "20%" in reason and reason.endswith("raise the real share.")
    assert guardrail(0.0)[0] == "alarm"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_manifest_rebuilds_the_same_rows(small, engine, tmp_path, fmt):
    samples, _ = small
    spec = MixtureSpec(size=250, real_share=0.4, weights={"llm": 1, "rule-based": 3}, strategy="tail-aware", seed=2)
    rows = sample_mixture(engine, spec)
    metrics = engine.metrics(spec)
    manifest = export_mixture(samples, rows, spec, tmp_path / f"mix.{fmt}", metrics=metrics)
    on_disk = json.loads((tmp_path / f"mix.{fmt}.manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert manifest["counts"]["source"] == {"real": 100, "synthetic": 150}
    assert manifest["counts"]["set"] == {BASELINE: 100, "llm": 38, "rule-based": 112}
    assert manifest["spec"] == spec.to_dict() and manifest["metrics"]["coverage"] == metrics["coverage"]
    assert manifest["package_version"] and len(manifest["inputs"]["samples_sha256"]) == 64
    assert np.array_equal(rows_from_manifest(samples, tmp_path / f"mix.{fmt}.manifest.json"), rows)
    assert np.array_equal(sample_mixture(engine, MixtureSpec.from_dict(on_disk["spec"])), rows)
    written = {"csv": pd.read_csv, "jsonl": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet}[fmt](
        tmp_path / f"mix.{fmt}"
    )
    assert written["id"].astype(str).tolist() == samples["id"].iloc[rows].tolist()
    changed = samples.copy()
    changed.loc[0, "text"] = "edited"
    with pytest.raises(MixtureError, match="not the ones the mixture was drawn from"):
        rows_from_manifest(changed, manifest)


def test_frontier_and_suggest(engine):
    spec = MixtureSpec(size=300, real_share=0.65, weights={"llm": 1, "paraphrase": 1})
    table = frontier(engine, spec)
    assert len(table) == 12 and table["current"].sum() == 1
    assert table.loc[table["current"], "real_share"].item() == 0.65
    assert table["ok"].all() and table["coverage"].between(0, 1).all()
    assert table.loc[table["current"], "vendi"].item() == pytest.approx(engine.metrics(spec)["vendi"])
    best, text = suggest(engine, 300, 0.3, max_points=10)
    assert best.real_share == 0.3 and best.strategy in ("uniform", "dedup", "tail-aware")
    assert "rarest tenth" in text and "mixtures compared" in text
    # it names the real data it ranked on: the engine's coverage reference
    on = "the real holdout" if engine.cover.fold is None else "the real data (cross-fitted)"
    assert f"rarest tenth of {on}" in text and "slightly optimistic" in text
    best_values = engine.metrics(best)
    for strategy in STRATEGIES:  # a point of the grid (one set, weight 1) cannot beat the best
        other = engine.metrics(MixtureSpec(size=300, real_share=0.3, weights={"paraphrase": 1.0}, strategy=strategy))
        assert best_values["tail coverage (rarest 10%)"] >= other["tail coverage (rarest 10%)"]


def test_spec_round_trips_and_hashes():
    spec = MixtureSpec(size=100, real_share=0.5, weights={"llm g2": 1}, strategy="dedup", seed=3)
    assert MixtureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert hash(spec) == hash(MixtureSpec.from_dict(spec.to_dict()))


def test_mix_on_the_command_line(small, tmp_path, capsys):
    samples, _ = small
    real = samples[samples["source"] == "real"][["text", "label"]]
    real.to_csv(tmp_path / "real.csv", index=False)
    llm = samples[samples["method"] == "llm"][["text"]].iloc[:150]
    llm.to_json(tmp_path / "llm.jsonl", orient="records", lines=True)
    rules = samples[samples["method"] == "rule-based"][["text"]].iloc[:150]
    rules.to_csv(tmp_path / "rules.csv", index=False)
    out = tmp_path / "mixture.parquet"
    args = [
        "mix",
        "--real",
        str(tmp_path / "real.csv"),
        "--synthetic",
        f"llm={tmp_path / 'llm.jsonl'}",
        f"rules={tmp_path / 'rules.csv'}",
        "--size",
        "200",
        "--real-share",
        "0.25",
        "--weights",
        "llm=1,rules=3",
        "--strategy",
        "dedup",
        "--seed",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"] == {BASELINE: 50, "llm": 38, "rules": 112}
    assert result["guardrail"]["level"] == "warning" and 0 <= result["metrics"]["coverage"] <= 1
    assert "recall" in result["exact"] and result["approximate"] == {}
    manifest = json.loads((tmp_path / "mixture.parquet.manifest.json").read_text())
    assert len(pd.read_parquet(out)) == 200 and manifest["spec"]["strategy"] == "dedup"
    assert [f["method"] for f in manifest["inputs"]["files"] if f["source"] == "synthetic"] == ["llm", "rules"]

    assert main(args[:-2] + ["--size", "100000"]) == 3
    assert "Lower the size" in capsys.readouterr().err


def test_mix_protects_the_named_gaps_on_the_command_line(small, tmp_path, capsys):
    """``mix --protect-gaps``: the named gaps of the mixed sets (as ``gaps`` finds them) keep the least real data that
    gives each its real share of the mixture, said in the gaps' words; ``--keep`` sets the share instead."""
    samples, _ = small
    samples[samples["source"] == "real"][["text", "label"]].to_csv(tmp_path / "real.csv", index=False)
    llm = samples[(samples["method"] == "llm") & (samples["label"] != "Geography")][["text"]]
    llm.to_csv(tmp_path / "llm.csv", index=False)
    out = tmp_path / "mixture.csv"
    args = ["mix", "--real", str(tmp_path / "real.csv"), "--synthetic", f"llm={tmp_path / 'llm.csv'}"]
    args += ["--size", "200", "--real-share", "0.3", "--protect-gaps", "--out", str(out)]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    geography = [said for said in result["protected"] if said.startswith("Geography")]
    assert len(geography) == 1 and "of the mixture" in geography[0] and "without protection" in geography[0]
    real, mixed = (float(re.search(rf"([0-9.]+)% of {w}", geography[0]).group(1)) for w in ("real", "the mixture"))
    assert mixed >= real  # both rounded alike
    spec = result["spec"]
    assert 0 < spec["keep"] < 1 and len(spec["protect"]) == len(result["protected"])
    assert result["counts"][BASELINE] > 60  # the kept real rows took synthetic rows' place
    manifest = json.loads((tmp_path / "mixture.csv.manifest.json").read_text())
    assert manifest["spec"]["protect"] == spec["protect"] and manifest["spec"]["keep"] == spec["keep"]

    assert main(args[:-2] + ["--keep", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out)["spec"]["keep"] == 0.5
    assert main([a for a in args[:-2] if a != "--protect-gaps"] + ["--keep", "0.5"]) == 3
    assert "add --protect-gaps" in capsys.readouterr().err


def test_the_designer_views_review_tail_bins_and_export(small, engine):
    from analysis.mixture import baseline_spec, export_bytes, review, tail_bins

    samples, _ = small
    spec = MixtureSpec(size=60, real_share=0.1, strategy="uniform", seed=2)
    table, fired = review(engine, spec)
    mixture, base = engine.metrics(spec), engine.metrics(baseline_spec(engine, spec))
    assert dict(zip(table["metric"], table["value"])) == {m: mixture[m] for m in table["metric"]}
    assert dict(zip(table["metric"], table["baseline"])) == {m: base[m] for m in table["metric"]}
    assert set(fired["set"]) <= {"mixture"} and fired["metric"].isin(table["metric"]).all()

    bins = tail_bins(engine, spec)
    assert set(bins["set"]) == {"mixture", BASELINE} and len(bins) == 2 * engine.bins
    mine = bins[bins["set"] == "mixture"]
    assert np.allclose(mine["coverage"], [mixture[f"coverage bin {b}"] for b in range(engine.bins)])
    assert (mine["real"].sum() == engine.cover.size) and (mine["rarity_from"] <= mine["rarity_to"]).all()

    name, data, manifest = export_bytes(samples, engine.rows(spec), spec, "jsonl", metrics=mixture)
    assert name == "mixture.jsonl" and len(data.splitlines()) == 60
    assert np.array_equal(rows_from_manifest(samples, json.loads(manifest)), engine.rows(spec))


def test_the_engine_has_its_name_and_the_old_one_still_imports_with_a_warning():
    import analysis.mixture
    from analysis.errors import CollapseLabError

    with pytest.warns(DeprecationWarning, match="MixturePreview is now analysis.mixture.MixtureEngine"):
        from analysis.mixture import MixturePreview
    assert MixturePreview is MixtureEngine and "MixturePreview" not in analysis.mixture.__all__
    with pytest.raises(AttributeError):
        analysis.mixture.MixtureMaker  # noqa: B018
    assert issubclass(MixtureError, CollapseLabError) and issubclass(MixtureError, ValueError)
