"""Each metric kind's one computation, from the features of one set judged against one reference.

A metric of :mod:`analysis.metrics.catalog` is computed by :meth:`~analysis.metrics.catalog.Metric.compute`,
which looks up its kind here (:data:`COMPUTATIONS`) and applies it to a :class:`Features`: what one set
and its reference offer (texts, embeddings, n-gram counts, which reference balls the set reaches,
nearest-real similarities, fitted classifiers' predictions, ...). ``compare`` computes those features
directly on a set (:class:`analysis.metrics.features.SetFeatures`), the A/B test reads them off its
pool for every resample (:mod:`analysis.ab.values`), the mixture engine off its precomputed state
(:mod:`analysis.mixture.measure`): each in its own fast way, but the metric itself, the formula
over the features, is written once, here. The engine's incremental Vendi score is the one exception
(a Gram matrix of prefix sums instead of the rows); the oracle test checks it against this one.

A kind's :attr:`Computation.units` are the per-unit values whose mean is the metric, where it is a
mean: per set sample for the ``sample`` metrics of the A/B test (its plain bootstrap resamples them),
per reference sample for coverage (``compare``'s bootstrap interval).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.metrics import diversity, fidelity, kernels, utility

__all__ = ["Features", "Computation", "COMPUTATIONS", "label_counts", "tstr_codes", "text_log_probabilities"]


class Features:
    """What a metric's computation reads of one set judged against one reference (see the module docstring).

    A feature a kind does not need is never asked for: a view overrides what its metrics use, and the others
    raise ``NotImplementedError`` (:meth:`balls_holding`, for example, is the A/B test's alone).
    """

    seed: int = 0
    k: int = 5
    #: the reference is large enough for coverage numbers (:func:`analysis.metrics.fidelity.coverage_unsupported`)
    coverage_supported: bool = True

    def _missing(self, feature: str) -> NotImplementedError:
        return NotImplementedError(f"{type(self).__name__} does not offer {feature}")

    @property
    def size(self) -> int:
        """The set's samples."""
        raise self._missing("size")

    def texts(self) -> Sequence[str]:
        raise self._missing("texts")

    def x(self) -> np.ndarray:
        raise self._missing("x")

    def ref_x(self) -> np.ndarray:
        raise self._missing("ref_x")

    def ngram_counts(self, n: int) -> np.ndarray:
        """How often each n-gram occurs in the set (zeros allowed)."""
        raise self._missing("ngram_counts")

    def rare_tokens(self) -> tuple[int, int]:
        """The reference's rare tokens (seen at most twice) the set uses, and how many there are."""
        raise self._missing("rare_tokens")

    def covered(self) -> np.ndarray:
        """Per reference sample: does its k-NN ball hold a sample of the set?"""
        raise self._missing("covered")

    def tail(self, tenths: int) -> np.ndarray:
        """Per reference sample: is it among the rarest ``tenths`` tenths?"""
        raise self._missing("tail")

    def recalled(self) -> np.ndarray:
        """Per reference sample: does it lie within some set sample's k-NN radius (in the set)?"""
        raise self._missing("recalled")

    def inside(self) -> np.ndarray:
        """Per set sample, 1 where some reference k-NN ball holds it."""
        raise self._missing("inside")

    def memberships(self) -> int:
        """(reference ball, set sample) pairs with the sample inside the ball."""
        raise self._missing("memberships")

    def balls_holding(self) -> np.ndarray:
        """Per set sample, how many reference k-NN balls hold it."""
        raise self._missing("balls_holding")

    def centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """The mean reference embedding and the mean set embedding."""
        raise self._missing("centroids")

    def nearest_train(self) -> np.ndarray:
        """Per (queried) set sample, the cosine similarity to its nearest real train sample."""
        raise self._missing("nearest_train")

    def nearest_real(self) -> np.ndarray:
        """Per (queried) set sample, the cosine similarity to its nearest real sample, train or holdout."""
        raise self._missing("nearest_real")

    def copies(self) -> np.ndarray:
        """Per set sample, 1 where its text equals a real text (train or holdout)."""
        raise self._missing("copies")

    def holdout_copies(self) -> np.ndarray:
        """Per set sample, 1 where its text equals a text of the real holdout."""
        raise self._missing("holdout_copies")

    def distinct_texts(self) -> int:
        raise self._missing("distinct_texts")

    def label_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """How many reference and set samples carry each label, over one list of labels."""
        raise self._missing("label_counts")

    def lengths(self) -> tuple[np.ndarray, np.ndarray]:
        """Words per text of the reference and of the set."""
        raise self._missing("lengths")

    def log_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """Per reference text: its log-probability under a Kneser-Ney 3-gram model of the set, and its scored tokens."""
        raise self._missing("log_probabilities")

    def tstr_codes(self) -> tuple[np.ndarray, np.ndarray, int] | None:
        """Labelled reference rows: true label codes, the set's classifier's predicted codes, and how many labels;
        ``None`` when the set's classifier cannot be trained (no labels)."""
        raise self._missing("tstr_codes")

    def detection_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold "synthetic" scores of the reference and the set rows (NaN where left out)."""
        raise self._missing("detection_scores")


_Value = Callable[[Features, "int | None"], float]
_Units = Callable[[Features, "int | None"], np.ndarray]


@dataclass(frozen=True)
class Computation:
    """One metric kind's computation: ``value(features, parameter)``, and, where the metric is a mean, the
    ``units`` (per set or reference sample) it is the mean of."""

    value: _Value
    units: _Units | None = None


def _mean_of(units: _Units) -> Computation:
    return Computation(lambda f, p: float(np.asarray(units(f, p), np.float64).mean()), units)


def _distinct(f: Features, n: int | None) -> float:
    counts = f.ngram_counts(n or 1)
    total = counts.sum()
    return float(np.count_nonzero(counts) / total) if total else 0.0


def _covered(f: Features, tenths: int | None) -> np.ndarray:
    """Coverage's units (per reference sample, 1 if covered), of the rarest ``tenths`` tenths for tail coverage."""
    covered = f.covered()
    return covered if tenths is None else covered[f.tail(tenths)]


def _coverage(f: Features, tenths: int | None) -> float:
    if not f.coverage_supported:
        return float("nan")  # below the coverage floor: no number rather than an inflated one
    covered = _covered(f, tenths)
    return float(covered.mean()) if covered.size else float("nan")


def _rare_tokens(f: Features, _: int | None) -> float:
    used, total = f.rare_tokens()
    return float(used / total) if total else float("nan")


def _centroid_shift(f: Features, _: int | None) -> float:
    a, b = f.centroids()
    return float(1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _perplexity(f: Features, _: int | None) -> float:
    logs, counts = f.log_probabilities()
    return float(math.exp(-logs.sum() / counts.sum()))


def _tstr(f: Features, accuracy: bool) -> float:
    codes = f.tstr_codes()
    if codes is None:
        return float("nan")
    true, predicted, labels = codes
    if accuracy:
        return float((true == predicted).mean())
    return kernels.macro_f1(true, predicted, labels)


def _detection(f: Features, _: int | None) -> float:
    real, synthetic = f.detection_scores()
    return utility.roc_auc(real[~np.isnan(real)], synthetic[~np.isnan(synthetic)])


#: kind -> its computation (:attr:`analysis.metrics.catalog.Metric.kind`; the parameter is the record's).
COMPUTATIONS: dict[str, Computation] = {
    "distinct": Computation(_distinct),
    "entropy": Computation(lambda f, n: kernels.entropy_bits(f.ngram_counts(n or 1))),
    "compression ratio": Computation(lambda f, _: diversity.compression_ratio(list(f.texts()))),
    "self-BLEU": Computation(lambda f, _: diversity.self_bleu(list(f.texts()), sample_size=500, seed=f.seed)),
    "vendi": Computation(lambda f, _: diversity.vendi_score(f.x())),
    "mean pairwise distance": Computation(lambda f, _: diversity.mean_pairwise_distance(f.x())),
    "precision": _mean_of(lambda f, _: f.inside()),
    "density": Computation(lambda f, _: f.memberships() / (f.k * f.size), lambda f, _: f.balls_holding() / f.k),
    "recall": Computation(lambda f, _: float(f.recalled().mean())),
    "coverage": Computation(_coverage, lambda f, _: _covered(f, None)),
    "tail coverage": Computation(_coverage, _covered),
    "frechet distance": Computation(lambda f, _: fidelity.frechet_distance(f.ref_x(), f.x())),
    "mauve": Computation(lambda f, _: fidelity.mauve_score(f.ref_x(), f.x(), f.seed)),
    "rare-token coverage": Computation(_rare_tokens),
    "nearest-real similarity": _mean_of(lambda f, _: f.nearest_train()),
    "exact copy rate": _mean_of(lambda f, _: f.copies()),
    "near copy rate": _mean_of(lambda f, _: (f.nearest_real() >= 0.95).astype(np.float64)),
    "holdout copy rate": _mean_of(lambda f, _: f.holdout_copies()),
    "duplicate rate": Computation(lambda f, _: float(1 - f.distinct_texts() / f.size)),
    "centroid shift": Computation(_centroid_shift),
    "label divergence": Computation(lambda f, _: kernels.jensen_shannon(*f.label_counts())),
    "length KS": Computation(lambda f, _: kernels.ks_statistic(*f.lengths())),
    "perplexity on real": Computation(_perplexity),
    "TSTR macro-F1": Computation(lambda f, _: _tstr(f, accuracy=False)),
    "TSTR accuracy": Computation(lambda f, _: _tstr(f, accuracy=True)),
    "detection AUC": Computation(_detection),
}


# ---------------------------------------------------------------------- feature builders shared by the views
def label_counts(reference_labels: Sequence, labels: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """How many reference and set samples carry each label (None and NaN left out), over the labels sorted as text."""
    given = [
        Counter(label for label in side if label is not None and label == label) for side in (reference_labels, labels)
    ]
    names = sorted(set(given[0]) | set(given[1]), key=str)
    return tuple(np.array([counts[name] for name in names], np.float64) for counts in given)  # type: ignore[return-value]


def tstr_codes(
    reference_labels: np.ndarray, results: Sequence[utility.TSTRResult | None]
) -> tuple[np.ndarray, list[np.ndarray | None], int, np.ndarray]:
    """Integer codes of the labelled reference rows' true labels and of each classifier's predictions (``None`` for
    one that could not be trained), how many labels, and the labelled reference rows."""
    keep = utility.present_labels(reference_labels)
    true = np.asarray(reference_labels)[keep].astype(str)
    names = sorted(set(true) | {p for r in results if r is not None for p in r.predicted})
    code = {name: i for i, name in enumerate(names)}
    true_codes = np.array([code[t] for t in true])
    predicted = [None if r is None else np.array([code[p] for p in r.predicted]) for r in results]
    return true_codes, predicted, len(names), np.flatnonzero(keep)


def text_log_probabilities(train_texts: Sequence[str], test_texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per test text, its log-probability under a Kneser-Ney 3-gram model of ``train_texts`` and the tokens it
    scores (its words and the end symbol): ``exp(-sum logs / sum counts)`` is the perplexity
    (:func:`analysis.metrics.lm.perplexity`; the vectorised model from
    :data:`~analysis.metrics.lm.ARRAY_FROM` training texts on)."""
    from analysis.metrics.lm import ARRAY_FROM, KneserNeyLM
    from analysis.metrics.ngrams import tokenize

    if len(train_texts) >= ARRAY_FROM:
        from analysis.metrics.array_lm import ArrayKneserNey, Vocabulary

        vocabulary = Vocabulary()
        test, train = vocabulary.encode(list(test_texts)), vocabulary.encode(list(train_texts))
        bits = max(8, len(vocabulary.words).bit_length())
        return ArrayKneserNey(3, bits).fit(train).text_log_probabilities(test)
    test_tokens = [tokenize(t) for t in test_texts]
    counts = np.array([len(t) + 1 for t in test_tokens], np.float64)
    model = KneserNeyLM(3).fit(tokenize(t) for t in train_texts)
    logs = np.array([-c * math.log(model.perplexity_tokens([t])) for t, c in zip(test_tokens, counts)])
    return logs, counts
