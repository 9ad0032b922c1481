"""``compare``: every metric for every synthetic set (and generation) against the real holdout.

One tidy table, a row per (set, metric): ``set, method, generation, metric, family, value, ci_low, ci_high,
direction, reference, n``. Real train data is the baseline row ("real train"): what a set of real
samples of the same size scores. All sets are subsampled (seeded) to the same size, because
distinct-n, compression, coverage, Fréchet distance and friends change with sample size.

Coverage (``coverage`` and the ``tail coverage`` rows) is judged against one reference,
:func:`coverage_reference`: the real holdout's k-NN balls, the same balls the Embedding map and
the Tail coverage page use. Below the floor of :func:`analysis.metrics.fidelity.coverage_unsupported`
(40 k holdout samples, 200 at k = 5) those rows are NaN and their ``reference`` says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.embed import SHIPPED_CACHE_DIR, default_cache_dir
from analysis.errors import CollapseLabError
from analysis.io import atomic_write_bytes, bytes_sha256, parquet_bytes
from analysis.metrics import diversity, drift, fidelity, lm, novelty, tails, utility

__all__ = [
    "compare",
    "sets_of",
    "set_name",
    "checked_sets",
    "equal_size",
    "reference_rows",
    "CoverageReference",
    "coverage_reference",
    "COVERAGE_METRICS",
    "cached_compare",
    "generation_table",
    "CompareError",
    "METRICS",
    "DEFINITIONS",
    "BASELINE",
]

BASELINE = "real train"

#: metric -> (family, better direction, reference)
METRICS: dict[str, tuple[str, str, str]] = {
    "distinct-1": ("diversity", "higher", "Li et al. 2016"),
    "distinct-2": ("diversity", "higher", "Li et al. 2016"),
    "distinct-3": ("diversity", "higher", "Li et al. 2016"),
    "distinct-4": ("diversity", "higher", "Li et al. 2016"),
    "entropy-1": ("diversity", "higher", "Zhang et al. 2018"),
    "entropy-2": ("diversity", "higher", "Zhang et al. 2018"),
    "compression ratio": ("diversity", "lower", "Shaib et al. 2024"),
    "self-BLEU": ("diversity", "lower", "Zhu et al. 2018 (Texygen)"),
    "vendi": ("diversity", "higher", "Friedman and Dieng 2023"),
    "mean pairwise distance": ("diversity", "higher", "cosine distance, all pairs"),
    "precision": ("fidelity", "higher", "Naeem et al. 2020"),
    "density": ("fidelity", "higher", "Naeem et al. 2020"),
    "recall": ("coverage", "higher", "Naeem et al. 2020"),
    "coverage": ("coverage", "higher", "Naeem et al. 2020"),
    "frechet distance": ("fidelity", "lower", "Heusel et al. 2017"),
    "mauve": ("fidelity", "higher", "Pillutla et al. 2021 (mauve-text)"),
    "tail coverage (rarest 10%)": ("tails", "higher", "k-NN coverage of the rarest rarity bin"),
    "tail coverage (rarest 30%)": ("tails", "higher", "k-NN coverage of the three rarest bins"),
    "rare-token coverage": ("tails", "higher", "share of rare real tokens used"),
    "nearest-real similarity": ("novelty", "lower", "mean cosine to the nearest real train sample"),
    "exact copy rate": ("novelty", "lower", "copies of real text (train or holdout)"),
    "near copy rate": ("novelty", "lower", "cosine >= 0.95 to real text (train or holdout)"),
    "holdout copy rate": ("novelty", "lower", "copies of the evaluation holdout, every sample of the set"),
    "duplicate rate": ("novelty", "lower", "repeats inside the set"),
    "centroid shift": ("drift", "lower", "cosine distance of mean embeddings"),
    "label divergence": ("drift", "lower", "Jensen-Shannon, base 2 (Lin 1991)"),
    "length KS": ("drift", "lower", "Kolmogorov-Smirnov D on words per text"),
    "perplexity on real": ("model health", "lower", "Kneser-Ney 3-gram (Chen and Goodman 1999)"),
    "TSTR macro-F1": ("utility", "higher", "train on synthetic, test on real (Esteban et al. 2017)"),
    "detection AUC": ("utility", "lower", "classifier two-sample test (Lopez-Paz and Oquab 2017)"),
}


#: The metrics judged by the reference's k-NN balls (:func:`coverage_reference`), NaN below its floor.
COVERAGE_METRICS = ("coverage", "tail coverage (rarest 10%)", "tail coverage (rarest 30%)")

#: metric -> one sentence: what it measures (shown on hover in the app and in the report).
DEFINITIONS: dict[str, str] = {
    **{f"distinct-{n}": f"Share of {n}-grams that are unique among all {n}-grams of the set." for n in (1, 2, 3, 4)},
    "entropy-1": "Shannon entropy (bits) of the set's word distribution.",
    "entropy-2": "Shannon entropy (bits) of the set's word-bigram distribution.",
    "compression ratio": "Size of the set's text over its gzip-compressed size; repetitive text compresses more.",
    "self-BLEU": "Mean BLEU-4 of each sample against the rest of the set (seeded subsample of 500).",
    "vendi": "Effective number of distinct samples: exp of the entropy of the cosine-kernel eigenvalues.",
    "mean pairwise distance": "Mean cosine distance between all pairs of the set's embeddings.",
    "precision": "Share of synthetic samples inside some real sample's k-NN ball (realism).",
    "density": "Mean number of real k-NN balls holding each synthetic sample, over k (realism, rewards dense regions).",
    "recall": "Share of real samples inside some synthetic sample's k-NN ball (diversity).",
    "coverage": (
        "Share of real holdout samples whose k-NN ball among the holdout (k = 5) holds at least one synthetic "
        "sample; not reported for a holdout under 200 samples (40 k), whose balls are too wide."
    ),
    "frechet distance": "Fréchet distance between Gaussians fitted to real and synthetic embeddings.",
    "mauve": "Area under the divergence frontier of quantised real and synthetic embeddings (mauve-text).",
    "tail coverage (rarest 10%)": "Coverage of the rarest tenth of real samples (largest k-NN radius).",
    "tail coverage (rarest 30%)": "Coverage of the rarest three tenths of real samples.",
    "rare-token coverage": "Share of the real holdout's rare words (seen at most twice) that the set uses.",
    "nearest-real similarity": "Mean cosine similarity of each sample to its nearest real train sample.",
    "exact copy rate": "Share of samples whose text equals a real text, train or holdout.",
    "near copy rate": "Share of samples with cosine similarity >= 0.95 to a real sample, train or holdout.",
    "holdout copy rate": (
        "Share of the set's samples whose text equals a text of the real holdout (the evaluation set), "
        "over every sample of the set, not the equal-size subsample: one copy is enough to matter."
    ),
    "duplicate rate": "Share of samples that repeat an earlier sample of the same set.",
    "centroid shift": "Cosine distance between the mean real and mean synthetic embedding.",
    "label divergence": "Jensen-Shannon divergence of the label shares of the set and of real data.",
    "length KS": "Kolmogorov-Smirnov statistic between the word-count distributions.",
    "perplexity on real": "Perplexity on the real holdout of a Kneser-Ney 3-gram model trained on the set.",
    "TSTR macro-F1": "Macro-F1 on the real holdout's labels of a logistic-regression topic classifier trained on the set's embeddings.",
    "detection AUC": "Cross-validated ROC AUC of a logistic regression telling the set from the real holdout (0.5: indistinguishable).",
}


class CompareError(CollapseLabError, ValueError):
    """The samples cannot be compared as given; the message says what is missing."""


def set_name(method: str, generation: int) -> str:
    return method if generation <= 1 else f"{method} g{generation}"


def sets_of(samples: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row positions of each set: the real train baseline, then each synthetic (method, generation)."""
    real = (samples["source"] == "real").to_numpy()
    out = {BASELINE: np.flatnonzero(real & (samples["split"] == "train").to_numpy())}
    method, generation = samples["method"].to_numpy(), samples["generation"].to_numpy()
    for key in sorted({(m, int(g)) for m, g, r in zip(method, generation, real) if not r}):
        out[set_name(*key)] = np.flatnonzero(~real & (method == key[0]) & (generation == key[1]))
    return out


