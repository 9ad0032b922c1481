"""The metric catalogue: one record per metric, the one place every other module reads.

Each :class:`Metric` says what a metric is called, which family it belongs to, which way is better,
what it measures (one sentence, shown on hover in the app and in the report), where it comes from,
its range, what it needs (texts, embeddings, labels, a fitted model, the real reference set, real
train data), how the A/B test resamples it, and whether the mixture engine computes it
incrementally. :func:`analysis.judge.compare.compare`, :func:`analysis.ab.ab_test`, the mixture engine's
metric table, the collapse-risk rules, the charts, the report and the pages all take their metric
names, families, directions and definitions from here.

A record also carries its computation, as scikit-learn's scorers carry theirs: :meth:`Metric.compute`
applies its ``kind``'s one computation (:data:`analysis.metrics.formulas.COMPUTATIONS`: ``"distinct"``,
``"tail coverage"``, ``"vendi"``, ...) with its ``parameter`` (the n of distinct-n, the rarest tenths
of tail coverage) to the features of one set against one reference. ``compare``, the A/B test (on each
resample) and the mixture engine all call it, so a new metric of an existing kind is one record: it
appears in both tables, in the mixture's metrics when ``incremental``, in the report's definitions and
on the pages. A new kind is one computation in :mod:`analysis.metrics.formulas`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.metrics.formulas import COMPUTATIONS, Features

__all__ = [
    "Metric",
    "CATALOG",
    "NEEDS",
    "RESAMPLING",
    "FAMILIES",
    "get",
    "compare_metrics",
    "ab_metrics",
    "incremental_metrics",
    "frontier_metrics",
    "tile_metrics",
    "coverage_metrics",
    "values_by_set",
    "definitions",
]

#: What a metric may need besides the set itself.
NEEDS = ("texts", "embeddings", "labels", "fitted model", "reference set", "real train")
#: How the A/B test resamples a metric (see :mod:`analysis.ab`): ``sample`` metrics are means over the
#: set's own samples (plain bootstrap), ``set`` metrics are of the whole set (half-sampling), ``fitted``
#: metrics hold a model fitted once per set (test-set bootstrap), ``slow`` ones get a normal interval.
RESAMPLING = ("sample", "set", "fitted", "slow")
#: The families, in the order the app and the report list them.
FAMILIES = ("diversity", "fidelity", "coverage", "tails", "novelty", "drift", "model health", "utility")


@dataclass(frozen=True)
class Metric:
    """One metric: what it is, how it is judged, what it needs and where it is computed.

    Attributes
    ----------
    name
        The metric's name in every table (``"distinct-2"``).
    family, direction, reference
        Its family (:data:`FAMILIES`), ``"higher"`` or ``"lower"`` is better, and its source.
    definition
        One sentence: what it measures.
    range
        The values it can take, in words (``"[0, 1]"``).
    needs
        What it needs besides the set (:data:`NEEDS`).
    resampling
        How the A/B test resamples it (:data:`RESAMPLING`).
    kind, parameter
        Its computation (a key of :data:`analysis.metrics.formulas.COMPUTATIONS`, see :meth:`compute`) and
        that computation's argument (``None`` when it has none); ``kind`` defaults to the name.
    incremental
        The mixture engine (:class:`analysis.mixture.MixtureEngine`) computes it, exactly, per mixture.
    in_compare
        ``compare`` reports it (``TSTR accuracy`` is the A/B test's alone).
    for_real_train
        ``compare`` reports it for the real-train baseline (novelty of real train against itself is meaningless).
    switch
        The option that turns it on: ``"mauve"`` (``with_mauve``), ``"utility"`` (compare's
        ``with_utility``), or ``""`` (always on).
    permuted
        The A/B test may permutation-test it (a function of the set alone given the real data).
    ab_definition
        The A/B test's sentence where it differs from ``definition`` (else ``""``).
    frontier, tile
        Above 0: charted on the Mixture designer's frontier, shown as a tile at the top of its page, in this rank.
    """

    name: str
    family: str
    direction: str
    reference: str
    definition: str
    range: str
    needs: frozenset[str]
    resampling: str
    kind: str = ""
    parameter: int | None = None
    incremental: bool = False
    in_compare: bool = True
    for_real_train: bool = True
    switch: str = ""
    permuted: bool = True
    ab_definition: str = ""
    frontier: int = 0
    tile: int = 0

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.name)
        problems = [
            f"family {self.family!r}" * (self.family not in FAMILIES),
            f"direction {self.direction!r}" * (self.direction not in ("higher", "lower")),
            f"resampling {self.resampling!r}" * (self.resampling not in RESAMPLING),
            f"needs {sorted(set(self.needs) - set(NEEDS))}" * bool(set(self.needs) - set(NEEDS)),
            f"kind {self.kind!r} (no computation in analysis.metrics.formulas)" * (self.kind not in COMPUTATIONS),
        ]
        if any(problems):
            raise ValueError(f"metric {self.name!r}: unknown {', '.join(p for p in problems if p)}")

    def compute(self, features: Features) -> float:
        """The metric of one set against one reference, from their ``features``: its kind's one computation."""
        return float(COMPUTATIONS[self.kind].value(features, self.parameter))

    def units(self, features: Features) -> np.ndarray:
        """The per-sample values whose mean the metric is (per set sample for the ``sample`` metrics, per
        reference sample for coverage); a ``ValueError`` for a metric that is not such a mean."""
        units = COMPUTATIONS[self.kind].units
        if units is None:
            raise ValueError(f"{self.name!r} is not a mean over samples: it has no per-sample values")
        return units(features, self.parameter)

    @property
    def judged_by_balls(self) -> bool:
        """Coverage and tail coverage: judged by the reference's k-NN balls, NaN below its floor."""
        return self.kind in ("coverage", "tail coverage")


def _needs(*names: str) -> frozenset[str]:
    return frozenset(names)


_TEXTS, _EMB = _needs("texts"), _needs("embeddings")
_EMB_REF = _needs("embeddings", "reference set")


def _records() -> list[Metric]:
    li, zhang, naeem = "Li et al. 2016", "Zhang et al. 2018", "Naeem et al. 2020"
    out = [
        Metric(
            f"distinct-{n}",
            "diversity",
            "higher",
            li,
            f"Share of {n}-grams that are unique among all {n}-grams of the set.",
            "[0, 1]",
            _TEXTS,
            "set",
            kind="distinct",
            parameter=n,
            incremental=n <= 2,
            frontier=4 * (n == 2),
            tile=5 * (n == 2),
        )
        for n in (1, 2, 3, 4)
    ]
    out += [
        Metric(
            f"entropy-{n}",
            "diversity",
            "higher",
            zhang,
            f"Shannon entropy (bits) of the set's word{'-bigram' * (n == 2)} distribution.",
            "[0, log2 #n-grams] bits",
            _TEXTS,
            "set",
            kind="entropy",
            parameter=n,
            incremental=True,
            tile=6 * (n == 1),
        )
        for n in (1, 2)
    ]
    out += [
        Metric(
            "compression ratio",
            "diversity",
            "lower",
            "Shaib et al. 2024",
            "Size of the set's text over its gzip-compressed size; repetitive text compresses more.",
            "about [1, inf)",
            _TEXTS,
            "slow",
        ),
        Metric(
            "self-BLEU",
            "diversity",
            "lower",
            "Zhu et al. 2018 (Texygen)",
            "Mean BLEU-4 of each sample against the rest of the set (seeded subsample of 500).",
            "[0, 1]",
            _TEXTS,
            "slow",
        ),
        Metric(
            "vendi",
            "diversity",
            "higher",
            "Friedman and Dieng 2023",
            "Effective number of distinct samples: exp of the entropy of the cosine-kernel eigenvalues.",
            "[1, n]",
            _EMB,
            "slow",
            incremental=True,
            frontier=5,
            tile=7,
        ),
        Metric(
            "mean pairwise distance",
            "diversity",
            "higher",
            "cosine distance, all pairs",
            "Mean cosine distance between all pairs of the set's embeddings.",
            "[0, 2]",
            _EMB,
            "set",
        ),
        Metric(
            "precision",
            "fidelity",
            "higher",
            naeem,
            "Share of synthetic samples inside some real sample's k-NN ball (realism).",
            "[0, 1]",
            _EMB_REF,
            "sample",
            incremental=True,
            tile=4,
        ),
        Metric(
            "density",
            "fidelity",
            "higher",
            naeem,
            "Mean number of real k-NN balls holding each synthetic sample, over k (realism, rewards dense regions).",
            "[0, reference size / k], about 1 for a set like the reference",
            _EMB_REF,
            "sample",
            incremental=True,
        ),
        Metric(
            "recall",
            "coverage",
            "higher",
            naeem,
            "Share of real samples inside some synthetic sample's k-NN ball (diversity).",
            "[0, 1]",
            _EMB_REF,
            "set",
            incremental=True,
            permuted=False,  # uses each sample's k-NN radius within its own set
            frontier=3,
            tile=3,
        ),
        Metric(
            "coverage",
            "coverage",
            "higher",
            naeem,
            "Share of real samples whose k-NN ball (k = 5) holds at least one synthetic sample: every real sample, "
            "its ball drawn among its half of the real data and judged by the set and by real data from the other "
            "half (cross-fitted), or the real holdout's; not reported for balls drawn among under 200 samples (40 k).",
            "[0, 1]",
            _EMB_REF,
            "set",
            incremental=True,
            frontier=2,
            tile=1,
        ),
        Metric(
            "frechet distance",
            "fidelity",
            "lower",
            "Heusel et al. 2017",
            "Fréchet distance between Gaussians fitted to real and synthetic embeddings.",
            "[0, inf)",
            _EMB_REF,
            "slow",
        ),
        Metric(
            "mauve",
            "fidelity",
            "higher",
            "Pillutla et al. 2021 (mauve-text)",
            "Area under the divergence frontier of quantised real and synthetic embeddings (mauve-text).",
            "(0, 1]",
            _EMB_REF,
            "slow",
            switch="mauve",
        ),
    ]
    tails = {1: ("10%", "Coverage of the rarest tenth of real samples (largest k-NN radius)."), 3: ("30%", "")}
    for tenths, (share, sentence) in tails.items():
        out.append(
            Metric(
                f"tail coverage (rarest {share})",
                "tails",
                "higher",
                "k-NN coverage of the rarest rarity bin" if tenths == 1 else "k-NN coverage of the three rarest bins",
                sentence or "Coverage of the rarest three tenths of real samples.",
                "[0, 1]",
                _EMB_REF,
                "set",
                kind="tail coverage",
                parameter=tenths,
                incremental=True,
                frontier=1 if tenths == 1 else 0,
                tile=2 if tenths == 1 else 0,
            )
        )
    out += [
        Metric(
            "rare-token coverage",
            "tails",
            "higher",
            "share of rare real tokens used",
            "Share of the real holdout's rare words (seen at most twice) that the set uses.",
            "[0, 1]",
            _needs("texts", "reference set"),
            "set",
            incremental=True,
        ),
        Metric(
            "nearest-real similarity",
            "novelty",
            "lower",
            "mean cosine to the nearest real train sample",
            "Mean cosine similarity of each sample to its nearest real train sample.",
            "[-1, 1]",
            _needs("embeddings", "real train"),
            "sample",
            for_real_train=False,
        ),
        Metric(
            "exact copy rate",
            "novelty",
            "lower",
            "copies of real text (train or holdout)",
            "Share of samples whose text equals a real text, train or holdout.",
            "[0, 1]",
            _needs("texts", "real train", "reference set"),
            "sample",
            for_real_train=False,
        ),
        Metric(
            "near copy rate",
            "novelty",
            "lower",
            "cosine >= 0.95 to real text (train or holdout)",
            "Share of samples with cosine similarity >= 0.95 to a real sample, train or holdout.",
            "[0, 1]",
            _needs("embeddings", "real train", "reference set"),
            "sample",
            for_real_train=False,
        ),
        Metric(
            "holdout copy rate",
            "novelty",
            "lower",
            "copies of the evaluation holdout, every sample of the set",
            "Share of the set's samples whose text equals a text of the real holdout (the evaluation set), "
            "over every sample of the set, not the equal-size subsample: one copy is enough to matter.",
            "[0, 1]",
            _needs("texts", "reference set"),
            "sample",
            for_real_train=False,
            # compare counts holdout copies over the whole set; the A/B test on the equal-size rows
            ab_definition="Share of the set's samples (the equal-size rows tested) whose text equals a text of the "
            "real holdout.",
        ),
        Metric(
            "duplicate rate",
            "novelty",
            "lower",
            "repeats inside the set",
            "Share of samples that repeat an earlier sample of the same set.",
            "[0, 1]",
            _TEXTS,
            "set",
            for_real_train=False,
        ),
        Metric(
            "centroid shift",
            "drift",
            "lower",
            "cosine distance of mean embeddings",
            "Cosine distance between the mean real and mean synthetic embedding.",
            "[0, 2]",
            _EMB_REF,
            "set",
            incremental=True,
            frontier=6,
            tile=8,
        ),
        Metric(
            "label divergence",
            "drift",
            "lower",
            "Jensen-Shannon, base 2 (Lin 1991)",
            "Jensen-Shannon divergence of the label shares of the set and of real data.",
            "[0, 1]",
            _needs("labels", "reference set"),
            "set",
        ),
        Metric(
            "length KS",
            "drift",
            "lower",
            "Kolmogorov-Smirnov D on words per text",
            "Kolmogorov-Smirnov statistic between the word-count distributions.",
            "[0, 1]",
            _needs("texts", "reference set"),
            "set",
        ),
        Metric(
            "perplexity on real",
            "model health",
            "lower",
            "Kneser-Ney 3-gram (Chen and Goodman 1999)",
            "Perplexity on the real holdout of a Kneser-Ney 3-gram model trained on the set.",
            "[1, inf)",
            _needs("texts", "fitted model", "reference set"),
            "fitted",
        ),
        Metric(
            "TSTR macro-F1",
            "utility",
            "higher",
            "train on synthetic, test on real (Esteban et al. 2017)",
            "Macro-F1 on the real holdout's labels of a logistic-regression topic classifier trained on the set's "
            "embeddings.",
            "[0, 1]",
            _needs("embeddings", "labels", "fitted model", "reference set"),
            "fitted",
            switch="utility",
        ),
        Metric(
            "detection AUC",
            "utility",
            "lower",
            "classifier two-sample test (Lopez-Paz and Oquab 2017)",
            "Cross-validated ROC AUC of a logistic regression telling the set from the real holdout "
            "(0.5: indistinguishable).",
            "[0, 1], 0.5 for a set like the reference",
            _needs("embeddings", "fitted model", "reference set"),
            "fitted",
            switch="utility",
        ),
        Metric(
            "TSTR accuracy",
            "utility",
            "higher",
            "train on synthetic, test on real (Esteban et al. 2017)",
            "Accuracy on the real holdout's labels of a logistic-regression topic classifier trained on the set's "
            "embeddings.",
            "[0, 1]",
            _needs("embeddings", "labels", "fitted model", "reference set"),
            "fitted",
            in_compare=False,
        ),
    ]
    return out


#: name -> record, in the order every table lists them (compare's order; the A/B test's extras last).
CATALOG: dict[str, Metric] = {metric.name: metric for metric in _records()}


def get(name: str) -> Metric:
    """The record of ``name``; a ``KeyError`` that lists the known names when there is none."""
    try:
        return CATALOG[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(CATALOG)}") from None


def compare_metrics() -> list[Metric]:
    """The metrics :func:`analysis.judge.compare.compare` reports, in its order."""
    return [m for m in CATALOG.values() if m.in_compare]


def ab_metrics() -> list[Metric]:
    """The metrics :func:`analysis.ab.ab_test` tests: every metric of the catalogue."""
    return list(CATALOG.values())


def incremental_metrics() -> list[Metric]:
    """The metrics the mixture engine computes per mixture (:meth:`analysis.mixture.MixtureEngine.metrics`)."""
    return [m for m in CATALOG.values() if m.incremental]


def frontier_metrics() -> list[str]:
    """The metrics the Mixture designer charts against the real share, in their rank."""
    return [m.name for m in sorted(CATALOG.values(), key=lambda m: m.frontier) if m.frontier]


def tile_metrics() -> list[str]:
    """The metrics the Mixture designer shows as tiles at the top of its page, in their rank."""
    return [m.name for m in sorted(CATALOG.values(), key=lambda m: m.tile) if m.tile]


def coverage_metrics() -> tuple[str, ...]:
    """The metrics judged by the reference's k-NN balls (NaN below its floor)."""
    return tuple(m.name for m in compare_metrics() if m.judged_by_balls)


def definitions(metrics: list[Metric] | None = None, *, ab: bool = False) -> dict[str, str]:
    """``metric -> definition`` (``ab``: the A/B test's sentence where it differs), default compare's metrics."""
    chosen = compare_metrics() if metrics is None else metrics
    return {m.name: (m.ab_definition or m.definition) if ab else m.definition for m in chosen}


def values_by_set(table: pd.DataFrame) -> pd.DataFrame:
    """A long metric table (columns ``set``, ``metric``, ``value``: ``compare``'s) as one row per set and one
    column per metric, both in the order they first appear in the table (the ``real train`` baseline first)."""
    values = table.pivot_table(index="set", columns="metric", values="value", aggfunc="first", sort=False)
    values = values.reindex(index=list(dict.fromkeys(table["set"])), columns=list(dict.fromkeys(table["metric"])))
    values.columns.name = None
    return values
