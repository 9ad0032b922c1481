"""Named gaps: the regions of the real data a synthetic set fails to reach, in words.

Regions are :mod:`analysis.regions`' named density clusters of the real samples on the map.
Coverage is the one of ``compare`` and Tail coverage (:func:`analysis.compare.coverage_reference`):
a real holdout sample is covered when its k-NN ball among the holdout holds a sample of the set,
each set subsampled to the same size with the same seed (:func:`analysis.compare.equal_size`).
Real train data at that size is what real data covers (``share_covered_by_real``): unseen real text
of the same size, never the holdout itself.

The rule (:data:`RULE`): a region is a gap of a set when it holds at least 4 k holdout samples
(:func:`analysis.metrics.fidelity.group_floor`) and the share the set covers falls below the share
real data covers by more than sampling explains: ``share_covered_by_real - share_covered > z ×
sqrt(2 p (1 - p) / n)``, with n the region's holdout samples, p the pooled share (both counts plus
one over 2 n + 2, so it is never 0 or 1) and z the one-sided normal quantile at 5 % / R, R the
regions tested (Bonferroni). Two real samples of the same size then differ by more in at most 5 %
of comparisons of a set's regions. Gaps are ranked by real holdout samples left uncovered.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from analysis.compare import BASELINE, checked_sets, coverage_reference, equal_size
from analysis.embed import default_cache_dir
from analysis.io import atomic_write, bytes_sha256
from analysis.metrics.fidelity import group_floor
from analysis.regions import FIT_AT_MOST, Region, RegionMap, find_regions

__all__ = [
    "Gap",
    "GapReport",
    "Region",
    "find_gaps",
    "gaps_frame",
    "region_map",
    "is_gap",
    "gap_margin",
    "RULE",
    "ALPHA",
]

#: Family-wise false-gap rate per set (Bonferroni over its regions).
ALPHA = 0.05
#: Example real texts (ids) per gap.
EXAMPLES = 3

RULE = (
    "A region is a gap of a set when it holds at least 4 × k real holdout samples and the share of them the set "
    "covers is below the share a real sample of the same size covers by more than z × sqrt(2 p (1 − p) / n): n "
    "the region's holdout samples, p the pooled share, z the one-sided normal quantile at 5 % divided by the "
    "number of regions tested (Bonferroni), so real data compared with real data shows no gap beyond sampling."
)


@dataclass(frozen=True)
class Gap:
    """One region a synthetic set under-covers: how many real holdout samples of it stay uncovered, and examples."""

    set: str
    region: int
    name: str
    real_uncovered: int
    share_covered: float
    share_covered_by_real: float
    example_ids: list[str]
    labels: dict[str, int] | None

    def to_dict(self) -> dict:
        out = {
            "region": self.region,
            "name": self.name,
            "real_uncovered": self.real_uncovered,
            "share_covered": self.share_covered,
            "share_covered_by_real": self.share_covered_by_real,
            "example_ids": list(self.example_ids),
        }
        if self.labels is not None:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class GapReport:
    """Named regions and, per synthetic set, its gaps, most real samples uncovered first.

    ``region_of`` gives the region of every row of the sample table (-1 for synthetic rows);
    ``tested`` holds a row per (set, region) with the counts behind the rule; ``unsupported`` is
    ``""``, or why no coverage share (and so no gap) can be reported.
    """

    regions: list[Region]
    gaps: dict[str, list[Gap]]
    rule: str
    region_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    tested: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    unsupported: str = ""

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "unsupported": self.unsupported,
            "regions": [region.to_dict() for region in self.regions],
            "gaps": {name: [gap.to_dict() for gap in gaps] for name, gaps in self.gaps.items()},
        }

    def top(self, set_name: str, n: int = 3) -> list[Gap]:
        """The set's ``n`` largest gaps (an empty list for a set without gaps or an unknown set)."""
        return list(self.gaps.get(set_name, []))[:n]

    def text_summary(self, set_name: str, n: int = 3) -> str:
        """One sentence: ``"llm misses: war / empire / roman (120 real samples uncovered); …"``."""
        if self.unsupported:
            return f"{set_name}: no gaps reported ({self.unsupported.split('.')[0]})."
        gaps = self.top(set_name, n)
        if not gaps:
            return f"{set_name} misses no region beyond what sampling explains."
        more = len(self.gaps[set_name]) - len(gaps)
        return (
            f"{set_name} misses: "
            + "; ".join(f"{gap.name} ({gap.real_uncovered:,} real samples uncovered)" for gap in gaps)
            + (f"; and {more} more" if more > 0 else "")
            + "."
        )

    def members(self, region: int) -> np.ndarray:
        """Rows of the sample table in the region (real samples only)."""
        return np.flatnonzero(self.region_of == region)


