"""Filling a named gap (issue 33, part 1): the bookkeeping on constructed topics, and the demo with the local model.

The fast tests reuse the constructed topics of ``test_gaps`` (each topic a Gaussian cluster of its own words,
:func:`tests.test_gaps.embed_fake`) and a scripted backend whose answers use the words of its prompt, so a
new sample lands where its prompt came from and no model loads. One answer in every few is a real sample's
text: it must be dropped as a copy and counted.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.fill import FillError, fill_gap, resolve_region
from analysis.generate.backends import Completion
from analysis.maps.gaps import find_gaps
from tests.test_gaps import SHARES, TOPICS, embed_fake, table, texts_of

DROPPED = "medicine"


class EchoBackend:
    """Answers with the words of its prompt's last text, shuffled (so the answer lands in that text's topic);
    every ``copy_every``-th answer is instead a real text from ``copies`` (an exact copy of a real sample)."""

    name, model = "echo", "none"

    def __init__(self, copies: list[str] = (), copy_every: int = 0):
        self.copies, self.copy_every, self.calls = list(copies), copy_every, 0
        self.prompts: list[list[dict[str, str]]] = []

    def complete_many(self, requests):
        answers = []
        for request in requests:
            self.calls += 1
            self.prompts.append(request.messages)
            if self.copy_every and self.calls % self.copy_every == 0 and self.copies:
                answers.append(Completion(self.copies.pop(0)))
                continue
            shown = [m["content"] for m in request.messages if m["role"] == "assistant"] or [
                request.messages[-1]["content"].split("\n\n", 1)[-1]
            ]
            words = [w for w in re.findall(r"[a-z]+", shown[-1].lower())]
            rng = np.random.default_rng(request.seed)
            answers.append(Completion(" ".join(rng.permutation(words)) + f" new {request.seed}"))
        return answers


@pytest.fixture(scope="module")
def dataset() -> tuple[pd.DataFrame, np.ndarray]:
    real = texts_of(SHARES, seed=3)
    synthetic = texts_of({topic: 40 for topic in TOPICS if topic != DROPPED}, seed=4)  # 200, none of medicine
    samples = table(real, {"llm": synthetic})
    return samples, embed_fake(samples["text"])


def medicine_gap(samples, vectors):
    report = find_gaps(samples, vectors)
    gaps = [gap for gap in report.gaps["llm"] if gap.labels and next(iter(gap.labels)) == DROPPED]
    assert gaps, report.text_summary("llm")
    return report, gaps[0]


@pytest.mark.parametrize("method", ["llm", "paraphrase"])
def test_fill_aims_at_the_gap_and_keeps_the_books(dataset, method) -> None:
    samples, vectors = dataset
    report, gap = medicine_gap(samples, vectors)
    real_texts = samples.loc[samples["source"] == "real", "text"].tolist()
    backend = EchoBackend(copies=real_texts[:5], copy_every=4)  # the 4th and 8th answers copy real samples
    stages = []
    result = fill_gap(
        samples,
        vectors,
        gap,
        method=method,
        n=8,
        backend=backend,
        embed=embed_fake,
        on_stage=lambda stage, text: stages.append(stage),
    )
    assert result.set == "llm" and result.region == gap.region and result.name == gap.name
    assert result.generated == 8 and result.dropped_copies == 2 and result.kept == 6
    assert len(result.samples) == 6 and len(result.dropped) == 2
    assert not set(result.samples["text"]) & set(real_texts) and set(result.dropped["text"]) <= set(real_texts)
    # the new rows join the set: its method and generation, a gap column, the generator used
    new = result.samples
    assert set(new["method"]) == {"llm"} and set(new["generation"]) == {1} and set(new["source"]) == {"synthetic"}
    assert set(new["gap"]) == {gap.name} and set(new["fill_method"]) == {method}
    assert new["id"].is_unique and not set(new["id"]) & set(samples["id"])
    region_real = set(samples["id"][(report.region_of == gap.region) & (samples["split"] == "train").to_numpy()])
    if method == "paraphrase":
        assert new["parent_id"].notna().all() and set(new["parent_id"]) <= region_real
    else:
        assert new["parent_id"].isna().all() and set(new["label"]) == {DROPPED}
        shown = {m["content"] for prompt in backend.prompts for m in prompt if m["role"] == "assistant"}
        assert shown and shown <= set(samples.loc[samples["id"].isin(region_real), "text"])
        assert all(gap.name in prompt[-1]["content"] for prompt in backend.prompts)  # the gap's name is the topic
    # where they landed, and the gap before and after
    assert result.landed_in_gap == 6 and result.landed == {gap.name: 6}
    assert result.before["gap"] and result.before["set_share"] == pytest.approx(gap.set_share)
    assert result.before["set_size"] == 200 and result.after["set_size"] == 206
    assert result.after["set_count"] == result.before["set_count"] + 6
    assert result.after["set_share"] > result.before["set_share"]
    assert result.after["real_share"] == pytest.approx(result.before["real_share"])
    assert result.still_gap  # 6 samples cannot fill a tenth of 206 (the real share): honest
    assert "still a gap" in result.sentence() and "2 dropped as copies" in result.sentence()
    assert stages[0] == "measure" and stages[-3:] == ["check", "remeasure", "done"] and "generated" in stages
    assert list(result.table()[""]) == ["before", "after"]
    json.dumps(result.to_dict())


def test_enough_samples_close_the_gap(dataset) -> None:
    samples, vectors = dataset
    _, gap = medicine_gap(samples, vectors)
    result = fill_gap(samples, vectors, gap, method="paraphrase", n=40, backend=EchoBackend(), embed=embed_fake)
    assert result.kept == 40 and result.landed_in_gap >= 38
    assert result.closed and not result.still_gap and result.gaps_after < result.gaps_before
    assert "no longer a gap" in result.sentence()


def test_paraphrase_rewrites_the_regions_samples_the_set_misses_most(dataset) -> None:
    samples, vectors = dataset
    # a set that has medicine samples close to some real ones: those are not the ones rewritten
    report = find_gaps(samples, vectors)
    region = next(r.id for r in report.regions if r.labels and r.labels[0] == DROPPED)
    backend = EchoBackend()
    result = fill_gap(
        samples, vectors, region, set_name="llm", method="paraphrase", n=3, backend=backend, embed=embed_fake
    )
    assert result.region == region and result.kept == 3
    assert set(result.samples["parent_id"]) <= set(samples["id"])


def test_regions_are_found_by_number_or_name_and_bad_requests_say_why(dataset) -> None:
    samples, vectors = dataset
    report = find_gaps(samples, vectors)
    region = report.regions[2]
    assert resolve_region(report, region.id) == region.id
    assert resolve_region(report, str(region.id)) == region.id
    assert resolve_region(report, region.name.upper()) == region.id
    with pytest.raises(FillError, match="no region 99"):
        resolve_region(report, 99)
    with pytest.raises(FillError, match="matches no region"):
        resolve_region(report, "no such words")
    with pytest.raises(FillError, match="no synthetic set 'nope'"):
        fill_gap(samples, vectors, 0, set_name="nope", backend=EchoBackend(), embed=embed_fake)
    with pytest.raises(FillError, match="Unknown fill method"):
        fill_gap(samples, vectors, 0, method="rule-based", embed=embed_fake)


@pytest.fixture
def files(dataset, tmp_path):
    samples, _ = dataset
    real = samples[samples["source"] == "real"][["text", "label"]]
    synthetic = samples[samples["source"] == "synthetic"][["text", "label"]]
    real_path, synthetic_path = tmp_path / "real.csv", tmp_path / "llm.csv"
    real.to_csv(real_path, index=False)
    synthetic.to_csv(synthetic_path, index=False)
    return str(real_path), str(synthetic_path)


def test_cli_fill_writes_the_new_samples_and_says_before_and_after(files, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("analysis.cli.fill.embedded", lambda samples: embed_fake(samples["text"]))
    monkeypatch.setattr("analysis.cli.fill.embedder", lambda: embed_fake)
    monkeypatch.setattr("analysis.cli.fill.backend_of", lambda name: EchoBackend())
    real, synthetic = files
    out = tmp_path / "fill.csv"
    args = ["fill", "--real", real, "--synthetic", f"llm={synthetic}", "--gap", DROPPED, "--n", "5"]
    assert main([*args, "--method", "paraphrase", "--out", str(out), "--format", "json"]) == 0
    captured = capsys.readouterr()
    [result] = json.loads(captured.out)
    assert result["kept"] == 5 and result["landed_in_gap"] == 5 and result["after"]["set_count"] > 0
    assert "measure" in captured.err and "remeasure" in captured.err  # a progress line per stage
    written = pd.read_csv(out)
    assert len(written) == 5 and set(written["gap"]) == {result["name"]} and set(written["method"]) == {"llm"}

    out_all = tmp_path / "all.csv"
    assert (
        main(
            [
                "fill",
                "--real",
                real,
                "--synthetic",
                f"llm={synthetic}",
                "--gap",
                "all",
                "--n",
                "4",
                "--out",
                str(out_all),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "kept" in text and "of llm" in text
    assert len(pd.read_csv(out_all)) >= 4


def test_cli_fill_exit_codes(files, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr("analysis.cli.fill.embedded", lambda samples: embed_fake(samples["text"]))
    monkeypatch.setattr("analysis.cli.fill.embedder", lambda: embed_fake)
    monkeypatch.setattr("analysis.cli.fill.backend_of", lambda name: EchoBackend())
    real, synthetic = files
    out = str(tmp_path / "x.csv")
    base = ["fill", "--real", real, "--synthetic", f"llm={synthetic}", "--out", out]
    with pytest.raises(SystemExit) as exit_info:
        main([*base, "--gap", DROPPED, "--method", "rule-based"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["fill", "--real", real, "--gap", "0", "--out", out])
    assert exit_info.value.code == 2
    assert main([*base, "--gap", DROPPED, "--n", "0"]) == 3
    assert main([*base, "--gap", "no such region"]) == 3
    assert main([*base, "--gap", "99"]) == 3
    assert (
        main(
            [
                "fill",
                "--real",
                str(tmp_path / "missing.csv"),
                "--synthetic",
                f"llm={synthetic}",
                "--gap",
                "0",
                "--out",
                out,
            ]
        )
        == 3
    )
    assert "error:" in capsys.readouterr().err


TOPIC = "Mathematics"  # 2.6 % of the demo's real data, and a topic the small model writes about


def test_fill_on_the_demo_with_the_local_model(demo_embedded) -> None:
    """The issue's end-to-end case: the demo's paraphrase set with every sample of one topic removed, filled
    with six samples from the local model. Most kept samples land in the topic's region and its share rises;
    six samples do not close a gap of a 2.6 % topic in a set of ~975, and the result says so."""
    samples, vectors = demo_embedded
    keep = (samples["source"] == "real") | (
        (samples["method"] == "paraphrase") & (samples["generation"] == 1) & (samples["label"] != TOPIC)
    )
    rows = np.flatnonzero(keep.to_numpy())
    samples, vectors = samples.iloc[rows].reset_index(drop=True), vectors[rows]
    report = find_gaps(samples, vectors)
    [gap] = [gap for gap in report.gaps["paraphrase"] if gap.labels and next(iter(gap.labels)) == TOPIC]
    result = fill_gap(samples, vectors, gap, method="llm", n=6, before=report)
    print(json.dumps({k: v for k, v in result.to_dict().items() if k != "sentence"}, default=str))
    print(result.sentence())
    assert result.generated == 6 and result.kept + result.dropped_copies == 6
    assert result.kept >= 4  # the model writes new text, not copies of its examples
    assert result.landed_in_gap >= (result.kept + 1) // 2  # most kept samples land in the topic's region
    assert result.after["set_share"] > result.before["set_share"]
    # the set's own samples are re-placed among folds dealt for its new size: a border sample may move
    assert abs(result.after["set_count"] - result.before["set_count"] - result.landed_in_gap) <= 2
    assert set(result.samples["gap"]) == {gap.name} and set(result.samples["method"]) == {"paraphrase"}
