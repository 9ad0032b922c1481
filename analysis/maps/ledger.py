"""A ledger of loss across generations: what each recursive generation of one method lost first.

For the synthetic sets of one method with generations 1..k (the demo's ``llm``, ``llm g2``, ``llm g3``),
measured on **one fixed set of named regions of the real data** (:func:`analysis.maps.gaps.find_gaps`: regions
fitted on the real samples alone, each synthetic sample placed in the region most of its 10 nearest real
samples belong to), :func:`loss_ledger` lists:

* **occupancy**: per generation, each region's share of the generation's samples beside the real share;
* **lost regions**: the regions that fell under the gap rule (:data:`analysis.maps.gaps.RULE`, judged per
  generation by :func:`~analysis.maps.gaps.find_gaps` itself), each with the first generation it did so;
* **halved regions**: a region *lost half its share between g(i) and g(i+1)* when the later generation's
  share is at most half the earlier one's and the fall is more than sampling explains: the gaps' own
  one-sided occupancy test (:func:`analysis.maps.gaps.occupancy_pvalues`, the earlier generation in the place
  of real data, dispersion 1) with Benjamini–Hochberg across the regions (:func:`analysis.maps.gaps.bh_reject`)
  at :data:`analysis.maps.gaps.ALPHA` (5 %);
* **lost tokens**: the real data's rare tokens, each with the first generation that does not use it at all
  (zero count), in the order they were lost. A *rare token* is a word (:func:`analysis.metrics.diversity.tokenize`:
  lower-cased runs of letters, digits and underscores) that all real samples together use at most
  ``max_count`` (2) times, the definition of the rare-token coverage metric
  (:func:`analysis.metrics.tails.rare_token_coverage`), and that at least ``min_samples`` (2) different real
  samples use, so that it is a word of the real data rather than one sample's name or typo.

No new rule is made up here: regions, placement and the gap rule are :mod:`analysis.maps.gaps`'; the ledger
only reads them generation after generation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.judge.compare import set_name
from analysis.maps.gaps import (
    ALPHA,
    RULE,
    GapReport,
    bh_reject,
    find_gaps,
    occupancy_pvalues,
    percent_text,
)
from analysis.maps.occupancy import MAX_RATIO
from analysis.metrics.diversity import tokenize

__all__ = [
    "LossLedger",
    "loss_ledger",
    "ledger_methods",
    "rare_tokens",
    "OCCUPANCY_COLUMNS",
    "LOST_REGION_COLUMNS",
    "HALVED_COLUMNS",
    "LOST_TOKEN_COLUMNS",
    "LOST_FIRST_COLUMNS",
]

#: Tidy occupancy: one row per (generation, region).
OCCUPANCY_COLUMNS = [
    "generation",
    "set",
    "region",
    "name",
    "real_share",
    "share",
    "count",
    "size",
    "gap",
    "why",
]
#: One row per region that fell under the gap rule in some generation, first lost first.
LOST_REGION_COLUMNS = [
    "region",
    "name",
    "lost_in",
    "set",
    "real_share",
    "share_before",
    "share_at_loss",
    "why",
    "gap_at_last",
    "sentence",
]
#: One row per region that lost half its share between two consecutive generations.
HALVED_COLUMNS = [
    "region",
    "name",
    "from_generation",
    "to_generation",
    "set",
    "real_share",
    "share_before",
    "share_after",
    "p_adjusted",
]
#: One row per rare real token that some generation does not use, in the order they were lost.
LOST_TOKEN_COLUMNS = ["token", "real_count", "real_samples", "lost_in", "count_before", "came_back"]
#: The "what each generation lost first" table.
LOST_FIRST_COLUMNS = ["generation", "set", "regions halved", "regions lost (gap rule)", "rare tokens lost", "examples"]
#: Tokens listed by name in a sentence or a table cell.
TOKENS_SHOWN = 8


def _g(generation: int) -> str:
    return f"g{int(generation)}"


def ledger_methods(samples: pd.DataFrame) -> list[str]:
    """The synthetic methods of ``samples`` with at least two generations, most generations first (ties by name)."""
    synthetic = samples[samples["source"] != "real"]
    if synthetic.empty:
        return []
    counts = synthetic.groupby("method")["generation"].nunique()
    counts = counts[counts >= 2]
    return sorted(counts.index.astype(str), key=lambda name: (-int(counts[name]), name))


def rare_tokens(real_texts, *, max_count: int = 2, min_samples: int = 2) -> pd.DataFrame:
    """The real data's rare tokens (module docstring): at most ``max_count`` uses, by ``min_samples`` or more samples.

    Parameters
    ----------
    real_texts
        The real samples' texts.
    max_count
        Most uses in all real samples together (2, as :func:`analysis.metrics.tails.rare_token_coverage`).
    min_samples
        Fewest real samples that use the token (2: one sample's name or typo is not a word of the data).

    Returns
    -------
    DataFrame
        ``token, real_count, real_samples``, sorted by token.
    """
    counts: Counter[str] = Counter()
    samples: Counter[str] = Counter()
    for text in real_texts:
        tokens = tokenize(str(text))
        counts.update(tokens)
        samples.update(set(tokens))
    rows = [
        (token, count, samples[token])
        for token, count in counts.items()
        if count <= max_count and samples[token] >= min_samples
    ]
    return pd.DataFrame(sorted(rows), columns=["token", "real_count", "real_samples"])


@dataclass(frozen=True)
class LossLedger:
    """What each generation of one method lost, on the real data's named regions (module docstring).

    Attributes
    ----------
    method
        The method whose generations are read.
    generations
        Its generations, in order; ``sets`` their set names (``llm``, ``llm g2``, …).
    occupancy
        :data:`OCCUPANCY_COLUMNS`: per generation and region, ``share`` (the generation's samples placed in
        the region, over its size) beside ``real_share`` (real samples placed the same way), and whether the
        gap rule names the region for that generation (``gap``, ``why``: ``test`` or ``floor``).
    lost_regions
        :data:`LOST_REGION_COLUMNS`: regions that are a gap in some generation, with the first (``lost_in``),
        the share the generation before held (the real share before g1), the share at the loss, and whether the
        region is still a gap in the last generation; ordered by ``lost_in``, then most real share first.
    halved
        :data:`HALVED_COLUMNS`: regions whose share at least halved between consecutive generations, beyond
        sampling (module docstring); ordered by generation, then largest fall first.
    lost_tokens
        :data:`LOST_TOKEN_COLUMNS`: rare real tokens with the first generation that has zero count of them
        (``lost_in``), the count in the generation before (``count_before``; NaN for g1, whose reference is
        the real data) and whether a later generation uses the token again; ordered by ``lost_in``, then the
        most used before, then the token.
    rare_tokens
        How many rare tokens the real data has.
    unsupported
        ``""``, or why no region can be called a gap (too little real data; occupancy is still given).
    """

    method: str
    generations: list[int]
    sets: list[str]
    occupancy: pd.DataFrame
    lost_regions: pd.DataFrame
    halved: pd.DataFrame
    lost_tokens: pd.DataFrame
    rare_tokens: int
    rule: str = RULE
    unsupported: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def in_words(self) -> list[str]:
        """One line per loss, generation by generation: halved regions, regions under the gap rule, rare tokens.

        For example ``"region 'court / judge / law' lost half its share between g1 and g2 (12% → 3.1%;
        real 11%)"``.
        """
        lines = []
        for generation, name in zip(self.generations, self.sets):
            halved = self.halved[self.halved["to_generation"] == generation]
            for row in halved.itertuples(index=False):
                lines.append(
                    f"region '{row.name}' lost half its share between {_g(row.from_generation)} and "
                    f"{_g(row.to_generation)} ({percent_text(row.share_before)} → {percent_text(row.share_after)}; "
                    f"real {percent_text(row.real_share)})"
                )
            lost = self.lost_regions[self.lost_regions["lost_in"] == generation]
            for row in lost.itertuples(index=False):
                lines.append(
                    f"region '{row.name}' fell under the gap rule in {_g(generation)}: "
                    f"{percent_text(row.real_share)} of real, "
                    f"{percent_text(row.share_at_loss)} of {row.set}"
                )
            tokens = self.lost_tokens[self.lost_tokens["lost_in"] == generation]
            if generation == self.generations[0]:
                lines.append(
                    f"{_g(generation)} ({name}) uses {self.rare_tokens - len(tokens):,} of the real data's "
                    f"{self.rare_tokens:,} rare tokens" + (f"; {len(tokens):,} never appear" if len(tokens) else "")
                )
            elif len(tokens):
                previous = _g(self.generations[self.generations.index(generation) - 1])
                shown = ", ".join(tokens["token"].head(TOKENS_SHOWN))
                more = f", and {len(tokens) - TOKENS_SHOWN:,} more" if len(tokens) > TOKENS_SHOWN else ""
                lines.append(
                    f"{_g(generation)} lost {len(tokens):,} rare token{'s' if len(tokens) != 1 else ''} of the real "
                    f"data that {previous} used: {shown}{more}"
                )
        return lines

    def lost_first(self) -> pd.DataFrame:
        """The table "what each generation lost first": :data:`LOST_FIRST_COLUMNS`, one row per generation."""
        rows = []
        for generation, name in zip(self.generations, self.sets):
            halved = self.halved[self.halved["to_generation"] == generation]
            lost = self.lost_regions[self.lost_regions["lost_in"] == generation]
            tokens = self.lost_tokens[self.lost_tokens["lost_in"] == generation]
            rows.append(
                {
                    "generation": int(generation),
                    "set": name,
                    "regions halved": "; ".join(halved["name"]),
                    "regions lost (gap rule)": "; ".join(lost["name"]),
                    "rare tokens lost": int(len(tokens)),
                    "examples": ", ".join(tokens["token"].head(TOKENS_SHOWN)),
                }
            )
        return pd.DataFrame(rows, columns=LOST_FIRST_COLUMNS)

    def occupancy_wide(self) -> pd.DataFrame:
        """Occupancy as a reader scans it: one row per region, ``real`` then one share column per set."""
        if self.occupancy.empty:
            return pd.DataFrame(columns=["region", "name", "real"])
        wide = self.occupancy.pivot_table(index=["region", "name"], columns="set", values="share", sort=False)
        wide = wide[[name for name in self.sets if name in wide.columns]]
        real = self.occupancy.drop_duplicates("region").set_index(["region", "name"])["real_share"]
        wide.insert(0, "real", real.reindex(wide.index))
        wide.columns.name = None
        return wide.reset_index().sort_values("region", kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            return json_safe(frame.to_dict(orient="records"))

        return {
            "method": self.method,
            "generations": [int(g) for g in self.generations],
            "sets": list(self.sets),
            "rule": self.rule,
            "unsupported": self.unsupported,
            "rare_tokens": int(self.rare_tokens),
            "in_words": self.in_words(),
            "lost_regions": records(self.lost_regions),
            "halved": records(self.halved),
            "lost_tokens": records(self.lost_tokens),
            "occupancy": records(self.occupancy),
        }


def json_safe(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN as None, for ``json.dumps``."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    return value


def loss_ledger(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    method: str | None = None,
    gap_report: GapReport | None = None,
    max_count: int = 2,
    min_samples: int = 2,
    alpha: float = ALPHA,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    by_label: bool | None = None,
) -> LossLedger:
    """What each generation of ``method`` lost first, on one fixed set of named real regions (module docstring).

    Parameters
    ----------
    samples
        The sample table (``id, text, source, method, generation``, …): the real data and at least two
        generations of ``method``. Other synthetic sets are left out (they never change the regions).
    embeddings
        Row-aligned embeddings.
    method
        The method whose generations are read; default the one with the most generations
        (:func:`ledger_methods`).
    gap_report
        A :func:`analysis.maps.gaps.find_gaps` report of ``samples`` to read instead of computing one (a page
        or the report has one already); it must hold every generation of ``method``.
    max_count, min_samples
        What a rare token is (:func:`rare_tokens`).
    alpha
        Benjamini–Hochberg level of the halving test across regions (the gaps' :data:`~analysis.maps.gaps.ALPHA`).
    seed, cache_dir, by_label
        Passed to :func:`analysis.maps.gaps.find_gaps` when no ``gap_report`` is given.

    Returns
    -------
    LossLedger
        Occupancy per generation, regions lost (first generation under the gap rule), regions halved and rare
        tokens lost, in the order they were lost.

    Raises
    ------
    ValueError
        When ``method`` (or, without it, every method) has fewer than two generations, or the embeddings
        do not align with ``samples``.
    analysis.judge.compare.CompareError
        When a generation has too few samples for :func:`~analysis.maps.gaps.find_gaps`.
    """
    samples = samples.reset_index(drop=True)
    embeddings = np.asarray(embeddings)
    if len(embeddings) != len(samples):
        raise ValueError(f"{len(embeddings)} embeddings for {len(samples)} samples")
    methods = ledger_methods(samples)
    if method is None:
        if not methods:
            raise ValueError(
                "No synthetic method has two or more generations; a ledger of loss needs generations 1..k "
                "of one method."
            )
        method = methods[0]
    if method not in methods:
        raise ValueError(
            f"Method {method!r} has fewer than two generations here; methods with generations: "
            f"{', '.join(methods) or 'none'}."
        )
    real = (samples["source"] == "real").to_numpy()
    mine = ~real & (samples["method"].astype(str) == method).to_numpy()
    generations = sorted(int(g) for g in samples.loc[mine, "generation"].unique())
    sets = [set_name(method, g) for g in generations]

    report = gap_report
    if report is None or any(name not in report.gaps for name in sets):
        keep = real | mine
        report = find_gaps(
            samples[keep].reset_index(drop=True),
            embeddings[keep],
            seed=seed,
            alpha=alpha,
            cache_dir=cache_dir,
            by_label=by_label,
        )
    tested = report.tested
    occupancy = tested[tested["set"].isin(sets)].copy()
    occupancy["generation"] = occupancy["set"].map(dict(zip(sets, generations)))
    occupancy = occupancy.rename(columns={"set_share": "share", "set_count": "count", "set_size": "size"})
    occupancy = occupancy[OCCUPANCY_COLUMNS].sort_values(["generation", "region"], kind="stable").reset_index(drop=True)

    lost_regions = _lost_regions(occupancy, report, generations, sets)
    halved = _halved(occupancy, generations, sets, alpha)
    texts = samples["text"].astype(str).to_numpy()
    rare = rare_tokens(texts[real], max_count=max_count, min_samples=min_samples)
    lost_tokens = _lost_tokens(
        rare, [texts[mine & (samples["generation"] == g).to_numpy()] for g in generations], generations
    )
    return LossLedger(
        method=method,
        generations=generations,
        sets=sets,
        occupancy=occupancy,
        lost_regions=lost_regions,
        halved=halved,
        lost_tokens=lost_tokens,
        rare_tokens=len(rare),
        rule=report.rule,
        unsupported=report.unsupported,
        settings={"max_count": max_count, "min_samples": min_samples, "alpha": alpha},
    )


def _lost_regions(occupancy: pd.DataFrame, report: GapReport, generations: list[int], sets: list[str]) -> pd.DataFrame:
    """Each region's first generation under the gap rule, with its shares before and at the loss."""
    sentence = {(gap.set, gap.region): gap.sentence() for gaps in report.gaps.values() for gap in gaps}
    rows = []
    for region, rows_of in occupancy.groupby("region", sort=True):
        rows_of = rows_of.sort_values("generation")
        gaps = rows_of[rows_of["gap"].astype(bool)]
        if gaps.empty:
            continue
        first = gaps.iloc[0]
        at = generations.index(int(first["generation"]))
        before = float(first["real_share"]) if at == 0 else float(rows_of.iloc[at - 1]["share"])
        rows.append(
            {
                "region": int(region),
                "name": first["name"],
                "lost_in": int(first["generation"]),
                "set": first["set"],
                "real_share": float(first["real_share"]),
                "share_before": before,
                "share_at_loss": float(first["share"]),
                "why": first["why"],
                "gap_at_last": bool(rows_of.iloc[-1]["gap"]),
                "sentence": sentence.get((first["set"], int(region)), ""),
            }
        )
    table = pd.DataFrame(rows, columns=LOST_REGION_COLUMNS)
    if table.empty:
        return table
    return table.sort_values(
        ["lost_in", "real_share", "region"], ascending=[True, False, True], kind="stable"
    ).reset_index(drop=True)


def _halved(occupancy: pd.DataFrame, generations: list[int], sets: list[str], alpha: float) -> pd.DataFrame:
    """Regions whose share at least halved between consecutive generations, beyond sampling (module docstring)."""
    rows = []
    for before, after in zip(generations, generations[1:]):
        a = occupancy[occupancy["generation"] == before].sort_values("region")
        b = occupancy[occupancy["generation"] == after].sort_values("region")
        if a.empty or b.empty:
            continue
        pvalues = occupancy_pvalues(
            b["count"].to_numpy(), int(b["size"].iloc[0]), a["share"].to_numpy(), int(a["size"].iloc[0])
        )
        rejected, adjusted = bh_reject(pvalues, alpha)
        share_a, share_b = a["share"].to_numpy(), b["share"].to_numpy()
        fell = rejected & (share_a > 0) & (share_b <= MAX_RATIO * share_a)
        for i in np.flatnonzero(fell):
            rows.append(
                {
                    "region": int(a["region"].iloc[i]),
                    "name": a["name"].iloc[i],
                    "from_generation": int(before),
                    "to_generation": int(after),
                    "set": b["set"].iloc[i],
                    "real_share": float(a["real_share"].iloc[i]),
                    "share_before": float(share_a[i]),
                    "share_after": float(share_b[i]),
                    "p_adjusted": float(adjusted[i]),
                }
            )
    table = pd.DataFrame(rows, columns=HALVED_COLUMNS)
    if table.empty:
        return table
    fall = table["share_before"] - table["share_after"]
    return (
        table.assign(_fall=fall)
        .sort_values(["to_generation", "_fall", "region"], ascending=[True, False, True], kind="stable")
        .drop(columns="_fall")
        .reset_index(drop=True)
    )


def _lost_tokens(rare: pd.DataFrame, generation_texts: list[np.ndarray], generations: list[int]) -> pd.DataFrame:
    """Each rare token's first generation with zero count, the count the generation before, and whether it came back."""
    wanted = set(rare["token"])
    counts = []
    for texts in generation_texts:
        counted: Counter[str] = Counter()
        for text in texts:
            counted.update(token for token in tokenize(str(text)) if token in wanted)
        counts.append(counted)
    rows = []
    for token, real_count, real_samples in rare.itertuples(index=False, name=None):
        per = [c[token] for c in counts]
        zero = [i for i, n in enumerate(per) if n == 0]
        if not zero:
            continue
        at = zero[0]
        rows.append(
            {
                "token": token,
                "real_count": int(real_count),
                "real_samples": int(real_samples),
                "lost_in": int(generations[at]),
                "count_before": float("nan") if at == 0 else float(per[at - 1]),
                "came_back": any(n > 0 for n in per[at + 1 :]),
            }
        )
    table = pd.DataFrame(rows, columns=LOST_TOKEN_COLUMNS)
    if table.empty:
        return table
    return (
        table.assign(_before=table["count_before"].fillna(0))
        .sort_values(["lost_in", "_before", "token"], ascending=[True, False, True], kind="stable")
        .drop(columns="_before")
        .reset_index(drop=True)
    )
