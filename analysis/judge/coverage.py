"""The tables behind the Tail coverage page (and the report): which part of the real data each set reaches.

The reference is the real holdout (never used to generate) and its k-NN balls, the one
:func:`analysis.judge.compare.coverage_reference` that ``compare`` and the Embedding map use too;
with ``coverage="crossfit"`` it is every real sample, each left out of its own ball.
Its samples are binned head → tail by rarity (distance to the k-th nearest holdout neighbour);
each set, subsampled to the same size with the same seed as ``compare``, covers a holdout
sample when that sample's k-NN ball holds one of its samples. Real train data at the same size
is the ceiling: what unseen real text of that size covers. The rarest-bin values equal
``compare``'s "tail coverage" rows for the same seed, size, k and bins.

The floor: with fewer than 40 k holdout samples (200 at k = 5) no coverage share is reported
(NaN, :attr:`TailReport.unsupported` says why, and no sample is listed as missed); with enough, a
rarity bin or label holding fewer than 4 k holdout samples has NaN coverage and ``supported``
False. See :func:`analysis.metrics.fidelity.coverage_unsupported` for the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.judge.compare import (
    BASELINE,
    DEFAULT_COVERAGE,
    checked_sets,
    coverage_reference,
    equal_size,
    reference_sample,
)
from analysis.metrics import tails

__all__ = ["TailReport", "tail_report", "zipf_points"]


@dataclass(frozen=True)
class TailReport:
    """Every table of the Tail coverage page; ``size`` is the samples per set.

    ``reference`` names the balls coverage is judged by (``"5-NN balls of the real holdout (1,003
    samples)"``); ``unsupported`` is ``""``, or why no coverage share is reported at all.
    """

    bins: pd.DataFrame  # set, bin, rarity_from, rarity_to, real, covered, coverage, supported
    labels: pd.DataFrame  # set, label, real, covered, coverage, supported
    zipf: pd.DataFrame  # set, rank, share (log-spaced ranks)
    rare_tokens: pd.DataFrame  # set, rare-token coverage
    missed: pd.DataFrame  # holdout samples no synthetic set covers, rarest first
    size: int
    synthetic_sets: int
    reference: str = ""
    k: int = 5
    unsupported: str = ""


def zipf_points(texts, *, points: int = 60) -> pd.DataFrame:
    """The rank-frequency curve at about ``points`` log-spaced ranks (enough for a log-log line)."""
    table = tails.rank_frequency(texts)
    if table.empty:
        return table[["rank", "share"]]
    ranks = np.unique(np.geomspace(1, len(table), num=points).round().astype(int))
    return table.iloc[ranks - 1][["rank", "share"]].reset_index(drop=True)


def tail_report(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    reference: str = "holdout",
    coverage: str = DEFAULT_COVERAGE,
    size: int | None = None,
    seed: int = 0,
    k: int = 5,
    bins: int = 10,
    max_count: int = 2,
    missed: int = 50,
) -> TailReport:
    """Coverage of the real ``reference`` split per rarity bin, per label and per rare token, for every set.

    Parameters match :func:`analysis.judge.compare.compare` (``coverage``: whose k-NN balls; the rare
    tokens and the real Zipf curve are of ``reference``); ``max_count`` is the corpus count at or
    below which a real token is rare; ``missed`` is how many of the most-missed samples to list.
    Coverage shares below the floor (module docstring) are NaN with ``supported`` False.
    Raises :class:`analysis.judge.compare.CompareError` when there is no holdout or no synthetic set.
    """
    samples = samples.reset_index(drop=True)
    embeddings = np.asarray(embeddings)
    balls = coverage_reference(samples, embeddings, coverage, k=k)
    reference_at = balls.rows
    groups = equal_size(checked_sets(samples, k=k), size, seed)
    texts = samples["text"].to_numpy()
    ref_labels = samples["label"].to_numpy()[reference_at]
    ref_texts = texts[reference_at if coverage == reference else reference_sample(samples, reference, k=k)[0]]
    radii = balls.radii
    bin_of = tails.rarity_bins(radii, bins)
    edges = pd.DataFrame({"bin": bin_of, "rarity": radii}).groupby("bin")["rarity"].agg(["min", "max"])

    bin_rows, label_rows, zipf_rows, token_rows = [], [], [], []
    covered_by_any = np.zeros(len(reference_at), dtype=int)
    for name, rows in groups.items():
        covered = (
            balls.real_covered(embeddings, rows, seed) if name == BASELINE else balls.covered(embeddings[rows], rows)
        )
        if name != BASELINE:
            covered_by_any += covered
        per_bin = pd.DataFrame({"bin": bin_of, "covered": covered}).groupby("bin")["covered"].agg(["size", "sum"])
        bin_rows.append(
            pd.DataFrame(
                {
                    "set": name,
                    "bin": per_bin.index,
                    "rarity_from": edges["min"].to_numpy(),
                    "rarity_to": edges["max"].to_numpy(),
                    "real": per_bin["size"].to_numpy(),
                    "covered": per_bin["sum"].to_numpy(),
                }
            )
        )
        if pd.notna(ref_labels).any():
            label_rows.append(
                tails.label_coverage(pd.Series(ref_labels).fillna("(no label)"), covered).assign(set=name)
            )
        zipf_rows.append(zipf_points(texts[rows]).assign(set=name))
        token_rows.append(
            {"set": name, "rare-token coverage": tails.rare_token_coverage(ref_texts, texts[rows], max_count=max_count)}
        )
    zipf_rows.append(zipf_points(ref_texts).assign(set=f"real {reference}"))

    table = pd.concat(bin_rows, ignore_index=True)
    table["coverage"] = table["covered"] / table["real"]
    labels = (
        pd.concat(label_rows, ignore_index=True)
        if label_rows
        else pd.DataFrame(columns=["set", "label", "real", "covered", "coverage"])
    )
    for shares in (table, labels):  # the floor: a share its balls cannot support is not reported
        per_ball = shares["real"].to_numpy(dtype=int) * balls.ball_size // max(balls.size, 1)  # in a fold
        shares["supported"] = tails.supported(per_ball, balls.ball_size, k)
        shares["coverage"] = shares["coverage"].astype(float).where(shares["supported"])
    ref = samples.iloc[reference_at]
    synthetic_sets = len(groups) - 1
    missed_table = pd.DataFrame(
        {
            "id": ref["id"].to_numpy(),
            "text": ref["text"].to_numpy(),
            "label": ref_labels,
            "rarity": radii,
            "bin": bin_of,
            "sets covering": covered_by_any,
        }
    )
    missed_table = missed_table[missed_table["sets covering"] == 0].sort_values("rarity", ascending=False)
    missed_table = missed_table.head(0 if balls.unsupported else missed)
    return TailReport(
        bins=table[["set", "bin", "rarity_from", "rarity_to", "real", "covered", "coverage", "supported"]],
        labels=labels[["set", "label", "real", "covered", "coverage", "supported"]],
        zipf=pd.concat(zipf_rows, ignore_index=True)[["set", "rank", "share"]],
        rare_tokens=pd.DataFrame(token_rows),
        missed=missed_table.reset_index(drop=True),
        size=min(len(rows) for rows in groups.values()),
        synthetic_sets=synthetic_sets,
        reference=balls.describe(),
        k=k,
        unsupported=balls.unsupported,
    )