def equal_size(groups: dict[str, np.ndarray], size: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Each set's rows subsampled (seeded, without replacement, sorted) to ``size``, default the smallest set.

    The same ``seed`` gives the same rows here, in :func:`compare` and on the Tail coverage page.
    """
    size = size or min(len(rows) for rows in groups.values())
    rng = np.random.default_rng(seed)
    return {name: np.sort(rng.choice(rows, size=min(size, len(rows)), replace=False)) for name, rows in groups.items()}


def reference_rows(samples: pd.DataFrame, reference: str = "holdout", *, k: int = 5) -> np.ndarray:
    """Positions of the real ``reference`` split; raises :class:`CompareError` when it has ``k`` or fewer."""
    rows = np.flatnonzero(((samples["source"] == "real") & (samples["split"] == reference)).to_numpy())
    if len(rows) <= k:
        raise CompareError(
            f"The real '{reference}' split has {len(rows)} samples; at least {k + 1} are needed. "
            f"Load more real data (the holdout is 10 % of it)."
        )
    return rows


@dataclass(frozen=True)
class CoverageReference:
    """The real samples coverage is judged against: one for the Embedding map, Tail coverage and ``compare``.

    ``rows`` are their positions in the sample table, ``x`` their embeddings (float64) and
    ``radii`` each one's distance to its k-th nearest other reference sample: the k-NN balls of
    :func:`analysis.metrics.fidelity.covered_by`. ``unsupported`` is ``""`` when the reference is
    large enough for a coverage number, else the reason (:func:`analysis.metrics.fidelity.coverage_unsupported`).
    """

    split: str
    rows: np.ndarray
    x: np.ndarray
    k: int
    radii: np.ndarray

    @property
    def size(self) -> int:
        return len(self.rows)

    @property
    def name(self) -> str:
        return f"real {self.split}"

    @property
    def unsupported(self) -> str:
        return fidelity.coverage_unsupported(self.size, self.k, reference=self.name)

    def describe(self) -> str:
        """Which balls, in words: ``"5-NN balls of the real holdout (1,003 samples)"``."""
        return f"{self.k}-NN balls of the {self.name} ({self.size:,} samples)"

    def covered(self, synthetic: np.ndarray) -> np.ndarray:
        """Per reference sample: does its ball hold a row of ``synthetic``? All False for an empty set."""
        synthetic = np.asarray(synthetic)
        if len(synthetic) == 0:
            return np.zeros(self.size, dtype=bool)
        return fidelity.covered_by(self.x, synthetic, self.radii)


def coverage_reference(
    samples: pd.DataFrame, embeddings: np.ndarray, reference: str = "holdout", *, k: int = 5
) -> CoverageReference:
    """The real ``reference`` split and its k-NN balls (radii among the split itself), as every coverage number uses them.

    Raises :class:`CompareError` when the split has ``k`` or fewer samples (no ball can be drawn);
    a split below the coverage floor is returned with :attr:`CoverageReference.unsupported` set.
    """
    rows = reference_rows(samples, reference, k=k)
    x = np.asarray(embeddings)[rows].astype(np.float64)
    return CoverageReference(split=reference, rows=rows, x=x, k=k, radii=tails.rarity(x, k=k))


def checked_sets(samples: pd.DataFrame, *, k: int = 5) -> dict[str, np.ndarray]:
    """:func:`sets_of`, with a :class:`CompareError` when a set is too small or there is no synthetic set."""
    groups = sets_of(samples)
    small = {name: len(rows) for name, rows in groups.items() if len(rows) <= k}
    if small:
        raise CompareError(
            "Too few samples to compare: "
            + ", ".join(f"{name} has {n}" for name, n in small.items())
            + f"; every set needs at least {k + 1} (k + 1). Drop those sets or add samples."
        )
    if len(groups) < 2:
        raise CompareError("There is no synthetic set to compare with the real data. Load or generate one.")
    return groups


def _bootstrap(indicator: np.ndarray, rng: np.random.Generator, rounds: int = 1000) -> tuple[float, float]:
    """95 % percentile interval of the mean of a per-sample 0/1 or real-valued indicator."""
    draws = rng.integers(0, len(indicator), size=(rounds, len(indicator)))
    means = indicator[draws].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _mauve(reference: np.ndarray, candidate: np.ndarray, seed: int) -> float:
    import mauve

    result = mauve.compute_mauve(
        p_features=reference, q_features=candidate, seed=seed + 25, verbose=False, num_buckets="auto"
    )
    return float(result.mauve)


def _tstr_macro_f1(x: np.ndarray, labels: np.ndarray, ref_x: np.ndarray, ref_labels: np.ndarray, seed: int) -> float:
    try:
        return utility.tstr(x, labels, ref_x, ref_labels, seed=seed).macro_f1
    except utility.UtilityError:  # the set has no labels
        return float("nan")


def compare(
    samples: pd.DataFrame,
    *,
    embeddings: np.ndarray | None = None,
    reference: str = "holdout",
    size: int | None = None,
    seed: int = 0,
    k: int = 5,
    bins: int = 10,
    with_mauve: bool = True,
    with_utility: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Every metric for every set against the real ``reference`` split, at equal sample size.

    Parameters
    ----------
    samples
        The sample table: real data with a ``holdout`` split and synthetic sets.
    embeddings
        Rows aligned with ``samples``; default: :func:`analysis.embed.embed` (cached).
    reference
        The real split the sets are judged against (default ``holdout``, never used to generate).
    size
        Samples per set; default the smallest set. Each set is subsampled to it with ``seed``.
    k, bins
        Neighbours for PRDC and tail coverage; rarity bins (head → tail). Coverage uses the
        reference's k-NN balls (:func:`coverage_reference`); below 40 k reference samples the
        ``coverage`` and ``tail coverage`` rows are NaN, and their ``reference`` column says why.
    with_mauve
        MAUVE through the ``mauve-text`` package (k-means on the embeddings, a few seconds a set).
    with_utility
        ``TSTR macro-F1`` (a topic classifier trained on the set, scored on the reference's labels; NaN
        without labels) and ``detection AUC`` (:mod:`analysis.metrics.utility`, logistic regression on
        the embeddings, about 0.1 s a set).
    progress
        ``progress(done, total)`` per set.

    Returns
    -------
    DataFrame
        ``set, method, generation, metric, family, value, ci_low, ci_high, direction, reference, n``; bootstrap 95 %
        intervals for the metrics that are means over samples.
    """
    if embeddings is None:
        from analysis.embed import embed

        embeddings = embed(samples["text"])
    embeddings = np.asarray(embeddings)
    if len(embeddings) != len(samples):
        raise CompareError(f"{len(embeddings)} embeddings for {len(samples)} samples")
    samples = samples.reset_index(drop=True)
    balls = coverage_reference(samples, embeddings, reference, k=k)
    reference = balls.rows
    groups = checked_sets(samples, k=k)
    chosen_rows = equal_size(groups, size, seed)
    rng = np.random.default_rng([seed, 1])  # bootstrap draws; independent of the subsampling

    ref_x = balls.x
    ref_texts = samples["text"].to_numpy()[reference]
    ref_labels = samples["label"].to_numpy()[reference]
    labelled = utility.has_labels(ref_labels)
    ref_bins = tails.rarity_bins(balls.radii, bins)
    coverage_note = balls.unsupported or balls.describe()  # which balls, or why there is no number
    train_rows = groups[BASELINE]
    train_x, train_texts = embeddings[train_rows], samples["text"].to_numpy()[train_rows]
    # Copies count against all real text: a copy of the holdout is a copy too (and the worst kind).
    real_mask = (samples["source"] == "real").to_numpy()
    other_real_rows = np.flatnonzero(real_mask & (samples["split"] != "train").to_numpy())
    real_texts = set(samples["text"].to_numpy()[real_mask])
    reference_texts = set(ref_texts)

    rows = []
    for done, (name, chosen) in enumerate(chosen_rows.items(), start=1):
        x = embeddings[chosen].astype(np.float64)
        texts = list(samples["text"].to_numpy()[chosen])
        values: dict[str, float | tuple[float, float, float]] = {}
        for n in (1, 2, 3, 4):
            values[f"distinct-{n}"] = diversity.distinct_n(texts, n)
        values["entropy-1"] = diversity.ngram_entropy(texts, 1)
        values["entropy-2"] = diversity.ngram_entropy(texts, 2)
        values["compression ratio"] = diversity.compression_ratio(texts)
        values["self-BLEU"] = diversity.self_bleu(texts, sample_size=500, seed=seed)
        values["vendi"] = diversity.vendi_score(x)
        values["mean pairwise distance"] = diversity.mean_pairwise_distance(x)

        quality = fidelity.prdc(ref_x, x, k=k)
        values["precision"], values["density"] = quality["precision"], quality["density"]
        values["recall"] = quality["recall"]
        covered = balls.covered(x)
        values["coverage"] = (float(covered.mean()), *_bootstrap(covered.astype(float), rng))
        values["frechet distance"] = fidelity.frechet_distance(ref_x, x)
        if with_mauve:
            values["mauve"] = _mauve(ref_x, x, seed)
        for share, label in ((1, "tail coverage (rarest 10%)"), (3, "tail coverage (rarest 30%)")):
            in_tail = ref_bins >= bins - share * bins // 10
            values[label] = (float(covered[in_tail].mean()), *_bootstrap(covered[in_tail].astype(float), rng))
        values["rare-token coverage"] = tails.rare_token_coverage(ref_texts, texts)

        if name != BASELINE:  # novelty of real train against itself is meaningless
            similarity, _ = fidelity.nearest_similarity(x, train_x)
            copies = novelty.novelty(train_texts, texts, train_x, x, similarity=similarity)
            values["nearest-real similarity"] = (copies["nearest_real_similarity"], *_bootstrap(similarity, rng))
            nearest_real = similarity
            if len(other_real_rows):
                nearest_real = np.maximum(similarity, fidelity.nearest_similarity(x, embeddings[other_real_rows])[0])
            values["exact copy rate"] = float(np.mean([t in real_texts for t in texts]))
            values["near copy rate"] = float((nearest_real >= 0.95).mean())
            every_text = samples["text"].to_numpy()[groups[name]]
            values["holdout copy rate"] = float(np.mean([t in reference_texts for t in every_text]))
            values["duplicate rate"] = copies["duplicate_rate"]
        values["centroid shift"] = drift.centroid_shift(ref_x, x)
        values["label divergence"] = drift.label_divergence(ref_labels, samples["label"].to_numpy()[chosen])
        values["length KS"] = drift.length_ks(ref_texts, texts)[0]
        values["perplexity on real"] = lm.perplexity(texts, ref_texts, order=3)
        if with_utility:
            values["TSTR macro-F1"] = (
                _tstr_macro_f1(x, samples["label"].to_numpy()[chosen], ref_x, ref_labels, seed)
                if labelled
                else float("nan")
            )
            values["detection AUC"] = utility.detection(ref_x, x, seed=seed).auc

        method_of, generation_of = str(samples["method"].iat[chosen[0]]), int(samples["generation"].iat[chosen[0]])
        for metric, value in values.items():
            value, low, high = value if isinstance(value, tuple) else (value, np.nan, np.nan)
            family, direction, citation = METRICS[metric]
            rows.append(
                {
                    "set": name,
                    "method": method_of,
                    "generation": generation_of,
                    "metric": metric,
                    "family": family,
                    "value": float(value),
                    "ci_low": low,
                    "ci_high": high,
                    "direction": direction,
                    "reference": citation,
                    "n": len(chosen),
                }
            )
        if progress:
            progress(done, len(groups))
    table = pd.DataFrame(rows)
    judged = table["metric"].isin(COVERAGE_METRICS)
    table.loc[judged, "reference"] = table.loc[judged, "reference"] + "; " + coverage_note
    if balls.unsupported:  # computed all the same, so the bootstrap draws of the other metrics do not move
        table.loc[judged, ["value", "ci_low", "ci_high"]] = np.nan
    return table


#: Bump when compare's numbers change for the same inputs: old cached tables are then ignored.
COMPARE_VERSION = 4
_KEY_COLUMNS = ["id", "text", "source", "method", "generation", "label", "split"]


def compare_key(samples: pd.DataFrame, embeddings: np.ndarray, **params: Any) -> str:
    """A content key of everything :func:`compare` reads: the sample columns, the embeddings and the parameters."""
    return bytes_sha256(
        pd.util.hash_pandas_object(samples[_KEY_COLUMNS].astype(str), index=False).to_numpy().tobytes(),
        np.ascontiguousarray(embeddings, dtype=np.float32).tobytes(),
        json.dumps({"version": COMPARE_VERSION, **params}, sort_keys=True, default=str).encode(),
    )


def cached_compare(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    cache_dir: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> pd.DataFrame:
    """:func:`compare`, kept on disk under ``<cache dir>/compare/<key>.parquet`` so the app and the CLI compute it once."""
    name = f"{compare_key(samples, embeddings, **params)}.parquet"
    path = Path(cache_dir or default_cache_dir()) / "compare" / name
    for candidate in (path, SHIPPED_CACHE_DIR / "compare" / name):  # the cache, then the demo's shipped tables
        try:
            return pd.read_parquet(candidate)
        except Exception:  # missing or damaged: try the next, or compute again
            pass
    table = compare(samples, embeddings=embeddings, progress=progress, **params)
    atomic_write_bytes(path, parquet_bytes(table))
    return table


def generation_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``metric`` across generations for each method with more than one generation in a :func:`compare` table.

    Columns ``method, generation, value``; generation 0 of every method is the real-train baseline,
    so each line starts from real data. Empty when no method has recursive generations.
    """
    synthetic = table[(table["set"] != BASELINE) & (table["metric"] == metric)]
    counts = synthetic.groupby("method")["generation"].nunique()
    recursive = counts[counts > 1].index
    lines = synthetic[synthetic["method"].isin(recursive)][["method", "generation", "value"]]
    baseline = table[(table["set"] == BASELINE) & (table["metric"] == metric)]["value"]
    if not baseline.empty:
        start = pd.DataFrame({"method": recursive, "generation": 0, "value": float(baseline.iloc[0])})
        lines = pd.concat([start, lines], ignore_index=True)
    return lines.sort_values(["method", "generation"]).reset_index(drop=True)
