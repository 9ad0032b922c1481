"""Protected gaps in a mixture (issue 33, part 2): which real rows are kept, and each region's occupancy.

The constructed topics of ``test_gaps`` (each topic a Gaussian cluster of its own words, no model): 1,000 real
samples on six topics, a synthetic set of 500 with no medicine at all, so medicine is a named gap of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.maps.gaps import find_gaps
from analysis.mixture import (
    MixtureEngine,
    MixtureError,
    MixtureSpec,
    baseline_spec,
    metrics_from_scratch,
    protect_gaps,
    protectable_gaps,
    region_occupancy,
    sample_mixture,
)
from analysis.mixture.kernels import kept_first, train_ball_members
from tests.test_gaps import SHARES, TOPICS, embed_fake, table, texts_of

DROPPED = "medicine"


@pytest.fixture(scope="module")
def dataset() -> tuple[pd.DataFrame, np.ndarray]:
    real = texts_of(SHARES, seed=3)
    synthetic = texts_of({topic: 100 for topic in TOPICS if topic != DROPPED}, seed=4)
    samples = table(real, {"llm": synthetic})
    return samples, embed_fake(samples["text"])


@pytest.fixture(scope="module")
def report(dataset):
    return find_gaps(*dataset)


@pytest.fixture(scope="module")
def region(report) -> int:
    gaps = [gap for gap in report.gaps["llm"] if gap.labels and next(iter(gap.labels)) == DROPPED]
    assert gaps, report.text_summary("llm")
    return gaps[0].region


@pytest.fixture()
def engine(dataset, report):
    engine = MixtureEngine(*dataset)
    engine.use_regions(report.region_of)
    return engine


def test_the_named_gaps_of_the_chosen_sets_are_offered_in_the_gaps_words(report, region):
    offered = protectable_gaps(report, ["llm"])
    assert region in offered
    assert offered[region].startswith(next(g for g in report.gaps["llm"] if g.region == region).sentence()[:20])
    assert "of real" in offered[region] and "of llm" in offered[region]
    assert protectable_gaps(report, []) == {}


def test_keep_zero_is_the_unprotected_mixture_row_for_row(engine, region):
    spec = MixtureSpec(size=400, real_share=0.2, strategy="tail-aware")
    assert np.array_equal(engine.rows(spec), engine.rows(MixtureSpec(**{**spec.to_dict(), "protect": (region,)})))


def test_kept_rows_are_real_train_rows_of_the_region_added_in_place_of_synthetic_rows(dataset, engine, report, region):
    samples, _ = dataset
    plain = MixtureSpec(size=400, real_share=0.2, strategy="dedup")
    train_in_region = np.flatnonzero((report.region_of == region) & (samples["split"] == "train").to_numpy())
    previous = set(engine.rows(plain))
    for keep in (0.25, 0.5, 1.0):
        spec = MixtureSpec(**{**plain.to_dict(), "protect": [region], "keep": keep})
        rows = engine.rows(spec)
        assert len(rows) == 400 and len(set(rows)) == 400
        real_rows = set(rows[(samples.loc[rows, "source"] == "real").to_numpy()])
        assert not real_rows & set(np.flatnonzero(samples["split"] == "holdout"))
        kept = real_rows & set(train_in_region)
        assert len(kept) >= round(keep * len(train_in_region))
        assert real_rows >= set(engine.rows(plain)) & set(np.flatnonzero(samples["source"] == "real"))  # still there
        counts = engine.counts(spec)
        assert counts["real train"] > engine.counts(plain)["real train"]
        assert sum(counts.values()) == 400
        real_before = previous & set(np.flatnonzero(samples["source"] == "real"))
        assert real_before <= set(rows)  # a larger keep only adds real rows
        previous = set(rows)
    assert set(train_in_region) <= set(engine.rows(MixtureSpec(size=400, real_share=0.2, protect=(region,), keep=1)))


def test_occupancy_of_the_protected_gap_rises_with_keep_and_is_said_as_gaps_are(engine, report, region):
    shares = []
    for keep in (0.0, 0.3, 0.6, 1.0):
        spec = MixtureSpec(size=400, real_share=0.1, protect=(region,), keep=keep)
        occupancy = region_occupancy(engine, spec, report)
        assert list(occupancy["region"]) == [region]
        row = occupancy.iloc[0]
        shares.append(row["mixture share"])
        assert row["real in region"] >= row["real kept"]
        if keep:
            assert row["without protection"] == pytest.approx(shares[0])
            assert "without protection" in row["in words"]
        assert row["in words"].startswith(f"{row['name']}: ")
        assert " of real, " in row["in words"] and "of the mixture" in row["in words"]
    assert shares == sorted(shares) and shares[-1] > 2 * shares[0]
    real_share = occupancy.iloc[0]["real share"]
    assert shares[0] < real_share / 2 < shares[-1]  # the gap is closed by keeping its real data


def test_a_protected_mixture_is_still_measured_exactly(dataset, engine, region):
    samples, vectors = dataset
    for strategy in ("uniform", "tail-aware"):
        spec = MixtureSpec(size=300, real_share=0.3, strategy=strategy, protect=(region,), keep=0.7, seed=2)
        values = engine.metrics(spec)
        expected = metrics_from_scratch(
            samples, vectors, engine.holdout_rows, sample_mixture(engine, spec), cover=engine.cover,
            recipe=engine.recipe(spec),
        )  # fmt: skip
        for name, value in expected.items():
            assert values[name] == pytest.approx(value, abs=1e-9, nan_ok=True), name


def test_protect_gaps_keeps_the_least_real_data_that_gives_each_gap_its_real_share(engine, report, region):
    spec = MixtureSpec(size=400, real_share=0.1, weights={"llm": 1.0}, strategy="tail-aware")
    protected, occupancy = protect_gaps(engine, spec, report)
    assert protected.protect == tuple(sorted(protectable_gaps(report, ["llm"]))) and region in protected.protect
    assert 0 < protected.keep < 1 and round(protected.keep * 100) == protected.keep * 100  # whole per cent
    assert (occupancy["mixture share"] >= occupancy["real share"]).all()
    assert occupancy.equals(region_occupancy(engine, protected, report))
    less = region_occupancy(engine, MixtureSpec(**{**protected.to_dict(), "keep": protected.keep - 0.01}), report)
    assert (less["mixture share"] < less["real share"]).any()  # one per cent less leaves a gap short
    unchanged, empty = protect_gaps(engine, spec, report, [])
    assert unchanged == spec and empty.empty


def test_protect_gaps_fills_the_emptiest_region_best_when_the_mixture_is_too_small(engine, report):
    """Every region protected in a 40-row mixture: past a few per cent the kept rows outgrow the synthetic rows they
    replace and the regions protected first take the others' place, so no keep gives each region its real share
    (a region's share is not monotone in keep). The choice is the keep whose emptiest region is fullest."""
    spec = MixtureSpec(size=40, real_share=0.1, weights={"llm": 1.0})
    regions = [region.id for region in report.regions]
    chosen, occupancy = protect_gaps(engine, spec, report, regions)

    def fullest(keep: float) -> float:
        table = region_occupancy(engine, MixtureSpec(**{**spec.to_dict(), "protect": regions, "keep": keep}), report)
        return float((table["mixture share"] / table["real share"]).min())

    by_keep = [fullest(percent / 100) for percent in range(101)]
    assert max(by_keep) < 1 and by_keep[-1] < max(by_keep)  # none fills them all; keeping all is not the best
    assert fullest(chosen.keep) == pytest.approx(max(by_keep))
    assert len(occupancy) == len(regions)


def test_the_recommended_mixture_protects_its_sets_named_gaps(dataset, engine, report, region):
    from analysis.views.review import recommend_mixture

    samples, vectors = dataset
    plain, _ = recommend_mixture(samples, vectors, engine=engine)
    rec, note = recommend_mixture(samples, vectors, engine=engine, gaps=report)
    assert plain is not None and rec is not None, note
    assert not plain.protected and plain.protection_text() == ""
    assert region in rec.protect and rec.keep > 0 and len(rec.protected) == len(rec.protect)
    spec = MixtureSpec(
        size=rec.size, real_share=rec.real_share, weights=rec.weights, strategy=rec.strategy, protect=rec.protect,
        keep=rec.keep,
    )  # fmt: skip
    assert rec.metrics == pytest.approx(engine.metrics(spec))  # the card's numbers are the protected mixture's
    assert rec.real_mixed == engine.counts(spec)["real train"] / rec.size > plain.real_mixed
    said = rec.protection_text()
    assert said.startswith("Protects ") and region_occupancy(engine, spec, report)["in words"].iloc[0] in said
    assert rec.real_text() == f"{rec.real_share:.0%} real ({rec.real_mixed:.0%} with the protected gaps' real rows)"
    assert plain.real_text() == f"{plain.real_share:.0%} real"


def test_the_baseline_is_never_protected_and_the_spec_round_trips():
    spec = MixtureSpec(size=100, protect=[3, 1, 3], keep=0.5)
    assert spec.protect == (1, 3) and spec.protects
    assert MixtureSpec.from_dict(spec.to_dict()) == spec
    assert hash(MixtureSpec.from_dict(spec.to_dict())) == hash(spec)
    assert "protect" not in MixtureSpec(size=100).to_dict()  # manifests of unprotected mixtures read as before
    assert not MixtureSpec(size=100, protect=(1,)).protects
    with pytest.raises(MixtureError, match="between 0 and 1"):
        MixtureSpec(size=100, protect=(1,), keep=1.5)


def test_baseline_spec_drops_protection(engine, region):
    spec = MixtureSpec(size=200, real_share=0.2, protect=(region,), keep=1.0)
    base = baseline_spec(engine, spec)
    assert base.real_share == 1.0 and not base.protects


def test_protection_without_regions_says_how_to_give_them(dataset, region):
    engine = MixtureEngine(*dataset)
    with pytest.raises(MixtureError, match="use_regions"):
        engine.rows(MixtureSpec(size=200, protect=(region,), keep=0.5))
    with pytest.raises(MixtureError, match="region labels for"):
        engine.use_regions(np.zeros(3))


def test_train_ball_members_equal_brute_force_when_the_lists_hold_every_candidate():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3))
    train_n, k = 30, 3
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nbr = np.argsort(d2, axis=1)[:, :-1]  # every other candidate, nearest first
    nbr_d2 = np.take_along_axis(d2, nbr, axis=1)
    train_r2 = np.sort(d2[:train_n, :train_n], axis=1)[:, k - 1]
    indptr, balls = train_ball_members(nbr, nbr_d2, train_r2)
    for c in range(40):
        held = set(balls[indptr[c] : indptr[c + 1]].tolist())
        expected = {j for j in range(train_n) if j == c or d2[c, j] < train_r2[j]} if c < train_n else set()
        assert held == expected, c


def test_kept_rows_go_first_and_a_prefix_is_the_old_prefix_plus_them():
    real = np.array([7, 3, 9, 1, 5, 0, 8])
    order, ranks = kept_first(real, np.array([5, 9]))
    assert order.tolist() == [5, 9, 7, 3, 1, 0, 8]
    assert ranks.tolist() == [2, 4]  # where 9 and 5 sat
    for n in range(len(real) + 1):
        overlap = int(np.searchsorted(ranks, n))
        assert set(order[: 2 + n - overlap]) == set(real[:n]) | {5, 9}