def gap_margin(covered: int, covered_by_real: int, n: int, tests: int, alpha: float = ALPHA) -> float:
    """How far the set's share may fall below real data's before it is a gap (:data:`RULE`)."""
    pooled = (covered + covered_by_real + 1) / (2 * n + 2)
    z = float(norm.ppf(1 - alpha / max(tests, 1)))
    return z * float(np.sqrt(2 * pooled * (1 - pooled) / n))


def is_gap(covered: int, covered_by_real: int, n: int, tests: int, *, k: int = 5, alpha: float = ALPHA) -> bool:
    """:data:`RULE` for one region of one set: ``covered`` and ``covered_by_real`` of its ``n`` holdout samples."""
    if n < group_floor(k):
        return False
    return (covered_by_real - covered) / n > gap_margin(covered, covered_by_real, n, tests, alpha)


_REGIONS: OrderedDict[str, RegionMap] = OrderedDict()  # per content key, the last few datasets' regions
_REGIONS_FORMAT = 1  # part of every regions key: bump when find_regions changes


def region_map(
    texts: list[str],
    xy: np.ndarray,
    *,
    seed: int = 0,
    texts_key: str | None = None,
    cache_dir: str | Path | None = None,
) -> RegionMap:
    """:func:`analysis.regions.find_regions`, kept in memory and on disk per content (texts, map, seed) for the pages.

    The key is a SHA-256 of the texts (or ``texts_key``), the map coordinates and the seed; the regions are
    stored as ``<cache_dir>/<key>.npz`` (default ``<analysis.embed.default_cache_dir()>/regions``), beside
    the maps, so a map opened again (even by a new server process) is named in a file read.
    ``texts_key`` is a string that identifies the texts, such as the dataset's checksum and which of its
    rows they are: hashing 735,000 texts takes seconds, and the pages pass it so that no visit does.
    """
    xy = np.ascontiguousarray(xy, dtype=np.float32)
    if texts_key is None:
        texts_key = bytes_sha256(pd.util.hash_pandas_object(pd.Series(texts, dtype=object), index=False).to_numpy())
    key = bytes_sha256(
        f"regions {_REGIONS_FORMAT} {FIT_AT_MOST} texts:{texts_key}".encode(),
        b"\x00xy:",
        xy.data.cast("B"),
        f"\x00seed:{seed}".encode(),
    )
    if key in _REGIONS:
        _REGIONS.move_to_end(key)
        return _REGIONS[key]
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir() / "regions") / f"{key}.npz"
    found = _read_regions(path, len(xy))
    if found is None:
        found = find_regions(texts, xy, seed=seed)
        with atomic_write(path) as file:
            regions = json.dumps([region.to_dict() for region in found.regions])
            np.savez(file, labels=found.labels.astype(np.int32), regions=np.array(regions))
    _REGIONS[key] = found
    while len(_REGIONS) > 4:
        _REGIONS.popitem(last=False)
    return found


