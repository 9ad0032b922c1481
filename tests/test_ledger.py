"""The ledger of loss across generations (issue 33, part 3), on a constructed case whose losses are known.

Vectors are the gap tests' seeded Gaussian clusters, one per topic (:func:`tests.test_gaps.embed_fake`), so
no model loads. Three generations of ``llm``: g1 holds every topic in the real proportions; g2 loses
``cooking`` and the rare word ``zeppelin``; g3 also loses ``space``. The ledger must report exactly those
losses, in that order.
"""

import json

import numpy as np
import pandas as pd
import pytest

from analysis.maps.ledger import ledger_methods, loss_ledger, rare_tokens
from analysis.monitor import WARNING_COLUMNS, ledger_warnings
from tests.test_gaps import SHARES, embed_fake, texts_of

#: Rare words planted in the real data: two samples each (rare), and one in a single sample (not rare).
RARE = ("zeppelin", "quasar")
SINGLE = "hapax"


def with_words(frame: pd.DataFrame, words: dict[str, int], start: int = 0) -> pd.DataFrame:
    """``frame`` with each word appended to that many texts (consecutive rows from ``start``)."""
    frame = frame.copy().reset_index(drop=True)
    row = start
    for word, n in words.items():
        for _ in range(n):
            frame.loc[row, "text"] = f"{frame.loc[row, 'text']} {word}"
            row += 1
    return frame


