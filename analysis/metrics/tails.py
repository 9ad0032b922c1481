"""Tails: does the synthetic set reach the rare part of the real data?

Each real sample's rarity is the distance to its k-th nearest real neighbour: large in sparse,
rare regions, small in the dense head. Real samples are binned head → tail by rarity quantile,
and each bin's coverage is the share of its samples whose k-NN ball holds a synthetic sample (the
per-sample form of Naeem et al.'s coverage, :func:`analysis.metrics.fidelity.covered_by`). A bin's
or a label's share is only supported when the reference holds at least 40 k samples and the group
at least 4 k (:func:`supported`, :func:`analysis.metrics.fidelity.coverage_unsupported`): smaller
references have balls so wide that a set is credited with regions it never reaches. Token tails
do the same for rare words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.metrics.diversity import tokenize
from analysis.metrics.fidelity import coverage_floor, covered_by, group_floor, knn_radii

__all__ = [
    "rarity",
    "rarity_bins",
    "supported",
    "tail_coverage",
    "rank_frequency",
    "rare_token_coverage",
    "label_coverage",
]


def rarity(real: np.ndarray, *, k: int = 5) -> np.ndarray:
    """Each real sample's distance to its k-th nearest real neighbour (larger = rarer)."""
    return knn_radii(real, k)


def rarity_bins(rarities: np.ndarray, bins: int = 10) -> np.ndarray:
    """Bin index per sample, 0 = head (most common) to ``bins - 1`` = tail, by rarity quantile.

    Ranks break ties, so the bins hold equal numbers of samples (±1).
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    ranks = np.argsort(np.argsort(rarities, kind="stable"), kind="stable")
    return (ranks * bins // len(rarities)).astype(int)


def supported(group_sizes, reference_size: int, k: int) -> np.ndarray:
    """Per group of reference samples: can its coverage share be reported?

    True when the whole reference holds at least :func:`~analysis.metrics.fidelity.coverage_floor`
    (40 k) samples and the group at least :func:`~analysis.metrics.fidelity.group_floor` (4 k): then
    each k-NN ball spans at most a quarter of the group (see
    :func:`analysis.metrics.fidelity.coverage_unsupported` for why).
    """
    sizes = np.asarray(group_sizes)
    return (sizes >= group_floor(k)) & (reference_size >= coverage_floor(k))


def tail_coverage(real: np.ndarray, synthetic: np.ndarray, *, k: int = 5, bins: int = 10) -> pd.DataFrame:
    """Coverage of the real data per rarity bin, head (bin 0) → tail.

    Columns: ``bin``, ``rarity_from``, ``rarity_to`` (the bin's k-NN radius range), ``real`` (samples
    in the bin), ``covered`` (those whose k-NN ball holds at least one synthetic sample),
    ``coverage`` = covered / real and ``supported`` (:func:`supported`: False when the reference or
    the bin is too small for its share to mean anything; show such a bin as not supported, as the
    Tail coverage page does). Range [0, 1] per bin; higher is better. A collapsing generator
    covers the head and loses the last bins first.
    """
    radii = rarity(real, k=k)
    bin_of = rarity_bins(radii, bins)
    covered = covered_by(real, synthetic, radii)
    table = pd.DataFrame({"bin": bin_of, "rarity": radii, "covered": covered})
    out = (
        table.groupby("bin")
        .agg(
            rarity_from=("rarity", "min"),
            rarity_to=("rarity", "max"),
            real=("rarity", "size"),
            covered=("covered", "sum"),
        )
        .reset_index()
    )
    out["coverage"] = out["covered"] / out["real"]
    out["supported"] = supported(out["real"], len(real), k)
    return out


def rank_frequency(texts: Sequence[str]) -> pd.DataFrame:
    """The Zipf table: tokens by falling frequency, with rank (1 = most frequent), count and share."""
    counts = Counter(token for text in texts for token in tokenize(text))
    table = pd.DataFrame(sorted(counts.items(), key=lambda item: (-item[1], item[0])), columns=["token", "count"])
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["share"] = table["count"] / max(table["count"].sum(), 1)
    return table


def rare_token_coverage(real_texts: Sequence[str], synthetic_texts: Sequence[str], *, max_count: int = 2) -> float:
    """Share of the real data's rare tokens (seen at most ``max_count`` times in it) that the synthetic set uses.

    Range [0, 1]; higher is better. The word-level counterpart of tail coverage.
    """
    real_counts = Counter(token for text in real_texts for token in tokenize(text))
    rare = {token for token, count in real_counts.items() if count <= max_count}
    if not rare:
        return float("nan")
    used = {token for text in synthetic_texts for token in tokenize(text)}
    return len(rare & used) / len(rare)


def label_coverage(labels: Sequence, covered: np.ndarray) -> pd.DataFrame:
    """Coverage per label: for the real samples of each label, the share that is covered."""
    table = pd.DataFrame({"label": list(labels), "covered": np.asarray(covered, dtype=bool)})
    out = table.groupby("label").agg(real=("covered", "size"), covered=("covered", "sum")).reset_index()
    out["coverage"] = out["covered"] / out["real"]
    return out
