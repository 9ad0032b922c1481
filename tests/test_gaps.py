"""Named regions and named gaps (issue 20) on a constructed case: six topics with their own words.

Vectors are explicit (a word's topic sets two map coordinates, its hash the rest), so no model
loads; the map is those two coordinates. Real data covers six topics, the synthetic set two of them:
the four others must be the named gaps, and real data against real data must show none.
"""

import json
import zlib

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.gaps import GapReport, find_gaps, is_gap
from analysis.regions import find_regions

TOPICS = {
    "sports": "football goal match team league player coach stadium referee season",
    "finance": "bank loan interest market stock bond investor credit inflation dividend",
    "cooking": "recipe oven flour butter garlic sauce onion bake kitchen pepper",
    "space": "planet orbit rocket galaxy comet telescope astronaut asteroid lunar nebula",
    "music": "guitar melody chord drummer concert album singer rhythm violin orchestra",
    "medicine": "patient doctor vaccine surgery nurse symptom clinic therapy virus diagnosis",
}
TOPIC_OF = {word: i for i, words in enumerate(TOPICS.values()) for word in words.split()}
DIM = 16


def texts_of(topics: list[str], n_per_topic: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for topic in topics:
        words = TOPICS[topic].split()
        for _ in range(n_per_topic):
            rows.append({"text": " ".join(rng.choice(words, size=6)) + f" {rng.integers(10**9)}", "label": topic})
    return pd.DataFrame(rows)


def embed_fake(texts) -> np.ndarray:
    """Deterministic vectors: the mean of the words' vectors; a topic word sits near its topic's point on a circle."""
    out = np.zeros((len(texts), DIM))
    for row, text in enumerate(texts):
        vectors = []
        for word in str(text).split():
            rng = np.random.default_rng(zlib.crc32(word.encode()))
            vector = rng.normal(0, 1.0, DIM)
            if word in TOPIC_OF:
                angle = 2 * np.pi * TOPIC_OF[word] / len(TOPICS)
                vector[:2] = 20 * np.cos(angle), 20 * np.sin(angle)
            else:
                vector[:2] = 0
            vectors.append(vector)
        out[row] = np.mean(vectors, axis=0)
    return out.astype(np.float32)


def table(real: pd.DataFrame, synthetic: dict[str, pd.DataFrame]) -> pd.DataFrame:
    real = real.assign(source="real", method="real", generation=0)
    real["split"] = np.where(np.arange(len(real)) % 8 == 0, "holdout", "train")
    parts = [real] + [frame.assign(source="synthetic", method=name, generation=1) for name, frame in synthetic.items()]
    samples = pd.concat(parts, ignore_index=True)
    samples.insert(0, "id", [f"s{i}" for i in range(len(samples))])
    return samples


def gaps_of(samples: pd.DataFrame, seed: int = 0) -> GapReport:
    vectors = embed_fake(samples["text"])
    return find_gaps(samples, vectors, xy=vectors[:, :2], seed=seed)


def test_the_missed_topics_are_the_top_named_gaps() -> None:
    samples = table(texts_of(list(TOPICS), 300, seed=1), {"llm": texts_of(["sports", "finance"], 150, seed=2)})
    report = gaps_of(samples)
    assert not report.unsupported
    gaps = report.gaps["llm"]
    assert len(gaps) == 4
    missed = {"cooking", "space", "music", "medicine"}
    assert {next(iter(gap.labels)) for gap in gaps} == missed  # each gap's uncovered samples are one missed topic
    for gap in gaps:
        topic = next(iter(gap.labels))
        assert set(gap.name.split(" / ")) <= set(TOPICS[topic].split()), gap.name  # named by its own words
        assert gap.share_covered == 0 and gap.share_covered_by_real > 0.5
        assert gap.real_uncovered == gap.labels[topic]
        assert len(gap.example_ids) == 3
        assert set(samples.set_index("id").loc[gap.example_ids, "label"]) == {topic}
    assert [gap.real_uncovered for gap in gaps] == sorted((gap.real_uncovered for gap in gaps), reverse=True)
    assert report.top("llm", 2) == gaps[:2]
    assert report.text_summary("llm").startswith("llm misses: " + gaps[0].name)
    shape = report.to_dict()
    assert set(shape["gaps"]["llm"][0]) >= {"name", "real_uncovered", "share_covered", "share_covered_by_real"}
    json.dumps(shape)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_against_real_shows_no_gap(seed: int) -> None:
    real = texts_of(list(TOPICS), 300, seed=10 + seed)
    other_real = texts_of(list(TOPICS), 60, seed=20 + seed)  # a second real sample, named as a synthetic set
    report = gaps_of(table(real, {"real-2": other_real}), seed=seed)
    assert report.gaps["real-2"] == []
    assert len(report.tested) == len(TOPICS) and not report.tested["gap"].any()


def test_the_rule_needs_a_supported_region_and_more_than_sampling() -> None:
    assert is_gap(0, 30, 40, tests=6)
    assert not is_gap(28, 30, 40, tests=6)
    assert not is_gap(0, 15, 15, tests=6)  # under 4 k holdout samples: too few to say


def test_region_names_are_deterministic_and_use_the_topic_words() -> None:
    real = texts_of(list(TOPICS), 100, seed=3)
    xy = embed_fake(real["text"])[:, :2]
    first, second = find_regions(real["text"], xy, seed=0), find_regions(real["text"], xy, seed=0)
    assert [r.name for r in first.regions] == [r.name for r in second.regions]
    assert np.array_equal(first.labels, second.labels)
    assert len(first.regions) == len(TOPICS)
    for region in first.regions:
        labels = set(real["label"].to_numpy()[first.members(region.id)])
        assert len(labels) == 1 and set(region.terms[:3]) <= set(TOPICS[labels.pop()].split())
        assert region.size == 100 and len(region.name.split(" / ")) == 3


def test_below_the_coverage_floor_regions_are_named_but_no_gap_is_claimed() -> None:
    samples = table(texts_of(list(TOPICS), 20, seed=4), {"llm": texts_of(["sports"], 30, seed=5)})
    report = gaps_of(samples)
    assert report.unsupported and report.regions and report.gaps["llm"] == []


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setattr("analysis.cli.gaps.embedded", lambda samples: embed_fake(samples["text"]))
    monkeypatch.setattr("analysis.cli.gate.embedded", lambda samples: embed_fake(samples["text"]))
    monkeypatch.setattr("analysis.gaps._default_map", lambda vectors: np.asarray(vectors)[:, :2])
    real, synthetic = tmp_path / "real.csv", tmp_path / "llm.csv"
    texts_of(list(TOPICS), 300, seed=6).to_csv(real, index=False)
    texts_of(["sports", "finance"], 150, seed=7).to_csv(synthetic, index=False)
    return str(real), str(synthetic)


def test_cli_gaps_json_lists_the_missed_topics(files, capsys) -> None:
    real, synthetic = files
    assert (
        main(["gaps", "--real", real, "--synthetic", f"llm={synthetic}", "--holdout", "0.15", "--format", "json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    gaps = out["gaps"]["llm"]
    assert len(gaps) == 4
    for gap in gaps:
        assert set(gap) == {
            "region",
            "name",
            "real_uncovered",
            "share_covered",
            "share_covered_by_real",
            "example_ids",
            "labels",
        }
        assert sum(gap["labels"].values()) == gap["real_uncovered"]
    assert {next(iter(gap["labels"])) for gap in gaps} == {"cooking", "space", "music", "medicine"}
    assert main(["gaps", "--real", real, "--synthetic", f"llm={synthetic}", "--holdout", "0.15", "--top", "2"]) == 0
    text = capsys.readouterr().out
    assert "llm misses:" in text and "Rule:" in text


def test_cli_gaps_exit_codes(files, tmp_path, capsys) -> None:
    real, synthetic = files
    with pytest.raises(SystemExit) as usage:
        main(["gaps", "--real", real, "--synthetic", "no-equals-sign"])
    assert usage.value.code == 2
    assert main(["gaps", "--real", real, "--synthetic", f"llm={synthetic}", "--top", "0"]) == 3
    assert main(["gaps", "--real", str(tmp_path / "missing.csv"), "--synthetic", f"llm={synthetic}"]) == 3
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("text\nonly one\n")
    assert main(["gaps", "--real", real, "--synthetic", f"tiny={tiny}", "--holdout", "0.15"]) == 3
    assert "error:" in capsys.readouterr().err


def test_check_says_what_each_set_misses(files, capsys) -> None:
    real, synthetic = files
    code = main(["check", "--real", real, "--synthetic", f"llm={synthetic}", "--holdout", "0.15", "--no-mauve"])
    assert code in (0, 1, 2)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("llm misses: "))
    assert len(line.removeprefix("llm misses: ").split(", ")) == 4
    for topic in ("cooking", "space", "music", "medicine"):
        assert any(word in line for word in TOPICS[topic].split())


@pytest.mark.slow  # the app on the built demo
def test_tail_coverage_page_names_what_each_demo_set_misses() -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=600).run()
    at.switch_page("pages/tail_coverage.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "What each set misses" in [s.value for s in at.subheader]
    assert any(m.value.startswith("**llm g3 misses: ") for m in at.markdown)
    gaps = next(d.value for d in at.dataframe if "real uncovered" in d.value.columns)
    assert {"llm", "llm g3"} <= set(gaps["set"]) and (gaps["covered"] < gaps["covered by real"]).all()
    assert gaps["examples"].str.len().gt(0).all()


def test_region_names_on_the_map_do_not_overlap() -> None:
    from analysis.regions import Region, label_positions

    regions = [Region(i, f"name number {i}", ("a",), 100 - i, 0.0 + 0.01 * i, 0.0) for i in range(5)]
    regions.append(Region(9, "far away", ("b",), 10, 9.0, 9.0))
    labels = label_positions(regions, x_range=(0, 10), y_range=(0, 10), width_px=700, height_px=520)
    assert list(labels["region"][:3]) == [0, 1, 2] and 9 in set(labels["region"])  # nudged down, up, then dropped
    assert len(labels) == 4 and labels["y"].nunique() == 4


def test_a_large_map_is_named_from_the_fitted_sample_and_every_point_joins_a_region(monkeypatch) -> None:
    from analysis import regions as regions_module

    real = texts_of(list(TOPICS), 100, seed=3)
    xy = embed_fake(real["text"])[:, :2]
    monkeypatch.setattr(regions_module, "FIT_AT_MOST", 300)  # 600 points: HDBSCAN on a sample of 300
    named = []
    ctfidf = regions_module.ctfidf_terms
    monkeypatch.setattr(
        regions_module,
        "ctfidf_terms",
        lambda texts, labels, **kw: named.append(len(texts)) or ctfidf(texts, labels, **kw),
    )
    found = find_regions(real["text"], xy, seed=0)
    assert named == [300]  # only the sample's texts are read for the names
    assert len(found.regions) == len(TOPICS) and sum(region.size for region in found.regions) == len(real)
    for region in found.regions:  # every point, fitted or not, is in its topic's region
        labels = set(real["label"].to_numpy()[found.members(region.id)])
        assert len(labels) == 1 and set(region.terms[:3]) <= set(TOPICS[labels.pop()].split())


def test_region_names_are_stored_beside_the_map_and_read_back_without_clustering(tmp_path, monkeypatch) -> None:
    from analysis import gaps as gaps_module

    real = texts_of(list(TOPICS), 60, seed=3)
    texts, xy = list(real["text"]), embed_fake(real["text"])[:, :2]
    first = gaps_module.region_map(texts, xy, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    gaps_module._REGIONS.clear()  # a new process: nothing in memory
    monkeypatch.setattr(gaps_module, "find_regions", lambda *a, **k: pytest.fail("clustered although cached"))
    again = gaps_module.region_map(texts, xy, cache_dir=tmp_path)
    assert again.regions == first.regions and np.array_equal(again.labels, first.labels)
    # the caller's key for the texts replaces hashing them; another map or seed is another entry
    with pytest.raises(pytest.fail.Exception):
        gaps_module.region_map(texts, xy + 1.0, cache_dir=tmp_path)
    with pytest.raises(pytest.fail.Exception):
        gaps_module.region_map(texts, xy, seed=1, cache_dir=tmp_path)
    with pytest.raises(pytest.fail.Exception):
        gaps_module.region_map(texts, xy, texts_key="dataset abc real samples", cache_dir=tmp_path)
    # a damaged file is recomputed, not trusted
    monkeypatch.undo()
    gaps_module._REGIONS.clear()
    next(tmp_path.glob("*.npz")).write_bytes(b"not a file of regions")
    assert gaps_module.region_map(texts, xy, cache_dir=tmp_path).regions == first.regions