def _read_regions(path: Path, rows: int) -> RegionMap | None:
    """The regions stored at ``path``, or None when missing, unreadable or not of ``rows`` rows."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            labels, listed = stored["labels"].astype(np.int64), json.loads(str(stored["regions"]))
        regions = [
            Region(
                id=int(item["id"]),
                name=str(item["name"]),
                terms=tuple(str(term) for term in item["terms"]),
                size=int(item["size"]),
                x=float("nan") if item["x"] is None else float(item["x"]),
                y=float("nan") if item["y"] is None else float(item["y"]),
            )
            for item in listed
        ]
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None
    if labels.shape != (rows,) or (rows and (labels.min() < 0 or labels.max() >= len(regions))):
        return None
    return RegionMap(regions, labels)


def _default_map(embeddings: np.ndarray) -> np.ndarray:
    """The map the Embedding map page shows by default (fitted on all rows, cached on disk like the page's)."""
    from analysis.project import project

    return project(embeddings)


def find_gaps(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    xy: np.ndarray | None = None,
    seed: int = 0,
    k: int = 5,
    size: int | None = None,
    reference: str = "holdout",
) -> GapReport:
    """Named regions of the real data, and for each synthetic set the regions it under-covers.

    Parameters
    ----------
    samples
        The sample table (id, text, source, method, generation, label, split): real data with a
        holdout and synthetic sets, named as ``compare`` names them.
    embeddings
        Row-aligned embeddings.
    xy
        Row-aligned 2-D map coordinates; default the map the Embedding map page draws by default
        (:func:`analysis.project.project` on all rows, from its disk cache when fitted before).
    seed, size, k
        As in :func:`analysis.compare.compare`: each set and the real train baseline are
        subsampled to ``size`` (default the smallest set) with ``seed``; coverage uses the
        holdout's k-NN balls. ``seed`` also seeds the region clustering of a large map.

    Returns
    -------
    GapReport
        Regions numbered by size; per set its gaps by :data:`RULE`, most uncovered real samples
        first. Below the coverage floor (fewer than 40 k holdout samples) the regions are named
        but no set has a gap, and ``unsupported`` says why.

    Raises
    ------
    analysis.compare.CompareError
        When there is no holdout, no synthetic set, or a set with k or fewer samples.
    """
    samples = samples.reset_index(drop=True)
    embeddings = np.asarray(embeddings)
    if len(embeddings) != len(samples):
        raise ValueError(f"{len(embeddings)} embeddings for {len(samples)} samples")
    balls = coverage_reference(samples, embeddings, reference, k=k)
    groups = equal_size(checked_sets(samples, k=k), size, seed)
    if xy is None:
        xy = _default_map(embeddings)
    xy = np.asarray(xy)
    if xy.shape != (len(samples), 2):
        raise ValueError(f"xy must have shape ({len(samples)}, 2), got {xy.shape}")

    real = np.flatnonzero((samples["source"] == "real").to_numpy())
    texts = samples["text"].to_numpy()
    found = region_map(list(texts[real]), xy[real], seed=seed)
    region_of = np.full(len(samples), -1, dtype=np.int64)
    region_of[real] = found.labels
    holdout_region = region_of[balls.rows]
    n_regions = len(found.regions)
    per_region = np.bincount(holdout_region, minlength=n_regions)
    tests = int((per_region >= group_floor(k)).sum())

    ids = samples["id"].astype(str).to_numpy()
    labels = samples["label"].to_numpy()[balls.rows]
    labelled = bool(pd.notna(labels).any())
    ref_x = balls.x
    centre = {r: ref_x[holdout_region == r].mean(axis=0) for r in range(n_regions) if per_region[r]}

    real_covered = balls.covered(embeddings[groups[BASELINE]])
    by_real = np.bincount(holdout_region, weights=real_covered, minlength=n_regions).astype(int)
    gaps: dict[str, list[Gap]] = {}
    tested = []
    for name, rows in groups.items():
        if name == BASELINE:
            continue
        covered = balls.covered(embeddings[rows])
        by_set = np.bincount(holdout_region, weights=covered, minlength=n_regions).astype(int)
        found_gaps = []
        for region in found.regions:
            r, n = region.id, int(per_region[region.id])
            gap = not balls.unsupported and is_gap(int(by_set[r]), int(by_real[r]), n, tests, k=k)
            share = by_set[r] / n if n else float("nan")
            share_real = by_real[r] / n if n else float("nan")
            tested.append(
                {
                    "set": name,
                    "region": r,
                    "name": region.name,
                    "holdout": n,
                    "covered": int(by_set[r]),
                    "covered_by_real": int(by_real[r]),
                    "margin": gap_margin(int(by_set[r]), int(by_real[r]), n, tests) if n else float("nan"),
                    "gap": bool(gap),
                }
            )
            if not gap:
                continue
            missed = np.flatnonzero((holdout_region == r) & ~covered)
            typical = missed[np.argsort(((ref_x[missed] - centre[r]) ** 2).sum(axis=1), kind="stable")]
            label_mix = None
            if labelled:
                counts = pd.Series(labels[missed]).fillna("(no label)").astype(str).value_counts()
                label_mix = {str(label): int(count) for label, count in counts.items()}
            found_gaps.append(
                Gap(
                    set=name,
                    region=r,
                    name=region.name,
                    real_uncovered=len(missed),
                    share_covered=float(share),
                    share_covered_by_real=float(share_real),
                    example_ids=[str(ids[balls.rows[i]]) for i in typical[:EXAMPLES]],
                    labels=label_mix,
                )
            )
        gaps[name] = sorted(found_gaps, key=lambda gap: (-gap.real_uncovered, gap.region))
    return GapReport(
        regions=found.regions,
        gaps=gaps,
        rule=RULE,
        region_of=region_of,
        tested=pd.DataFrame(tested),
        unsupported=balls.unsupported,
    )


def gaps_frame(report: GapReport, samples: pd.DataFrame, *, example_chars: int = 160) -> pd.DataFrame:
    """Every set's gaps as one table for a page or a CSV: the examples as their texts (cut at ``example_chars``).

    Columns: ``set, region, real uncovered, covered, covered by real, examples, labels`` (label mix
    of the uncovered samples as "label count, ..."; empty without labels).
    """
    text_of = dict(zip(samples["id"].astype(str), samples["text"].astype(str)))

    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= example_chars else text[: example_chars - 1].rstrip() + "…"

    rows = [
        {
            "set": gap.set,
            "region": gap.name,
            "real uncovered": gap.real_uncovered,
            "covered": gap.share_covered,
            "covered by real": gap.share_covered_by_real,
            "examples": "\n".join(cut(text_of.get(i, "")) for i in gap.example_ids),
            "labels": ", ".join(f"{label} {count}" for label, count in (gap.labels or {}).items()),
        }
        for gaps in report.gaps.values()
        for gap in gaps
    ]
    columns = ["set", "region", "real uncovered", "covered", "covered by real", "examples", "labels"]
    return pd.DataFrame(rows, columns=columns)