def generations_case(seed: int = 0) -> pd.DataFrame:
    real = with_words(texts_of(SHARES, seed=seed), {"zeppelin": 2, "quasar": 2, SINGLE: 1}, start=3)
    quarter = {topic: n // 4 for topic, n in SHARES.items()}
    g1 = with_words(texts_of(quarter, seed=seed + 1), {"zeppelin": 3, "quasar": 3})
    g2 = with_words(texts_of({t: n for t, n in quarter.items() if t != "cooking"}, seed=seed + 2), {"quasar": 2})
    g3 = with_words(
        texts_of({t: n for t, n in quarter.items() if t not in ("cooking", "space")}, seed=seed + 3), {"quasar": 1}
    )
    real = real.assign(source="real", method="real", generation=0, split="train")
    real["split"] = np.where(np.arange(len(real)) % 10 == 0, "holdout", "train")
    parts = [real] + [
        frame.assign(source="synthetic", method="llm", generation=g, split="train")
        for g, frame in ((1, g1), (2, g2), (3, g3))
    ]
    samples = pd.concat(parts, ignore_index=True)
    samples.insert(0, "id", [f"s{i}" for i in range(len(samples))])
    return samples


def region_topic(ledger, samples: pd.DataFrame) -> dict[str, str]:
    """Each lost region's name → the topic most of its real samples have (by the region name's label)."""
    return {name: next(t for t in SHARES if t in name.lower()) for name in ledger.occupancy["name"].unique()}


@pytest.mark.parametrize("seed", range(3))
def test_the_ledger_reports_exactly_the_known_losses_in_order(seed: int) -> None:
    samples = generations_case(seed)
    ledger = loss_ledger(samples, embed_fake(samples["text"]))
    assert ledger.method == "llm" and ledger.generations == [1, 2, 3] and ledger.sets == ["llm", "llm g2", "llm g3"]
    assert not ledger.unsupported
    topic_of = region_topic(ledger, samples)

    lost = [(topic_of[name], g) for name, g in zip(ledger.lost_regions["name"], ledger.lost_regions["lost_in"])]
    assert lost == [("cooking", 2), ("space", 3)]
    halved = [(topic_of[n], a, b) for n, a, b in ledger.halved[["name", "from_generation", "to_generation"]].values]
    assert halved == [("cooking", 1, 2), ("space", 2, 3)]

    assert ledger.rare_tokens == 2  # zeppelin and quasar; hapax is in one real sample only
    assert ledger.lost_tokens["token"].tolist() == ["zeppelin"]
    assert ledger.lost_tokens.iloc[0][["lost_in", "count_before", "came_back"]].tolist() == [2, 3.0, False]

    occupancy = ledger.occupancy
    assert len(occupancy) == 3 * occupancy["region"].nunique()
    cooking = occupancy[occupancy["name"].map(topic_of) == "cooking"].set_index("generation")
    assert cooking.loc[1, "share"] > 0.1 and cooking.loc[2, "share"] == 0 and cooking.loc[3, "share"] == 0
    assert np.isclose(cooking.loc[1, "real_share"], 0.15, atol=0.03)
    assert occupancy.groupby("generation")["share"].sum().round(9).eq(1).all()

    words = ledger.in_words()
    cooking_name = next(n for n in topic_of if topic_of[n] == "cooking")
    space_name = next(n for n in topic_of if topic_of[n] == "space")
    assert f"region '{cooking_name}' lost half its share between g1 and g2" in "\n".join(words)
    assert f"region '{space_name}' lost half its share between g2 and g3" in "\n".join(words)
    order = [
        i for i, line in enumerate(words) if "cooking" in line.lower() or "zeppelin" in line or "space" in line.lower()
    ]
    assert order == sorted(order)
    assert any(line.startswith("g2 lost 1 rare token of the real data that g1 used: zeppelin") for line in words)
    table = ledger.lost_first()
    assert table["generation"].tolist() == [1, 2, 3]
    assert table["rare tokens lost"].tolist() == [0, 1, 0]
    assert table.loc[0, "regions lost (gap rule)"] == "" and table.loc[1, "regions lost (gap rule)"] == cooking_name
    assert table.loc[2, "regions lost (gap rule)"] == space_name
    json.dumps(ledger.to_dict())
    wide = ledger.occupancy_wide()
    assert list(wide.columns) == ["region", "name", "real", "llm", "llm g2", "llm g3"]


def test_generations_that_keep_everything_lose_nothing() -> None:
    samples = generations_case(5)
    keep = samples["generation"] <= 1
    g1 = samples[keep & (samples["source"] == "synthetic")]
    again = g1.assign(generation=2, text=g1["text"] + " again", id=g1["id"] + "-2")
    samples = pd.concat([samples[keep], again], ignore_index=True)
    ledger = loss_ledger(samples, embed_fake(samples["text"]))
    assert ledger.lost_regions.empty and ledger.halved.empty and ledger.lost_tokens.empty
    assert ledger_warnings(ledger).empty


def test_rare_tokens_are_seen_at_most_twice_in_at_least_two_samples() -> None:
    table = rare_tokens(["a b c", "b c d", "c e e", "f"], max_count=2, min_samples=2)
    assert table.values.tolist() == [["b", 2, 2]]  # c: 3 uses; d, f: one sample; e: twice in one sample
    assert rare_tokens(["a b", "a"], max_count=2, min_samples=1)["token"].tolist() == ["a", "b"]


def test_a_method_needs_two_generations() -> None:
    samples = generations_case(1)
    assert ledger_methods(samples) == ["llm"]
    one = samples[samples["generation"] <= 1]
    assert ledger_methods(one) == []
    with pytest.raises(ValueError, match="two or more generations"):
        loss_ledger(one, embed_fake(one["text"]))
    with pytest.raises(ValueError, match="fewer than two generations"):
        loss_ledger(samples, embed_fake(samples["text"]), method="paraphrase")


def test_the_monitor_warns_with_the_ledger_lines() -> None:
    samples = generations_case(2)
    ledger = loss_ledger(samples, embed_fake(samples["text"]))
    warned = ledger_warnings(ledger)
    assert list(warned.columns) == WARNING_COLUMNS
    halving = warned[warned["rule"] == "region lost half its share"]
    assert halving["snapshot"].tolist() == ["llm g2", "llm g3"]
    assert halving["message"].str.contains(r"lost half its share between g1 and g2").iloc[0]
    assert set(halving["series"]) == {"llm"} and set(halving["severity"]) == {"warning"}
    assert (halving["value"] <= 0.5 * halving["reference"]).all()
    gaps = warned[warned["rule"] == "region under the gap rule"]
    assert gaps["snapshot"].tolist() == ["llm g2", "llm g3"] and set(gaps["severity"]) == {"alarm"}


def test_the_ledger_on_the_demo_llm_generations(demo_embedded) -> None:
    samples, embeddings = demo_embedded
    ledger = loss_ledger(samples, embeddings, method="llm")
    assert ledger.sets == ["llm", "llm g2", "llm g3"]
    assert ledger.rare_tokens > 100
    assert ledger.occupancy.groupby("generation")["share"].sum().round(9).eq(1).all()
    assert set(ledger.lost_tokens["lost_in"]) <= {1, 2, 3}
    assert ledger.lost_tokens["lost_in"].is_monotonic_increasing
    assert ledger.lost_regions["lost_in"].is_monotonic_increasing
    words = ledger.in_words()
    assert words and words[0].startswith("g1 (llm) uses") or any("g1" in line for line in words)
    print("\n".join(words))
    print(ledger.lost_first().to_string())


def test_the_report_shows_what_each_generation_lost_first() -> None:
    from analysis.views.report import build_report

    samples = generations_case(3)
    vectors = embed_fake(samples["text"])
    centred = vectors - vectors.mean(axis=0)
    xy = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T  # a map without UMAP
    html = build_report(samples, embeddings=vectors, xy=xy, with_mauve=False)
    assert ">What each generation lost first</h2>" in html
    section = html.split('id="ledger"', 1)[1].split("</details>", 1)[0]
    assert "lost half its share between g1 and g2" in section and "zeppelin" in section
    assert section.index("cooking") < section.index("space")
    assert section.count("<svg") == 1 and "The map per generation of llm" in section  # small multiples
