"""Named gaps: the regions of the real data a synthetic set fails to reach, said in the user's words.

"court / judge / law (law): 17% of real, 0.3% of llm". The measure is **occupancy**: the share of
a set's samples that fall in each named region of the real data, against the share real data of the
same kind puts there. It is sharp at a few hundred real samples, where k-NN-ball coverage is not
(in 384 dimensions the balls of a small holdout are wide, so a set with no text of a topic still
lands in many of the topic's balls).

Regions (:func:`analysis.maps.regions.fit_regions`) are fitted on the real samples' embeddings alone, so
they stay the same when synthetic sets are added, removed or regenerated: a gap found today can be
compared with next week's. A sample is placed in a region by its :data:`PLACE_K` (10) nearest real
samples in embedding space (cosine; not the 2-D map): the region most of them belong to, ties to the
nearer neighbours (:func:`place`). A synthetic sample is placed among the same four fifths of the real
data a real sample of the null is (a seeded fold each, :func:`place_among_folds`), so a majority vote's
lean towards larger regions is the same for both.

The null is real data placed the same way (cross-fitting, every real sample used): the real samples
are split into :data:`FOLDS` (5) seeded folds and each fold is placed among the real samples of the
other folds (above :data:`NULL_AT_MOST`, 10,000, a seeded 10,000 of them are placed; the others still
serve as neighbours). ``real_share`` q of a region is the share of real samples placed in it; the spread of the
folds' shares around q gives the dispersion φ (at least 1) of a set's share against a real sample of
its size. For a set of m samples with c in the region (share o = c / m), against n real placed:

    z = (q − (c + ½) / m) / sqrt(φ p (1 − p) (1/m + 1/n)),   p = (q n + c) / (n + m)

one-sided (the set holds less), p-value 1 − Φ(z), Benjamini–Hochberg across the regions of a set at
:data:`ALPHA` (5 %; with no true gap that bounds the chance of naming any at 5 %). :data:`RULE`: a
region is a gap of the set when it is significant and the set holds at most half of the real share
(o ≤ q / 2, so a large set's small shortfalls are not called gaps), or, whatever the test says, when
the region holds at least :data:`FLOOR_REAL` (20) real samples, the set would expect at least
:data:`FLOOR_EXPECTED` (10) samples in it (m q ≥ 10) and holds less than a tenth of the real share
(o < q / 10): a region with real data and almost no synthetic data is always a gap. No holdout is needed.

What the list cannot say: per set and region, ``named_if_absent`` (:func:`named_if_absent`) is the chance the
rule names the region for a set of the set's size with none of it. A region that is not a gap and scores under
:data:`VOUCH` (0.9) is one the set is too small to vouch for (:meth:`GapReport.blind`), said in words beside
its gaps with the size that would vouch for it (:meth:`GapReport.blind_summary`).

Coverage (:func:`analysis.judge.compare.coverage_reference`: the k-NN balls of the real holdout, or
of all real samples cross-fitted; each set subsampled to the same size as ``compare`` does) is kept as
a second column per region where it is reportable (a reference of at least 40 k samples); below that
floor it is NaN and ``coverage_note`` says why. Gaps are ranked by the real samples the set leaves
unmatched (``real_uncovered``: the region's real samples times 1 − o / q).

References: Benjamini & Hochberg (1995), "Controlling the false discovery rate", JRSS B 57(1);
occupancy of density regions as a check of generative coverage follows the cell-based tests of
Richardson & Weiss (2018), "On GANs and GMMs", NeurIPS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.judge.compare import (
    BASELINE,
    DEFAULT_COVERAGE,
    CompareError,
    checked_sets,
    coverage_reference,
    equal_size,
)
from analysis.maps.occupancy import (
    ALPHA,
    FOLDS,
    PLACE_K,
    VOUCH,
    bh_reject,
    cross_fit_places,
    fold_dispersion,
    fold_split,
    leak_shares,
    named_if_absent,
    occupancy_pvalues,
    place,
    place_among_folds,
    rule_gaps,
    size_to_vouch,
)
from analysis.maps.region_cache import real_regions
from analysis.maps.regions import Region, unit_rows

__all__ = [
    "percent_text",
    "Gap",
    "GapReport",
    "Region",
    "find_gaps",
    "gaps_frame",
    "place",
    "cross_fit_places",
    "place_among_folds",
    "fold_split",
    "occupancy_pvalues",
    "bh_reject",
    "named_if_absent",
    "RULE",
    "ALPHA",
    "PLACE_K",
    "FOLDS",
]

#: Most samples placed per set and most real samples in the null (seeded subsamples above): a share is
#: known to a fraction of a percent at 20,000, and a million rows stay seconds.
PLACE_AT_MOST = 20_000
#: Most real samples placed for the null (seeded subsample above): their shares are known to about 0.3 % at 10,000.
NULL_AT_MOST = 10_000
#: Most real samples that are neighbours (seeded subsample above).
NEIGHBOURS_AT_MOST = 50_000
#: Fewest real samples for named gaps.
MIN_REAL = 50
#: Seed of the regions and of the folds of the null: fixed, so every page, seed and set names the same regions.
REGION_SEED = 0
#: Example real texts (ids) and nearest synthetic texts (ids) per gap.
EXAMPLES = 3

RULE = (
    "Each synthetic sample is placed in the region of the real data most of its 10 nearest real samples belong to "
    "(cosine on the embeddings, among four fifths of the real data); real samples are placed the same way, each "
    "fold of five among the others, and give the region's real share. A region is a gap of a set when the set's "
    "share there is below the real share by more than sampling explains (one-sided test against real data of the "
    "same size, Benjamini–Hochberg at 5 % across the regions) and is at most half of it, or always when the region "
    "holds at least 20 real samples, the set would expect at least 10 samples in it and holds less than a tenth of "
    "the real share."
)


def percent_text(share: float) -> str:
    """A share as a user reads it: ``17%``, ``2.3%``, ``0.3%``, ``0.05%``, ``0%`` (``—`` when not a number)."""
    if not np.isfinite(share):
        return "—"
    value = 100 * share
    if value == 0:
        return "0%"
    if value >= 10:
        return f"{value:.0f}%"
    return f"{value:.1f}%" if value >= 0.1 else f"{value:.2f}%"


@dataclass(frozen=True)
class Gap:
    """One region a synthetic set under-fills: its share of real data against the set's share, and examples.

    ``real_share`` and ``set_share`` are the occupancy (module docstring); ``real_uncovered`` the real
    samples the set leaves unmatched (region size × (1 − set_share / real_share)); ``share_covered`` and
    ``share_covered_by_real`` the k-NN coverage of the region's holdout samples by the set and by real
    data of the same size (NaN where coverage is not reportable); ``example_ids`` the real samples
    nearest the region's centre, ``synthetic_ids`` the set's samples nearest it; ``why`` is ``"test"``
    or ``"floor"`` (the rule that named it).
    """

    set: str
    region: int
    name: str
    real_uncovered: int
    share_covered: float
    share_covered_by_real: float
    example_ids: list[str]
    labels: dict[str, int] | None
    real_share: float = float("nan")
    set_share: float = float("nan")
    real_count: int = 0
    set_count: int = 0
    set_size: int = 0
    p_value: float = float("nan")
    why: str = ""
    synthetic_ids: list[str] = field(default_factory=list)

    def sentence(self) -> str:
        """The gap as a user reads it: ``"court / judge / law (law): 17% of real, 0.3% of llm"``."""
        return f"{self.name}: {percent_text(self.real_share)} of real, {percent_text(self.set_share)} of {self.set}"

    def to_dict(self) -> dict:
        out = {
            "region": self.region,
            "name": self.name,
            "real_share": self.real_share,
            "set_share": self.set_share,
            "real_count": self.real_count,
            "set_count": self.set_count,
            "set_size": self.set_size,
            "p_value": self.p_value,
            "why": self.why,
            "real_uncovered": self.real_uncovered,
            "share_covered": None if not np.isfinite(self.share_covered) else self.share_covered,
            "share_covered_by_real": None
            if not np.isfinite(self.share_covered_by_real)
            else self.share_covered_by_real,
            "example_ids": list(self.example_ids),
            "synthetic_ids": list(self.synthetic_ids),
            "sentence": self.sentence(),
        }
        if self.labels is not None:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class GapReport:
    """Named regions of the real data and, per synthetic set, its gaps, most real samples unmatched first.

    ``region_of`` gives the region of every real row of the sample table (-1 for synthetic rows) and
    ``placed`` the region each synthetic row is placed in (-1 for real rows); ``tested`` holds a row
    per (set, region) with the numbers behind the rule; ``unsupported`` is ``""``, or why no gap can be
    named at all; ``coverage_note`` is ``""``, or why the coverage column is empty.
    """

    regions: list[Region]
    gaps: dict[str, list[Gap]]
    rule: str
    region_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    tested: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    unsupported: str = ""
    placed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    coverage_note: str = ""

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "unsupported": self.unsupported,
            "coverage_note": self.coverage_note,
            "regions": [region.to_dict() for region in self.regions],
            "gaps": {name: [gap.to_dict() for gap in gaps] for name, gaps in self.gaps.items()},
            "not_vouched": {
                name: self.blind(name)[["region", "name", "real_share", "named_if_absent", "vouched_at"]]
                .astype(object)
                .where(lambda frame: frame.notna(), None)
                .to_dict("records")
                for name in self.gaps
            },
        }

    def top(self, set_name: str, n: int = 3) -> list[Gap]:
        """The set's ``n`` largest gaps (an empty list for a set without gaps or an unknown set)."""
        return list(self.gaps.get(set_name, []))[:n]

    def text_summary(self, set_name: str, n: int = 3) -> str:
        """One sentence: ``"llm misses: court / judge / law (law): 17% of real, 0.3% of llm; …"``."""
        if self.unsupported:
            return f"{set_name}: no gaps reported ({self.unsupported.split('.')[0]})."
        gaps = self.top(set_name, n)
        if not gaps:
            return f"{set_name} misses no region beyond what sampling explains."
        more = len(self.gaps[set_name]) - len(gaps)
        return (
            f"{set_name} misses: "
            + "; ".join(gap.sentence() for gap in gaps)
            + (f"; and {more} more" if more > 0 else "")
            + "."
        )

    def blind(self, set_name: str) -> pd.DataFrame:
        """The regions the set is too small to vouch for: not its gaps, and a set of its size with none of them
        would be named less than :data:`VOUCH` of the time (:func:`named_if_absent`); largest real share first.
        Rows of :attr:`tested`; ``vouched_at`` the set size that would vouch for the region (NaN: none would)."""
        if self.tested.empty or self.unsupported:
            return pd.DataFrame(columns=["region", "name", "real_share", "named_if_absent", "vouched_at"])
        rows = self.tested[(self.tested["set"] == set_name) & ~self.tested["gap"]]
        rows = rows[rows["named_if_absent"] < VOUCH]
        return rows.sort_values(["real_share", "region"], ascending=[False, True]).reset_index(drop=True)

    def blind_parts(self, set_name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`blind` in two: the regions a larger set would vouch for (``vouched_at``), and those none would."""
        blind = self.blind(set_name)
        return blind[blind["vouched_at"].notna()], blind[blind["vouched_at"].isna()]

    def blind_summary(self, set_name: str, n: int = 3) -> str:
        """What the set's gaps cannot say, in words ("" if nothing): the regions a larger set would settle, as on the
        demo ``"300 samples of llm g2 are too few to vouch for 6 regions; a set of that size with none of the region is
        named as missing only this often: Technology: used / device / use (6.2% of real) 72%, 90% at 469 samples; …;
        and 3 more."``, then those no size would (:meth:`blind_parts`)."""
        later, never = self.blind_parts(set_name)
        said = []
        if len(later):
            size = int(self.tested.loc[self.tested["set"] == set_name, "set_size"].iloc[0])
            parts = [
                f"{row.name} ({percent_text(row.real_share)} of real) {row.named_if_absent:.0%}, "
                f"{VOUCH:.0%} at {int(row.vouched_at):,} samples"
                for row in later.head(n).itertuples()
            ]
            more = f"; and {len(later) - n} more" if len(later) > n else ""
            regions = "a region" if len(later) == 1 else f"{len(later)} regions"
            said.append(
                f"{size:,} samples of {set_name} are too few to vouch for {regions}; a set of that size with none of "
                "the region is named as missing only this often: " + "; ".join(parts) + more + "."
            )
        if len(never):
            names = "; ".join(f"{row.name} ({percent_text(row.real_share)} of real)" for row in never.itertuples())
            said.append(
                f"No set size lets the test vouch for {names}: texts of other regions are placed there about as "
                "often as its own."
            )
        return " ".join(said)

    def members(self, region: int) -> np.ndarray:
        """Rows of the sample table in the region (real samples only)."""
        return np.flatnonzero(self.region_of == region)


def _nearest(embeddings: np.ndarray, centre: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` of ``rows`` nearest ``centre`` (a unit vector; cosine), nearest first; ties by row."""
    if len(rows) == 0:
        return rows
    sims = unit_rows(embeddings[rows]) @ centre
    return rows[np.lexsort((rows, -sims))[:n]]


def find_gaps(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    xy: np.ndarray | None = None,
    seed: int = 0,
    k: int = 5,
    size: int | None = None,
    coverage: str = DEFAULT_COVERAGE,
    alpha: float = ALPHA,
    cache_dir: str | Path | None = None,
    by_label: bool | None = None,
) -> GapReport:
    """Named regions of the real data, and for each synthetic set the regions it under-fills (module docstring).

    Parameters
    ----------
    samples
        The sample table (id, text, source, method, generation, label, split): real data and
        synthetic sets, named as ``compare`` names them. No holdout is needed for the gaps.
    embeddings
        Row-aligned embeddings.
    xy
        Optional row-aligned 2-D map coordinates: only where each region's centre is drawn (its real
        members' median); the regions and gaps never depend on it. None: centres are NaN.
    seed
        Seeds the coverage column's subsamples and the subsample of a set above :data:`PLACE_AT_MOST`. The
        regions and the folds of the null are seeded with :data:`REGION_SEED`, whatever ``seed`` is, so
        the regions stay the same across pages, seeds and sets.
    k, size, coverage
        The coverage column, as in :func:`analysis.judge.compare.compare`: the k-NN balls of the
        ``coverage`` reference (``holdout`` or ``crossfit``), each set subsampled to ``size`` (default
        the smallest set). Occupancy uses every sample of each set (up to :data:`PLACE_AT_MOST`, a
        seeded subsample above).
    alpha
        The false-gap rate per set (Benjamini–Hochberg across its regions).
    cache_dir
        Where the regions are stored (:func:`analysis.maps.region_cache.real_regions`).
    by_label
        True: the labels are the regions; False: k-means clusters of the embeddings (named with their
        main labels); None (default): the labels where the column is usable
        (:func:`analysis.maps.regions.usable_labels`), else clusters.

    Returns
    -------
    GapReport
        Regions numbered by size; per set its gaps by :data:`RULE`, most real samples unmatched first.
        With fewer than :data:`MIN_REAL` real samples the regions are named but no set has a gap, and
        ``unsupported`` says why.

    Raises
    ------
    analysis.judge.compare.CompareError
        When there is no synthetic set, or a set with k or fewer samples.
    """
    samples = samples.reset_index(drop=True)
    embeddings = np.asarray(embeddings)
    if len(embeddings) != len(samples):
        raise ValueError(f"{len(embeddings)} embeddings for {len(samples)} samples")
    groups = checked_sets(samples, k=k)
    if xy is not None:
        xy = np.asarray(xy)
        if xy.shape != (len(samples), 2):
            raise ValueError(f"xy must have shape ({len(samples)}, 2), got {xy.shape}")

    real = np.flatnonzero((samples["source"] == "real").to_numpy())
    texts = samples["text"].astype(str).to_numpy()
    label_column = samples["label"].to_numpy() if "label" in samples else np.full(len(samples), None, dtype=object)
    labelled = bool(pd.notna(label_column[real]).any())
    found = real_regions(
        texts[real],
        embeddings[real],
        labels=label_column[real] if labelled else None,
        xy=None if xy is None else xy[real],
        seed=REGION_SEED,
        cache_dir=cache_dir,
        by_label=by_label,
    )
    n_regions = len(found.regions)
    region_of = np.full(len(samples), -1, dtype=np.int64)
    region_of[real] = found.labels
    placed_of = np.full(len(samples), -1, dtype=np.int64)
    ids = samples["id"].astype(str).to_numpy()
    unsupported = ""
    if len(real) < MIN_REAL:
        unsupported = f"Named gaps need at least {MIN_REAL} real samples; there are {len(real)}. Load more real data."

    rng = np.random.default_rng(REGION_SEED)
    pool = real if len(real) <= NEIGHBOURS_AT_MOST else np.sort(rng.choice(real, NEIGHBOURS_AT_MOST, replace=False))
    pool_unit = unit_rows(embeddings[pool])  # the neighbours (no unit-length copy of every row: a million is 1.5 GB)
    pool_region = region_of[pool]
    null_rows = np.arange(len(pool))
    if len(pool) > NULL_AT_MOST:
        null_rows = np.sort(rng.choice(len(pool), NULL_AT_MOST, replace=False))
    real_placed, fold = cross_fit_places(pool_unit, pool_region, seed=REGION_SEED, rows=null_rows)
    pool_fold = fold_split(len(pool), FOLDS, REGION_SEED)  # the same folds: a set is placed as the null is
    real_counts = np.bincount(real_placed, minlength=n_regions)
    real_share = real_counts / max(len(real_placed), 1)
    dispersion = fold_dispersion(real_placed, fold, real_share, FOLDS)
    region_size = np.bincount(found.labels, minlength=n_regions)
    leak = leak_shares(pool_region[null_rows], real_placed, n_regions)

    coverage_note, balls, cover_groups = "", None, {}
    try:
        balls = coverage_reference(samples, embeddings, coverage, k=k)
        cover_groups = equal_size(groups, size, seed)
        coverage_note = balls.unsupported
    except CompareError as exc:
        coverage_note = f"No coverage column: {exc}"
    if balls is not None and not balls.unsupported:
        holdout_region = region_of[balls.rows]
        holdout_count = np.bincount(holdout_region, minlength=n_regions)
        by_real = np.bincount(
            holdout_region, weights=balls.real_covered(embeddings, cover_groups[BASELINE], seed), minlength=n_regions
        )

    centres = {}
    for region in found.regions:
        inside = pool_region == region.id
        centre = pool_unit[inside].mean(axis=0) if inside.any() else np.zeros(pool_unit.shape[1], dtype=np.float32)
        centres[region.id] = centre / (np.linalg.norm(centre) or 1.0)

    gaps: dict[str, list[Gap]] = {}
    tested = []
    for name, rows in groups.items():
        if name == BASELINE:
            continue
        scored = rows
        if len(rows) > PLACE_AT_MOST:
            scored = np.sort(np.random.default_rng(seed).choice(rows, PLACE_AT_MOST, replace=False))
        where = place_among_folds(
            pool_unit,
            pool_region,
            pool_fold,
            embeddings[scored],
            fold_split(len(scored), FOLDS, seed),
            regions=n_regions,
        )
        placed_of[scored] = where
        m = len(scored)
        counts = np.bincount(where, minlength=n_regions)
        set_share = counts / m
        pvalues = occupancy_pvalues(counts, m, real_share, len(real_placed), dispersion)
        rejected, adjusted = bh_reject(pvalues, alpha)
        tested_gap, floor_gap = rule_gaps(rejected, counts, m, real_share, region_size)
        power = named_if_absent(real_share, leak, m, len(real_placed), region_size, dispersion=dispersion, alpha=alpha)
        if unsupported:
            tested_gap[:], floor_gap[:] = False, False
            power[:] = np.nan
        covered_share = np.full(n_regions, np.nan)
        covered_by_real = np.full(n_regions, np.nan)
        if balls is not None and not balls.unsupported:
            by_set = np.bincount(
                holdout_region,
                weights=balls.covered(embeddings[cover_groups[name]], cover_groups[name]),
                minlength=n_regions,
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                covered_share = np.where(holdout_count > 0, by_set / holdout_count, np.nan)
                covered_by_real = np.where(holdout_count > 0, by_real / holdout_count, np.nan)
        found_gaps = []
        for region in found.regions:
            r = region.id
            gap = bool(tested_gap[r] or floor_gap[r])
            why = "floor" if floor_gap[r] else ("test" if tested_gap[r] else "")
            vouched_at = np.nan
            if not gap and power[r] < VOUCH:
                needed = size_to_vouch(
                    real_share[r],
                    leak[r],
                    m,
                    len(real_placed),
                    region_size[r],
                    regions=n_regions,
                    cap=PLACE_AT_MOST,
                    dispersion=dispersion,
                    alpha=alpha,
                )
                vouched_at = np.nan if needed is None else needed
            unmatched = (
                int(round(region_size[r] * max(0.0, 1 - set_share[r] / real_share[r]))) if real_share[r] > 0 else 0
            )
            tested.append(
                {
                    "set": name,
                    "region": r,
                    "name": region.name,
                    "real": int(region_size[r]),
                    "real_share": float(real_share[r]),
                    "set_count": int(counts[r]),
                    "set_size": m,
                    "set_share": float(set_share[r]),
                    "expected": float(m * real_share[r]),
                    "p_value": float(pvalues[r]),
                    "p_adjusted": float(adjusted[r]),
                    "covered": float(covered_share[r]),
                    "covered_by_real": float(covered_by_real[r]),
                    "gap": gap,
                    "why": why,
                    "leak": float(leak[r]),
                    "named_if_absent": float(power[r]),
                    "vouched_at": float(vouched_at),
                }
            )
            if not gap:
                continue
            members = real[found.labels == r]
            typical = _nearest(embeddings, centres[r], pool[pool_region == r], EXAMPLES)
            nearest_synthetic = _nearest(embeddings, centres[r], scored, EXAMPLES)
            label_mix = None
            if labelled:
                counts_by_label = pd.Series(label_column[members]).fillna("(no label)").astype(str).value_counts()
                label_mix = {str(label): int(count) for label, count in counts_by_label.items()}
            found_gaps.append(
                Gap(
                    set=name,
                    region=r,
                    name=region.name,
                    real_uncovered=unmatched,
                    share_covered=float(covered_share[r]),
                    share_covered_by_real=float(covered_by_real[r]),
                    example_ids=[str(ids[i]) for i in typical],
                    labels=label_mix,
                    real_share=float(real_share[r]),
                    set_share=float(set_share[r]),
                    real_count=int(region_size[r]),
                    set_count=int(counts[r]),
                    set_size=m,
                    p_value=float(pvalues[r]),
                    why=why,
                    synthetic_ids=[str(ids[i]) for i in nearest_synthetic],
                )
            )
        gaps[name] = sorted(found_gaps, key=lambda gap: (-gap.real_uncovered, gap.region))
    return GapReport(
        regions=found.regions,
        gaps=gaps,
        rule=RULE,
        region_of=region_of,
        tested=pd.DataFrame(tested),
        unsupported=unsupported,
        placed=placed_of,
        coverage_note=coverage_note,
    )


def gaps_frame(report: GapReport, samples: pd.DataFrame, *, example_chars: int = 160) -> pd.DataFrame:
    """Every set's gaps as one table for a page or a CSV, the examples as their texts (cut at ``example_chars``).

    Columns: ``set, region, in words, share of real, share of set, real unmatched, covered, covered by real,
    examples, nearest synthetic, labels`` (``covered`` columns NaN where coverage is not reportable; label
    mix of the region's real samples as "label count, ..."; empty without labels).
    """
    text_of = dict(zip(samples["id"].astype(str), samples["text"].astype(str)))

    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= example_chars else text[: example_chars - 1].rstrip() + "…"

    rows = [
        {
            "set": gap.set,
            "region": gap.name,
            "in words": gap.sentence(),
            "share of real": gap.real_share,
            "share of set": gap.set_share,
            "real unmatched": gap.real_uncovered,
            "covered": gap.share_covered,
            "covered by real": gap.share_covered_by_real,
            "examples": "\n".join(cut(text_of.get(i, "")) for i in gap.example_ids),
            "nearest synthetic": "\n".join(cut(text_of.get(i, "")) for i in gap.synthetic_ids),
            "labels": ", ".join(f"{label} {count}" for label, count in list((gap.labels or {}).items())[:4]),
        }
        for gaps in report.gaps.values()
        for gap in gaps
    ]
    columns = [
        "set",
        "region",
        "in words",
        "share of real",
        "share of set",
        "real unmatched",
        "covered",
        "covered by real",
        "examples",
        "nearest synthetic",
        "labels",
    ]
    return pd.DataFrame(rows, columns=columns)
