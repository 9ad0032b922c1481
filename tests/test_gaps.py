"""Named gaps (issue 30): occupancy of the real data's regions, on constructed cases with known missing topics.

Vectors are explicit, so no model loads: each topic is a seeded Gaussian cluster around its own
direction (:func:`embed_fake`, keyed by the text, so the command line embeds the same way), and a
topic's texts use its own words. Real data covers six topics of unequal size; a synthetic set that
has no text of a topic must name that topic's regions, and real data against real data must name none.
"""

import json
import zlib

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.maps.gaps import (
    GapReport,
    bh_reject,
    cross_fit_places,
    find_gaps,
    named_if_absent,
    occupancy_pvalues,
    place,
    real_regions,
)
from analysis.maps.regions import (
    ctfidf_terms,
    find_regions,
    fit_regions,
    main_labels,
    region_count,
    unit_rows,
    usable_labels,
)

TOPICS = {
    "sports": "football goal match team league player coach stadium referee season",
    "finance": "bank loan interest market stock bond investor credit inflation dividend",
    "cooking": "recipe oven flour butter garlic sauce onion bake kitchen pepper",
    "space": "planet orbit rocket galaxy comet telescope astronaut asteroid lunar nebula",
    "music": "guitar melody chord drummer concert album singer rhythm violin orchestra",
    "medicine": "patient doctor vaccine surgery nurse symptom clinic therapy virus diagnosis",
}
TOPIC_OF = {word: i for i, words in enumerate(TOPICS.values()) for word in words.split()}
#: Real samples per topic at 1,000 real samples: every topic holds at least 10 %.
SHARES = {"sports": 250, "finance": 200, "cooking": 150, "space": 150, "music": 150, "medicine": 100}
DIM = 32
CENTRES = np.random.default_rng(123).normal(0, 1, (len(TOPICS), DIM))
CENTRES /= np.linalg.norm(CENTRES, axis=1, keepdims=True)


