"""``compare``: every metric for every synthetic set (and generation) against the real holdout.

One tidy table, a row per (set, metric): ``set, method, generation, metric, family, value, ci_low, ci_high,
direction, reference, n``. Real train data is the baseline row ("real train"): what a set of real
samples of the same size scores. All sets are subsampled (seeded) to the same size, because
distinct-n, compression, coverage, Fréchet distance and friends change with sample size.

Coverage (``coverage`` and the ``tail coverage`` rows) is judged by one set of k-NN balls,
:func:`coverage_reference`, the same the Tail coverage page, the gaps, the mixture engine and the A/B
test use: by default every real sample's, cross-fitted in two halves (``coverage="crossfit"``; the
real train row is then real data drawn from the other half), or the real holdout's
(``coverage="holdout"``). Balls drawn among fewer than 40 k samples (200 at k = 5,
:func:`analysis.metrics.fidelity.coverage_unsupported`) give NaN rows whose ``reference`` says why.

Bounded at scale (a million samples and more): three seeded caps keep every metric's work and
memory bounded whatever the dataset's size; none bites on the demo (976 holdout samples, sets of
300 to 9,057), and where one bites the output says so.

- :data:`REFERENCE_LIMIT` (20,000): the reference split is a seeded uniform subsample of that many
  (:func:`reference_sample`, seed :data:`REFERENCE_SEED`, the same rows whatever ``seed``), the one
  reference of every neighbourhood and reference metric: ``compare``, :func:`coverage_reference`
  (so the Embedding map and Tail coverage), the mixture engine and the A/B test. Copies of the
  holdout are still looked up among all its texts.
- :data:`SIZE_LIMIT` (10,000): the default equal size of the sets (:func:`equal_size`), here, on
  Tail coverage and in the A/B test; an explicit ``size`` is taken as given.
- :data:`NEAREST_PAIR_LIMIT` (5 × 10⁸ query × real pairs a set): nearest-real similarity and near copy
  rate search all real rows exactly (blockwise), for a seeded subsample of at most
  ``NEAREST_PAIR_LIMIT // real rows`` (at least 1,000) of the set's rows; their ``n`` is that count.

The neighbourhood metrics are exact, blockwise (:mod:`analysis.metrics.knn`: one row block of
distances at a time), on these subsamples; the per-sample ones carry bootstrap intervals. A capped
table's ``reference`` column says "seeded subsample of 20,000 of the 73,540 real holdout samples".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.io import atomic_write_bytes, bytes_sha256, parquet_bytes, values_bytes
from analysis.judge.reference import (
    COVERAGE_FOLDS,
    COVERAGE_REFERENCES,
    CROSSFIT,
    DEFAULT_COVERAGE,
    REFERENCE_LIMIT,
    REFERENCE_SEED,
    CompareError,
    CoverageReference,
    capped,
    coverage_reference,
    reference_rows,
    reference_sample,
    subsample_note,
)
from analysis.metrics import catalog, fidelity, tails
from analysis.metrics.features import SetFeatures
from analysis.vectors.embed import SHIPPED_CACHE_DIR, default_cache_dir

__all__ = [
    "compare",
    "sets_of",
    "set_name",
    "checked_sets",
    "equal_size",
    "reference_rows",
    "reference_sample",
    "capped",
    "REFERENCE_LIMIT",
    "REFERENCE_SEED",
    "SIZE_LIMIT",
    "NEAREST_PAIR_LIMIT",
    "nearest_query_limit",
    "CoverageReference",
    "CROSSFIT",
    "COVERAGE_REFERENCES",
    "DEFAULT_COVERAGE",
    "COVERAGE_FOLDS",
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
#: Default cap of the equal size every set is subsampled to (compare, Tail coverage, the A/B test).
SIZE_LIMIT = 10_000
#: Query × real-row pairs per set for the exact nearest-real search (nearest-real similarity, near copies).
NEAREST_PAIR_LIMIT = 500_000_000
#: Fewest queries per set the nearest-real search keeps, however large the real data.
NEAREST_QUERY_FLOOR = 1_000

#: metric -> its catalogue record (:class:`analysis.metrics.catalog.Metric`: family, direction, reference, ...):
#: compare's metrics, in its order.
METRICS: dict[str, catalog.Metric] = {metric.name: metric for metric in catalog.compare_metrics()}
#: The metrics judged by the reference's k-NN balls (:func:`coverage_reference`), NaN below its floor.
COVERAGE_METRICS = catalog.coverage_metrics()
#: metric -> one sentence: what it measures (shown on hover in the app and in the report), from the catalogue.
DEFINITIONS: dict[str, str] = catalog.definitions()


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
    The default size is capped at :data:`SIZE_LIMIT` (10,000), so metrics stay bounded at any scale.
    """
    size = size or min(SIZE_LIMIT, min(len(rows) for rows in groups.values()))
    rng = np.random.default_rng(seed)
    return {name: np.sort(rng.choice(rows, size=min(size, len(rows)), replace=False)) for name, rows in groups.items()}


def nearest_query_limit(real_rows: int) -> int:
    """Most rows of a set the exact nearest-real search takes against ``real_rows`` real rows: the
    :data:`NEAREST_PAIR_LIMIT` pairs, at least :data:`NEAREST_QUERY_FLOOR` (compare and the A/B test)."""
    return max(NEAREST_QUERY_FLOOR, NEAREST_PAIR_LIMIT // max(real_rows, 1))


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
    indicator = np.asarray(indicator, np.float64)
    draws = rng.integers(0, len(indicator), size=(rounds, len(indicator)))
    means = indicator[draws].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


class _Judge:
    """What every set is judged against, computed once per :func:`compare` call."""

    def __init__(
        self,
        samples: pd.DataFrame,
        embeddings: np.ndarray,
        balls: CoverageReference,
        cover: CoverageReference,
        groups: dict[str, np.ndarray],
        rng: np.random.Generator,
        *,
        seed: int,
        k: int,
        bins: int,
    ) -> None:
        self.samples, self.embeddings, self.balls, self.groups, self.rng = samples, embeddings, balls, groups, rng
        self.cover = cover  # coverage's balls: ``balls`` itself, or all real data cross-fitted
        self.seed, self.k, self.bins = seed, k, bins
        texts, labels = samples["text"].to_numpy(), samples["label"].to_numpy()
        self.texts, self.labels = texts, labels
        self.ref_x, self.ref_texts, self.ref_labels = balls.x, texts[balls.rows], labels[balls.rows]
        self.cover_bins = tails.rarity_bins(cover.radii, bins)
        self.prdc_reference = fidelity.prepare_reference(balls.x, k)  # the reference's radii once, not per set
        train_rows = groups[BASELINE]
        self.train_x = embeddings[train_rows]
        # Copies count against all real text: a copy of the holdout is a copy too (and the worst kind).
        real_mask = (samples["source"] == "real").to_numpy()
        self.other_real_rows = np.flatnonzero(real_mask & (samples["split"] != "train").to_numpy())
        self.real_texts = set(texts[real_mask])
        # copies of the holdout are looked up among all its texts, not only the capped reference's
        self.reference_texts = set(texts[reference_rows(samples, balls.split, k=k)])
        real_rows = len(train_rows) + len(self.other_real_rows)
        #: per set, the rows the exact nearest-real search takes (NEAREST_PAIR_LIMIT pairs, at least the floor)
        self.query_limit = nearest_query_limit(real_rows)
        self.real_rows = real_rows

    def covered(self, name: str, chosen: np.ndarray) -> np.ndarray:
        """Coverage's units for a set's equal-size rows: by them, or for real train by real data of their size."""
        if name == BASELINE:
            return self.cover.real_covered(self.embeddings, chosen, self.seed)
        return self.cover.covered(self.embeddings[chosen], chosen)


class _SetView(SetFeatures):
    """One set's equal-size rows judged against the reference: :class:`~analysis.metrics.features.SetFeatures`
    on the judge's shared reference, plus the novelty features (against real train and all real text)."""

    def __init__(self, judge: _Judge, name: str, chosen: np.ndarray) -> None:
        super().__init__(
            judge.embeddings[chosen],
            judge.texts[chosen],
            judge.ref_x,
            judge.ref_texts,
            k=judge.k,
            bins=judge.bins,
            seed=judge.seed,
            labels=judge.labels[chosen],
            ref_labels=judge.ref_labels,
            radii=judge.cover.radii,
            ref_bins=judge.cover_bins,
            prepared=judge.prdc_reference,
            coverage_supported=not judge.cover.unsupported,
            covered=judge.covered(name, chosen),
        )
        self.judge, self.name, self.chosen = judge, name, chosen

    @cached_property
    def queries(self) -> np.ndarray:
        """Positions (in ``chosen``) the nearest-real search takes: all, or a seeded subsample above the pair cap."""
        judge = self.judge
        every = np.arange(len(self.chosen))
        return capped(every, judge.query_limit, [judge.seed, 4])

    @property
    def query_note(self) -> str:
        return subsample_note(len(self.queries), len(self.chosen), "samples of the set (their nearest real row exact)")

    @cached_property
    def similarity(self) -> np.ndarray:
        return fidelity.nearest_similarity(self.x()[self.queries], self.judge.train_x)[0]

    def nearest_train(self) -> np.ndarray:
        return self.similarity

    def nearest_real(self) -> np.ndarray:
        rows = self.judge.other_real_rows
        if not len(rows):
            return self.similarity
        near = fidelity.nearest_similarity(self.x()[self.queries], self.judge.embeddings[rows])[0]
        return np.maximum(self.similarity, near)

    def copies(self) -> np.ndarray:
        return np.array([t in self.judge.real_texts for t in self.texts()], np.float64)

    def holdout_copies(self) -> np.ndarray:
        """Over every sample of the set, not the equal-size rows: one copy of the evaluation set is enough to matter."""
        judge = self.judge
        return np.array([t in judge.reference_texts for t in judge.texts[judge.groups[self.name]]], np.float64)


#: The kinds compare gives a bootstrap 95 % interval, over their units
#: (:attr:`analysis.metrics.formulas.Computation.units`: per reference sample for coverage, per sample for similarity).
BOOTSTRAPPED = frozenset({"coverage", "tail coverage", "nearest-real similarity"})


def compare(
    samples: pd.DataFrame,
    *,
    embeddings: np.ndarray | None = None,
    reference: str = "holdout",
    coverage: str = DEFAULT_COVERAGE,
    size: int | None = None,
    seed: int = 0,
    k: int = 5,
    bins: int = 10,
    with_mauve: bool = True,
    with_utility: bool = True,
    progress: Callable[[int, int], object] | None = None,
) -> pd.DataFrame:
    """Every metric for every set against the real ``reference`` split, at equal sample size.

    Parameters
    ----------
    samples
        The sample table: real data with a ``holdout`` split and synthetic sets.
    embeddings
        Rows aligned with ``samples``; default: :func:`analysis.vectors.embed.embed` (cached).
    reference
        The real split the sets are judged against (default ``holdout``, never used to generate).
    coverage
        Coverage's reference (:data:`COVERAGE_REFERENCES`): ``holdout``, the balls of ``reference``;
        or ``crossfit``, the balls of every real sample, each left out of its own, so a 1,000-sample
        real file gets a coverage number (:func:`coverage_reference`). The other metrics stay on ``reference``.
    size
        Samples per set; default the smallest set, at most :data:`SIZE_LIMIT` (10,000). Each set is
        subsampled to it with ``seed``. The reference is capped at :data:`REFERENCE_LIMIT` and the
        nearest-real search at :data:`NEAREST_PAIR_LIMIT` (module docstring); where a cap bites, the
        ``reference`` column says so and ``n`` is the samples the number is over.
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
        from analysis.vectors.embed import embed

        embeddings = embed(samples["text"])
    embeddings = np.asarray(embeddings)
    if len(embeddings) != len(samples):
        raise CompareError(f"{len(embeddings)} embeddings for {len(samples)} samples")
    samples = samples.reset_index(drop=True)
    balls = coverage_reference(samples, embeddings, reference, k=k)
    cover = balls if coverage == reference else coverage_reference(samples, embeddings, coverage, k=k)
    groups = checked_sets(samples, k=k)
    chosen_rows = equal_size(groups, size, seed)
    rng = np.random.default_rng([seed, 1])  # bootstrap draws; independent of the subsampling

    judge = _Judge(samples, embeddings, balls, cover, groups, rng, seed=seed, k=k, bins=bins)
    coverage_note = cover.unsupported or cover.describe()  # which balls, or why there is no number
    nearest = {"nearest-real similarity", "near copy rate"}  # over the set's nearest-real queries
    switches = {"": True, "mauve": with_mauve, "utility": with_utility}
    rows = []
    for done, (name, chosen) in enumerate(chosen_rows.items(), start=1):
        view = _SetView(judge, name, chosen)
        method_of, generation_of = str(samples["method"].iat[chosen[0]]), int(samples["generation"].iat[chosen[0]])
        # in catalogue order: the bootstrap draws (coverage, tails, nearest-real similarity) come in a fixed order
        for metric in catalog.compare_metrics():
            if not switches[metric.switch] or (name == BASELINE and not metric.for_real_train):
                continue  # novelty of real train against itself is meaningless
            value = metric.compute(view)
            low, high = _bootstrap(metric.units(view), rng) if metric.kind in BOOTSTRAPPED else (np.nan, np.nan)
            # where a cap bites, the reference column says which subsample the number is of
            notes = [metric.reference]
            if (
                balls.capped
                and "reference set" in metric.needs
                and metric.family != "novelty"
                and not metric.judged_by_balls
            ):
                notes.append(f"against a {balls.note}")
            queried = metric.kind in nearest and len(view.queries) < len(chosen)
            if queried:
                notes.append(f"over a {view.query_note}")
            rows.append(
                {
                    "set": name,
                    "method": method_of,
                    "generation": generation_of,
                    "metric": metric.name,
                    "family": metric.family,
                    "value": float(value),
                    "ci_low": low,
                    "ci_high": high,
                    "direction": metric.direction,
                    "reference": "; ".join(notes),
                    "n": len(view.queries) if queried else len(chosen),
                }
            )
        if progress:
            progress(done, len(groups))
    table = pd.DataFrame(rows)
    judged = table["metric"].isin(catalog.coverage_metrics())
    table.loc[judged, "reference"] = table.loc[judged, "reference"] + "; " + coverage_note
    if cover.unsupported:  # computed all the same, so the bootstrap draws of the other metrics do not move
        table.loc[judged, ["value", "ci_low", "ci_high"]] = np.nan
    return table


#: Bump when compare's numbers change for the same inputs: old cached tables are then ignored.
COMPARE_VERSION = 5
_KEY_COLUMNS = ["id", "text", "source", "method", "generation", "label", "split"]


def compare_key(samples: pd.DataFrame, embeddings: np.ndarray, **params: Any) -> str:
    """A content key of everything :func:`compare` reads: the sample columns, the embeddings and the parameters."""
    if _caps_may_bite(len(samples)):  # the caps change the numbers of a large table (never the demo's keys)
        params = {**params, "limits": [REFERENCE_LIMIT, SIZE_LIMIT, NEAREST_PAIR_LIMIT, NEAREST_QUERY_FLOOR]}
    return bytes_sha256(
        values_bytes(samples[_KEY_COLUMNS]),
        np.ascontiguousarray(embeddings, dtype=np.float32).tobytes(),
        json.dumps({"version": COMPARE_VERSION, **params}, sort_keys=True, default=str).encode(),
    )


def _caps_may_bite(n: int) -> bool:
    """Whether a table of ``n`` samples can reach a cap: a reference or set above 20,000, or more nearest-real
    pairs than :data:`NEAREST_PAIR_LIMIT` (a set and the real rows are at most n / 2 each)."""
    return n > min(REFERENCE_LIMIT, SIZE_LIMIT) or (n // 2) ** 2 > NEAREST_PAIR_LIMIT


def cached_compare(
    samples: pd.DataFrame,
    embeddings: np.ndarray,
    *,
    cache_dir: str | Path | None = None,
    progress: Callable[[int, int], object] | None = None,
    **params: Any,
) -> pd.DataFrame:
    """:func:`compare`, kept on disk under ``<cache dir>/compare/<key>.parquet`` (the app and the CLI share it)."""
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