def texts_of(counts: dict[str, int], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for topic, n in counts.items():
        words = TOPICS[topic].split()
        for _ in range(n):
            rows.append({"text": " ".join(rng.choice(words, size=6)) + f" {rng.integers(10**9)}", "label": topic})
    return pd.DataFrame(rows)


def embed_fake(texts, noise: float = 0.0) -> np.ndarray:
    """A topic's Gaussian cluster (its centre plus unit-scale noise seeded by the text); ``noise`` more on top."""
    out = np.zeros((len(texts), DIM))
    for row, text in enumerate(texts):
        topic = next((TOPIC_OF[word] for word in str(text).split() if word in TOPIC_OF), 0)
        rng = np.random.default_rng(zlib.crc32(str(text).encode()))
        out[row] = CENTRES[topic] + rng.normal(0, 1.0 / np.sqrt(DIM), DIM) + rng.normal(0, noise / np.sqrt(DIM), DIM)
    return out.astype(np.float32)


def table(real: pd.DataFrame, synthetic: dict[str, pd.DataFrame], holdout: float = 0.1) -> pd.DataFrame:
    real = real.assign(source="real", method="real", generation=0, split="train")
    if holdout > 0:
        real["split"] = np.where(np.arange(len(real)) % int(round(1 / holdout)) == 0, "holdout", "train")
    parts = [real] + [frame.assign(source="synthetic", method=name, generation=1) for name, frame in synthetic.items()]
    samples = pd.concat(parts, ignore_index=True)
    samples.insert(0, "id", [f"s{i}" for i in range(len(samples))])
    return samples


def gaps_of(samples: pd.DataFrame, seed: int = 0, vectors: np.ndarray | None = None, **kwargs) -> GapReport:
    vectors = embed_fake(samples["text"]) if vectors is None else vectors
    return find_gaps(samples, vectors, seed=seed, **kwargs)


def named(regions) -> list[tuple]:
    """What a reader sees of regions (names, words, sizes, labels): comparable, unlike NaN map centres."""
    return [(r.id, r.name, r.terms, r.size, r.labels) for r in regions]


def said(gaps) -> list[str]:
    return [gap.sentence() for gap in gaps]


def gap_topics(report: GapReport, name: str) -> set[str]:
    """The main label of each of the set's gap regions."""
    by_id = {region.id: region for region in report.regions}
    return {by_id[gap.region].labels[0] for gap in report.gaps[name]}


def regions_of_topic(report: GapReport, samples: pd.DataFrame, topic: str) -> set[int]:
    """Regions whose real samples are mostly the topic's."""
    real = np.flatnonzero(samples["source"].to_numpy() == "real")
    labels = samples["label"].to_numpy()
    out = set()
    for region in report.regions:
        members = real[report.region_of[real] == region.id]
        if (labels[members] == topic).mean() > 0.5:
            out.add(region.id)
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("dropped", ["medicine", "cooking", "sports"])
def test_a_topic_with_no_synthetic_text_is_always_named_at_1000_real(seed: int, dropped: str) -> None:
    real = texts_of(SHARES, seed=seed)
    kept = {topic: 40 for topic in TOPICS if topic != dropped}  # 200 synthetic samples, none of the dropped topic
    samples = table(real, {"llm": texts_of(kept, seed=100 + seed)})
    report = gaps_of(samples, seed=seed)
    assert not report.unsupported
    assert dropped in gap_topics(report, "llm")
    topic_regions = regions_of_topic(report, samples, dropped)
    sizable = {r.id for r in report.regions if r.id in topic_regions and r.size >= 50}  # 5 % of the real data
    assert sizable and sizable <= {gap.region for gap in report.gaps["llm"]}
    for gap in report.gaps["llm"]:
        if gap.region in topic_regions:
            assert gap.set_share < 0.02 and gap.real_share > 0.03
            assert gap.sentence() == f"{gap.name}: {gap.sentence().split(': ')[-1]}"
            assert gap.sentence().endswith(" of llm") and " of real, " in gap.sentence()
            assert len(gap.example_ids) == 3 and len(gap.synthetic_ids) == 3
            assert set(samples.set_index("id").loc[gap.example_ids, "label"]) == {dropped}


@pytest.mark.parametrize("seed", range(8))
def test_real_against_real_names_no_gap(seed: int) -> None:
    real = texts_of(SHARES, seed=10 + seed)
    other_real = texts_of({topic: n // 5 for topic, n in SHARES.items()}, seed=20 + seed)  # 200 more, as a set
    report = gaps_of(table(real, {"real-2": other_real}), seed=seed)
    assert report.gaps["real-2"] == []
    assert not report.tested["gap"].any()


@pytest.mark.parametrize("seed", range(4))
def test_a_full_coverage_paraphrase_like_set_names_no_gap(seed: int) -> None:
    real = texts_of(SHARES, seed=30 + seed)
    parents = real.sample(n=300, random_state=seed)
    samples = table(real, {"paraphrase": parents.assign(text=parents["text"] + " again")})
    vectors = embed_fake(samples["text"])
    synthetic = (samples["source"] == "synthetic").to_numpy()
    vectors[synthetic] = embed_fake(parents["text"]) + np.random.default_rng(seed).normal(0, 0.05, (300, DIM))
    report = gaps_of(samples, seed=seed, vectors=vectors)
    assert report.gaps["paraphrase"] == []


def test_a_topic_thinned_to_a_tenth_is_named() -> None:
    real = texts_of(SHARES, seed=5)
    counts = {topic: n for topic, n in SHARES.items()}
    counts["cooking"] //= 10
    report = gaps_of(table(real, {"thin": texts_of(counts, seed=6)}))
    assert "cooking" in gap_topics(report, "thin")
    assert gap_topics(report, "thin") == {"cooking"}


def test_regions_belong_to_the_real_data_and_stay_when_sets_change() -> None:
    real = texts_of(SHARES, seed=7)
    one = table(real, {"llm": texts_of({"sports": 100, "finance": 100}, seed=8)})
    two = table(real, {"llm": texts_of({"sports": 100, "finance": 100}, seed=8), "other": texts_of({"space": 300}, 9)})
    first, second = gaps_of(one), gaps_of(two)
    assert named(first.regions) == named(second.regions)
    real_rows = np.flatnonzero(one["source"].to_numpy() == "real")
    assert np.array_equal(first.region_of[real_rows], second.region_of[real_rows])
    assert said(first.gaps["llm"]) == said(second.gaps["llm"])
    assert (first.region_of[len(real) :] == -1).all() and (first.placed[len(real) :] >= 0).all()


def test_gaps_need_no_holdout_and_coverage_is_a_second_column() -> None:
    real = texts_of(SHARES, seed=11)
    synthetic = {"llm": texts_of({topic: 40 for topic in TOPICS if topic != "space"}, seed=12)}
    without = gaps_of(table(real, synthetic, holdout=0), coverage="holdout")
    assert "space" in gap_topics(without, "llm") and without.coverage_note
    assert all(np.isnan(gap.share_covered) for gap in without.gaps["llm"])
    small = gaps_of(table(real, synthetic, holdout=0.1), coverage="holdout")  # 100 holdout samples: under the floor
    assert said(small.gaps["llm"]) == said(without.gaps["llm"]) and small.coverage_note
    wide = gaps_of(table(real, synthetic, holdout=0.34), coverage="holdout")  # 334 holdout samples: reported
    # by default coverage is cross-fitted: every real sample serves, with no holdout at all
    crossfit = gaps_of(table(real, synthetic, holdout=0))
    assert said(crossfit.gaps["llm"]) == said(without.gaps["llm"])
    for report in (wide, crossfit):
        assert not report.coverage_note
        space = [gap for gap in report.gaps["llm"] if gap.labels and next(iter(gap.labels)) == "space"]
        assert space and all(gap.share_covered < gap.share_covered_by_real for gap in space)
    json.dumps(crossfit.to_dict())


def test_too_little_real_data_names_regions_but_no_gap() -> None:
    samples = table(texts_of({"sports": 20, "space": 20}, seed=4), {"llm": texts_of({"sports": 30}, seed=5)})
    report = gaps_of(samples)
    assert report.unsupported and report.regions and report.gaps["llm"] == []
    assert report.text_summary("llm").startswith("llm: no gaps reported")


def test_place_is_the_majority_of_the_nearest_real_samples() -> None:
    rng = np.random.default_rng(0)
    real = unit_rows(rng.normal(size=(60, 8)))
    region = rng.integers(0, 3, 60)
    queries = rng.normal(size=(25, 8))
    got = place(real, region, queries, k=5)
    sims = unit_rows(queries) @ real.T
    for i in range(25):
        near = np.argsort(-sims[i])[:5]
        votes = np.bincount(region[near], minlength=3).astype(float)
        best = np.flatnonzero(votes == votes.max())
        if len(best) == 1:
            assert got[i] == best[0]
        else:  # a tie: the nearer neighbours' region
            assert got[i] in best


def test_cross_fitting_places_every_real_sample_once_without_itself() -> None:
    rng = np.random.default_rng(1)
    x = unit_rows(rng.normal(size=(50, 6)))
    region = np.arange(50) % 4
    placed, fold = cross_fit_places(x, region, folds=5, seed=0, k=1)
    assert len(placed) == 50 and sorted(np.bincount(fold)) == [10] * 5
    for i in range(50):  # k = 1: the nearest real sample of another fold
        others = np.flatnonzero(fold != fold[i])
        assert placed[i] == region[others[np.argmax(x[others] @ x[i])]]


def test_the_occupancy_test_and_benjamini_hochberg() -> None:
    # no samples of a region a tenth of real data holds: a small p; the real share exactly: p near a half
    p = occupancy_pvalues(np.array([0, 20]), 200, np.array([0.1, 0.1]), 1000)
    assert p[0] < 1e-4 and 0.35 < p[1] < 0.6
    assert occupancy_pvalues(np.array([0]), 200, np.array([0.0]), 1000)[0] == 1.0
    # under the null the p-values are about uniform (binomial draws), so few fall under 5 %
    rng = np.random.default_rng(0)
    draws = occupancy_pvalues(rng.binomial(300, 0.2, 4000), 300, np.full(4000, 0.2), 10**6)
    assert 0.02 < (draws < 0.05).mean() < 0.06
    # Benjamini–Hochberg against its definition: reject the i smallest, i the largest with p_(i) <= i alpha / m
    pvalues = np.array([0.001, 0.04, 0.03, 0.2, 0.011, 0.9])
    rejected, adjusted = bh_reject(pvalues, 0.05)
    order = np.sort(pvalues)
    largest = max(i for i in range(1, 7) if order[i - 1] <= i * 0.05 / 6)
    assert set(np.flatnonzero(rejected)) == set(np.argsort(pvalues)[:largest])
    assert np.all(adjusted >= pvalues) and np.all((adjusted <= 0.05) == rejected)


def test_named_if_absent_is_the_rules_chance_of_naming_a_complete_miss() -> None:
    """Against a simulation of the whole rule: a set of m samples with none of region 0 holds Binomial(m, leak) there
    and the rest in proportion to the real shares; its p-values through Benjamini–Hochberg across all regions, then
    the half-share and floor rules. The closed form is that chance at the threshold of a lone gap, so a lower bound,
    and here (one missing region, the others over-filled) equal within the simulation's error."""
    from analysis.maps.occupancy import rule_gaps

    share = np.array([0.07, 0.25, 0.2, 0.18, 0.15, 0.15])
    leak = np.array([0.02, 0.05, 0.04, 0.03, 0.03, 0.03])
    sizes = np.array([70, 250, 200, 180, 150, 150])
    rng = np.random.default_rng(1)
    for m in (120, 200, 400):
        closed = named_if_absent(share, leak, m, 1000, sizes)
        rest = share[1:] / share[1:].sum()
        draws = 4000
        counts = rng.multinomial(m, np.r_[leak[0], (1 - leak[0]) * rest], size=draws)
        hits = 0
        for row in counts:
            rejected, _ = bh_reject(occupancy_pvalues(row, m, share, 1000))
            tested, floor = rule_gaps(rejected, row, m, share, sizes)
            hits += bool(tested[0] or floor[0])
        simulated, spread = hits / draws, np.sqrt(0.25 / draws)
        assert closed[0] <= simulated + 3 * spread and simulated - closed[0] < 0.03, (m, closed[0], simulated)
    assert named_if_absent(share, leak, 200, 1000, sizes)[0] < named_if_absent(share, leak, 800, 1000, sizes)[0]
    assert named_if_absent(share, np.r_[0.07, leak[1:]], 400, 1000, sizes)[0] < 0.05 / 6  # placed as often as real


def test_a_set_too_small_to_vouch_for_a_region_says_so() -> None:
    """With 30 samples only the largest topic (a quarter of the real data) would be named were it missing, so the set
    names no gap though it lacks three topics, and says which regions it cannot vouch for, and at what size it could;
    at 600 samples with every topic it vouches for every region."""
    from analysis.cli.gaps import gap_table
    from analysis.cli.gate import misses_lines

    real = texts_of(SHARES, seed=13)
    samples = table(real, {"llm": texts_of({"sports": 10, "finance": 10, "space": 10}, seed=14)})
    small = gaps_of(samples)
    assert small.gaps["llm"] == []
    blind = small.blind("llm")
    sports = regions_of_topic(small, table(real, {}), "sports")
    assert len(blind) >= 3 and not sports & set(blind["region"])
    assert (blind["named_if_absent"] < 0.9).all() and (blind["vouched_at"] > 30).all()
    said = small.blind_summary("llm")
    assert said.startswith(f"30 samples of llm are too few to vouch for {len(blind)} regions; ")
    assert f"{blind['name'][0]} (" in said and "% at " in said and said.endswith("more.")
    assert json.loads(json.dumps(small.to_dict()))["not_vouched"]["llm"][0]["region"] == int(blind["region"][0])
    (line,) = misses_lines(samples, embed_fake(samples["text"]), seed=0, size=None)
    assert gap_table(small) == [
        "llm misses no region beyond what sampling explains.",
        "  " + small.blind_summary("llm", 9),
    ]
    assert not gap_table(small)[1].endswith("more.")  # the command line lists every region it cannot vouch for
    assert line.startswith(f"llm misses: nothing beyond sampling (too few samples to vouch for {blind['name'][0]}, ")
    large = gaps_of(table(real, {"llm": texts_of({topic: 100 for topic in TOPICS}, seed=15)}))
    assert large.gaps["llm"] == [] and large.blind("llm").empty and large.blind_summary("llm") == ""
    assert (large.tested["named_if_absent"] > 0.99).all()


def test_a_catch_all_label_is_one_no_set_size_can_vouch_for() -> None:
    """A label whose texts sit among the other topics' (the demo's "Uncategorized"): a set without it still places
    about its share there, so no size would name its absence, and the set says that, not that it is too small."""
    real = texts_of(SHARES, seed=16)
    rng = np.random.default_rng(17)
    misc = texts_of({topic: 25 for topic in TOPICS}, seed=18).assign(label="misc")  # 150 texts of every topic
    real = pd.concat([real, misc.iloc[rng.permutation(len(misc))]], ignore_index=True)
    report = gaps_of(table(real, {"llm": texts_of({topic: 100 for topic in TOPICS}, seed=19)}))
    blind = report.blind("llm")
    assert report.gaps["llm"] == [] and list(blind["name"].str.split(":").str[0]) == ["misc"]
    assert np.isnan(blind["vouched_at"][0]) and blind["named_if_absent"][0] < 0.1
    said = report.blind_summary("llm")
    assert said.startswith("No set size lets the test vouch for misc") and "too few" not in said, said


def test_region_names_drop_fragments_and_evenly_spread_words() -> None:
    texts = [
        "don't like the court judge ruling isn't fair, we'll appeal; don ll ve",
        "the judge said the court law is fair and we like it",
        "don't like the cat dog pet, it isn't fed; ll ve don",
        "the cat and the dog said pet food is what we like",
    ]
    terms = ctfidf_terms(texts, np.array([0, 0, 1, 1]))
    for words in terms.values():
        assert not {"don", "ll", "ve", "isn", "like", "said"} & set(words), words
    assert {"court", "judge"} <= set(terms[0]) and {"cat", "dog"} <= set(terms[1])


def test_the_labels_are_the_regions_where_the_data_has_topics(tmp_path, monkeypatch) -> None:
    real = texts_of(SHARES, seed=3)
    vectors = embed_fake(real["text"])
    found = real_regions(real["text"], vectors, labels=real["label"], cache_dir=tmp_path)
    order = sorted(SHARES, key=lambda topic: (-SHARES[topic], topic))  # largest first, ties alphabetical
    assert [region.labels for region in found.regions] == [(topic,) for topic in order]
    for region, topic in zip(found.regions, order):
        assert region.size == SHARES[topic] and region.name.startswith(f"{topic}: ")
        assert set(region.terms[:3]) <= set(TOPICS[topic].split())
    assert len(list(tmp_path.glob("real-*.npz"))) == 1
    from analysis.maps import region_cache as gaps_module

    gaps_module._REAL_REGIONS.clear()  # a new process: read from disk, not fitted again
    monkeypatch.setattr(gaps_module, "fit_regions", lambda *a, **k: pytest.fail("fitted although cached"))
    again = real_regions(real["text"], vectors, labels=real["label"], cache_dir=tmp_path)
    assert named(again.regions) == named(found.regions) and np.array_equal(again.labels, found.labels)
    placed = real_regions(real["text"], vectors, labels=real["label"], xy=vectors[:, :2], cache_dir=tmp_path)
    assert all(np.isfinite(region.x) for region in placed.regions)
    assert [r.name for r in placed.regions] == [r.name for r in found.regions]


def test_without_labels_the_regions_are_named_clusters_with_their_main_labels() -> None:
    real = texts_of(SHARES, seed=3)
    vectors = embed_fake(real["text"])
    assert not usable_labels(None) and not usable_labels(np.arange(len(real)).astype(str))  # an id column
    found = fit_regions(real["text"], vectors, labels=real["label"], by_label=False)
    assert len(found.regions) == region_count(len(real)) == 10  # √1,000 / 3.2
    for region in found.regions:
        members = real["label"].to_numpy()[found.members(region.id)]
        assert region.labels[0] == pd.Series(members).value_counts().index[0]
        assert region.name.endswith(f"({', '.join(region.labels)})")
        assert set(region.terms[:3]) <= set(TOPICS[region.labels[0]].split())
    plain = fit_regions(real["text"], vectors)
    assert all(region.labels == () and "(" not in region.name for region in plain.regions)


@pytest.mark.parametrize("seed", range(3))
def test_without_labels_a_missing_topic_is_still_named(seed: int) -> None:
    real = texts_of(SHARES, seed=40 + seed)
    samples = table(real, {"llm": texts_of({t: 40 for t in TOPICS if t != "finance"}, seed=50 + seed)})
    report = gaps_of(samples.assign(label=None))
    topic_regions = regions_of_topic(report, samples, "finance")  # k-means splits the topic into a few regions
    named_regions = {gap.region for gap in report.gaps["llm"]}
    assert named_regions and named_regions <= topic_regions  # at least one named, and only the topic's


def test_main_labels() -> None:
    assert main_labels(["law"] * 6 + ["pets"] * 3 + ["food"]) == ("law", "pets")
    assert main_labels(["a", "b", "c", "d", "e"]) == ("a",)
    assert main_labels([None, np.nan]) == ()


def test_fit_regions_is_deterministic() -> None:
    real = texts_of(SHARES, seed=2)
    vectors = embed_fake(real["text"])
    first, second = fit_regions(real["text"], vectors, seed=0), fit_regions(real["text"], vectors, seed=0)
    assert named(first.regions) == named(second.regions) and np.array_equal(first.labels, second.labels)
    assert len(first.regions) == 10  # no labels given: k-means, √1,000 / 3.2 regions
    assert [r.size for r in first.regions] == sorted((r.size for r in first.regions), reverse=True)


def test_region_names_on_a_map_are_deterministic_and_use_the_topic_words() -> None:
    real = texts_of({topic: 100 for topic in TOPICS}, seed=3)
    angle = 2 * np.pi * real["label"].map({t: i for i, t in enumerate(TOPICS)}).to_numpy() / len(TOPICS)
    xy = np.c_[20 * np.cos(angle), 20 * np.sin(angle)] + 0.0
    first, second = find_regions(real["text"], xy, seed=0), find_regions(real["text"], xy, seed=0)
    assert [r.name for r in first.regions] == [r.name for r in second.regions]
    assert np.array_equal(first.labels, second.labels)
    assert len(first.regions) == len(TOPICS)
    for region in first.regions:
        labels = set(real["label"].to_numpy()[first.members(region.id)])
        assert len(labels) == 1 and set(region.terms[:3]) <= set(TOPICS[labels.pop()].split())
        assert region.size == 100 and len(region.name.split(" / ")) == 3


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setattr("analysis.cli.gaps.embedded", lambda samples: embed_fake(samples["text"]))
    monkeypatch.setattr("analysis.cli.gate.embedded", lambda samples: embed_fake(samples["text"]))
    real, synthetic = tmp_path / "real.csv", tmp_path / "llm.csv"
    texts_of(SHARES, seed=6).to_csv(real, index=False)
    texts_of({"sports": 100, "finance": 100}, seed=7).to_csv(synthetic, index=False)
    return str(real), str(synthetic)


def test_cli_gaps_names_the_missed_topics_at_1000_real_with_default_settings(files, capsys) -> None:
    real, synthetic = files
    assert main(["gaps", "--real", real, "--synthetic", f"llm={synthetic}", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    gaps = out["gaps"]["llm"]
    named = {max(gap["labels"], key=gap["labels"].get) for gap in gaps}
    assert named == {"cooking", "space", "music", "medicine"}
    for gap in gaps:
        assert {"name", "real_share", "set_share", "sentence", "example_ids", "synthetic_ids", "labels"} <= set(gap)
        assert gap["set_share"] < gap["real_share"]
        assert gap["share_covered"] < gap["share_covered_by_real"]  # the coverage column, cross-fitted: no holdout
    assert not out["coverage_note"] and out["not_vouched"] == {"llm": []}  # 200 samples vouch for every region
    assert (
        main(["gaps", "--real", real, "--synthetic", f"llm={synthetic}", "--format", "json", "--coverage", "holdout"])
        == 0
    )
    assert "Coverage is not reported" in json.loads(capsys.readouterr().out)["coverage_note"]  # a 10 % holdout: 100
    assert main(["gaps", "--real", real, "--synthetic", f"llm={synthetic}", "--top", "2"]) == 0
    text = capsys.readouterr().out
    assert "llm misses:" in text and "Rule:" in text and " of real, " in text
    assert main(["gaps", "--real", real, "--synthetic", f"llm={synthetic}", "--regions", "clusters"]) == 0
    text = capsys.readouterr().out  # k-means regions, named by their words and main labels
    assert "llm misses:" in text and "(cooking)" in text and "cooking: " not in text


def test_cli_gaps_exit_codes(files, tmp_path, capsys) -> None:
    real, synthetic = files
    with pytest.raises(SystemExit) as usage:
        main(["gaps", "--real", real, "--synthetic", "no-equals-sign"])
    assert usage.value.code == 2
    assert main(["gaps", "--real", real, "--synthetic", f"llm={synthetic}", "--top", "0"]) == 3
    assert main(["gaps", "--real", str(tmp_path / "missing.csv"), "--synthetic", f"llm={synthetic}"]) == 3
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("text\nonly one\n")
    assert main(["gaps", "--real", real, "--synthetic", f"tiny={tiny}"]) == 3
    assert "error:" in capsys.readouterr().err


def test_check_says_what_each_set_misses(files, capsys) -> None:
    real, synthetic = files
    code = main(["check", "--real", real, "--synthetic", f"llm={synthetic}", "--no-mauve"])
    assert code in (0, 1, 2)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("llm misses: "))
    for topic in ("cooking", "space", "music", "medicine"):
        assert f"{topic}: " in line


def demo_case(demo_embedded, seed: int, drop: str | None, size: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    """1,000 of the demo's real texts as real data and ``size`` others as a set, with none of ``drop`` (if given)."""
    samples, vectors = demo_embedded
    real_rows = np.flatnonzero((samples["source"] == "real").to_numpy())
    rng = np.random.default_rng(seed)
    order = rng.permutation(real_rows)
    real, pool = order[:1000], order[1000:]
    if drop is not None:
        pool = pool[samples["label"].to_numpy()[pool] != drop]
    rows = np.r_[real, pool[:size]]
    frame = samples.iloc[rows][["text", "label"]].reset_index(drop=True)
    frame = table(frame.iloc[:1000], {"llm": frame.iloc[1000:]})
    return frame, vectors[rows]


@pytest.mark.parametrize("seed", range(3))
def test_on_the_demo_texts_a_missing_topic_of_a_tenth_is_named_and_real_names_none(demo_embedded, seed) -> None:
    """At 1,000 real and 400 synthetic samples a set without Geography (11 % of the demo) names it with a wide
    margin: its adjusted p-value is at most 1.2e-4 over seeds 0-19, with float32 or int8 vectors, 400 times below
    the 5 % threshold. At 200 synthetic samples see the next test."""
    samples, vectors = demo_case(demo_embedded, seed, drop="Geography", size=400)
    report = find_gaps(samples, vectors)
    assert "Geography" in gap_topics(report, "llm"), report.text_summary("llm", 20)
    for gap in report.gaps["llm"]:
        assert not {"don", "ll", "ve", "isn"} & set(gap.name.split(" / "))
    for size in (200, 400):
        samples, vectors = demo_case(demo_embedded, seed, drop=None, size=size)
        assert find_gaps(samples, vectors).gaps["llm"] == []


def test_at_200_synthetic_samples_a_missing_topic_of_a_tenth_is_named_in_nine_draws_of_ten(demo_embedded) -> None:
    """The app's first case, 1,000 real and 200 synthetic samples: other topics' texts placed in Geography's region
    (the leak, docs/seeing.md) leave a set without Geography about 5.5 % there against real's 12.6 %, a few texts
    from the test's threshold. Measured on the float32 vectors: named in 78 of 80 seeds (missed at 59 and 70);
    int8 vectors (cosine 0.996) move a draw's count by one or two texts and name it in 19 of seeds 0-19. So the
    rate is tested, at the bench's target of 0.9, not every draw."""
    named = [
        "Geography" in gap_topics(find_gaps(*demo_case(demo_embedded, seed, drop="Geography")), "llm")
        for seed in range(10)
    ]
    assert sum(named) >= 9, named


@pytest.mark.slow  # the app on the built demo
def test_tail_coverage_page_names_what_each_demo_set_misses() -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=600).run()
    at.switch_page("pages/tail_coverage.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "What each set misses" in [s.value for s in at.subheader]
    assert any(m.value.startswith("**llm g3 misses: ") for m in at.markdown)
    gaps = next(d.value for d in at.dataframe if "share of real" in d.value.columns)
    assert (gaps["share of set"] < gaps["share of real"]).all()
    assert gaps["examples"].str.len().gt(0).all()


@pytest.mark.slow  # the app on the built demo
def test_the_embedding_map_rings_the_regions_the_shown_sets_miss() -> None:
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=600).run()
    at.switch_page("pages/embedding_map.py").run()
    at.toggle(key="map_gaps").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    ringed = next(c.value for c in at.caption if "regions the shown sets miss are ringed" in c.value)
    assert "Physical sciences" in ringed and " of real, " in ringed


def test_region_names_on_the_map_do_not_overlap() -> None:
    from analysis.maps.regions import Region, label_positions

    regions = [Region(i, f"name number {i}", ("a",), 100 - i, 0.0 + 0.01 * i, 0.0) for i in range(5)]
    regions.append(Region(9, "far away", ("b",), 10, 9.0, 9.0))
    labels = label_positions(regions, x_range=(0, 10), y_range=(0, 10), width_px=700, height_px=520)
    assert list(labels["region"][:3]) == [0, 1, 2] and 9 in set(labels["region"])  # nudged down, up, then dropped
    assert len(labels) == 4 and labels["y"].nunique() == 4


def test_a_large_map_is_named_from_the_fitted_sample_and_every_point_joins_a_region(monkeypatch) -> None:
    from analysis.maps import regions as regions_module

    real = texts_of({topic: 100 for topic in TOPICS}, seed=3)
    angle = 2 * np.pi * real["label"].map({t: i for i, t in enumerate(TOPICS)}).to_numpy() / len(TOPICS)
    xy = np.c_[20 * np.cos(angle), 20 * np.sin(angle)] + np.random.default_rng(0).normal(0, 0.01, (len(real), 2))
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
    from analysis.maps import region_cache as gaps_module

    real = texts_of({topic: 60 for topic in TOPICS}, seed=3)
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
