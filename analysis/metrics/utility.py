"""Utility: does a set train something that works on real data, and can a classifier tell it from real data?

Both metrics fit scikit-learn's logistic regression on the cached sentence embeddings, so they cost
fractions of a second per set, never a re-embedding:

- :func:`tstr` (train on synthetic, test on real): a topic classifier trained on the set and
  scored on the real holdout's labels. Run on real train data of the same size, it gives the
  ceiling a synthetic set is judged against.
- :func:`detection` (a classifier two-sample test): a classifier trained to tell real from
  synthetic; its cross-validated ROC AUC is 0.5 when it cannot, 1 when it always can.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.errors import CollapseLabError
from analysis.metrics.kernels import one_blas_thread

__all__ = [
    "TSTRResult",
    "DetectionResult",
    "tstr",
    "detection",
    "most_synthetic",
    "has_labels",
    "present_labels",
    "roc_auc",
    "UtilityError",
]

#: Inverse regularisation strength of every logistic regression here. On unit-length 384-d
#: sentence embeddings, C = 1 underfits (demo, 1,000 real train rows: macro-F1 0.60 at C = 1,
#: 0.66 at C = 10, 0.65 at C = 100).
C = 10.0


class UtilityError(CollapseLabError, ValueError):
    """A utility metric cannot be computed on the inputs; the message says what is missing."""


def _classifier(seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=1000, random_state=seed)


def present_labels(labels: Iterable) -> np.ndarray:
    """True where a label is given (not None, not NaN, not empty)."""
    values = pd.Series(list(labels), dtype=object)
    return (values.notna() & (values.astype(str).str.len() > 0)).to_numpy()


def has_labels(labels: Iterable, *, minimum: int = 2) -> bool:
    """Whether ``labels`` hold at least ``minimum`` distinct given labels (what :func:`tstr` needs)."""
    values = pd.Series(list(labels), dtype=object)
    return int(values[present_labels(values)].astype(str).nunique()) >= minimum


@dataclass(frozen=True)
class TSTRResult:
    """What :func:`tstr` measured.

    Attributes
    ----------
    accuracy, macro_f1
        Over the labelled real test samples; macro-F1 averages the F1 of every label of the test set,
        so a label the training set lacks scores 0 and pulls it down.
    per_label
        One row per test label: ``label, support`` (test samples), ``train`` (training samples),
        ``recall``, ``precision``, ``f1``; sorted by label.
    predicted
        The predicted label of each labelled test sample, in test order.
    correct
        Per labelled test sample, whether the prediction is right (its mean is ``accuracy``).
    test_labels
        The true labels of those samples (the rows :func:`tstr` kept).
    """

    accuracy: float
    macro_f1: float
    per_label: pd.DataFrame
    predicted: np.ndarray
    correct: np.ndarray
    test_labels: np.ndarray = field(repr=False)

    @property
    def lost_labels(self) -> list:
        """Test labels the classifier never recovers (recall 0): topics the training set lost."""
        return self.per_label.loc[self.per_label["recall"] == 0, "label"].tolist()


def tstr(
    train_embeddings: np.ndarray,
    train_labels: Sequence,
    test_embeddings: np.ndarray,
    test_labels: Sequence,
    *,
    seed: int = 0,
) -> TSTRResult:
    """Train on synthetic, test on real: a topic classifier fitted on one set, scored on real labels.

    A multinomial logistic regression (scikit-learn, lbfgs, ``C`` = :data:`C`) is trained on
    ``train_embeddings`` → ``train_labels`` and predicts the labels of ``test_embeddings`` (the real
    holdout). Reported: accuracy ``(1/N) Σ 1[ŷ_i = y_i]``, macro-F1 ``(1/L) Σ_l F1_l`` over the L labels
    of the test set, and recall ``TP_l / (TP_l + FN_l)`` per label. Samples without a label are
    dropped on both sides. A training set with a single label predicts it everywhere.

    Range [0, 1] for every score; higher is better. Train it on real train data of the same size
    to get the ceiling. A set that lost topics shows recall 0 for them (:attr:`TSTRResult.lost_labels`).

    References: Esteban, Hyland and Rätsch, "Real-valued (Medical) Time Series Generation with
    Recurrent Conditional GANs", 2017 (TSTR); Jordon et al., "Synthetic Data – what, why and how?",
    2022.

    Raises
    ------
    UtilityError
        When the training set has no labelled sample or the test set fewer than two labels: then
        only :func:`detection` applies.
    """
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    train_x, test_x = np.asarray(train_embeddings, np.float64), np.asarray(test_embeddings, np.float64)
    train_y, test_y = np.asarray(list(train_labels), dtype=object), np.asarray(list(test_labels), dtype=object)
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError("embeddings and labels must have the same length")
    train_keep, test_keep = present_labels(train_y), present_labels(test_y)
    if not train_keep.any() or not has_labels(test_y[test_keep]):
        raise UtilityError(
            "Train on synthetic, test on real needs labels: the training set has "
            f"{int(train_keep.sum())} labelled samples and the real test set {len(set(map(str, test_y[test_keep])))} "
            "distinct labels (at least 2 are needed). Map a label column when loading, or use detection only."
        )
    train_x, train_y = train_x[train_keep], train_y[train_keep].astype(str)
    test_x, test_y = test_x[test_keep], test_y[test_keep].astype(str)
    if len(set(train_y)) == 1:
        predicted = np.full(len(test_y), train_y[0], dtype=object)
    else:
        with one_blas_thread():  # lbfgs with 2 threads on 2 busy cores measured 50x slower
            predicted = _classifier(seed).fit(train_x, train_y).predict(test_x).astype(object)
    labels = sorted(set(test_y))
    precision, recall, f1, support = precision_recall_fscore_support(test_y, predicted, labels=labels, zero_division=0)
    train_counts = pd.Series(train_y).value_counts()
    per_label = pd.DataFrame(
        {
            "label": labels,
            "support": support.astype(int),
            "train": [int(train_counts.get(label, 0)) for label in labels],
            "recall": recall,
            "precision": precision,
            "f1": f1,
        }
    )
    correct = predicted == test_y
    return TSTRResult(
        accuracy=float(correct.mean()),
        macro_f1=float(f1_score(test_y, predicted, labels=labels, average="macro", zero_division=0)),
        per_label=per_label,
        predicted=predicted,
        correct=correct,
        test_labels=test_y,
    )


@dataclass(frozen=True)
class DetectionResult:
    """What :func:`detection` measured.

    Attributes
    ----------
    auc
        Cross-validated ROC AUC of "synthetic" against "real" (0.5: indistinguishable).
    real_scores, synthetic_scores
        Out-of-fold probability of "synthetic" for each real and each synthetic input row, in input
        order; NaN for rows left out when the larger side was subsampled to the smaller's size.
    folds
        Cross-validation folds used.
    """

    auc: float
    real_scores: np.ndarray
    synthetic_scores: np.ndarray
    folds: int

    @property
    def most_synthetic(self) -> np.ndarray:
        """Positions of the synthetic input rows, most "synthetic"-looking first (NaN scores last)."""
        scores = np.where(np.isnan(self.synthetic_scores), -np.inf, self.synthetic_scores)
        return np.argsort(-scores, kind="stable")


def roc_auc(real_scores: np.ndarray, synthetic_scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney U statistic: P(score of a synthetic row > score of a real row), ties ½."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([real_scores, synthetic_scores]))
    n_real, n_synthetic = len(real_scores), len(synthetic_scores)
    return float((ranks[n_real:].sum() - n_synthetic * (n_synthetic + 1) / 2) / (n_real * n_synthetic))


def detection(
    real_embeddings: np.ndarray,
    synthetic_embeddings: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    balance: bool = True,
) -> DetectionResult:
    """Detection AUC: how well a classifier tells real from synthetic samples (a classifier two-sample test).

    A logistic regression (scikit-learn, lbfgs, ``C`` = :data:`C`) learns real (0) against synthetic
    (1) on the embeddings; with stratified ``folds``-fold cross-validation every row is scored by a
    model that never saw it, and the AUC of those out-of-fold scores is reported:
    ``AUC = P(s(synthetic) > s(real)) + ½ P(tie)``, the Mann-Whitney U over ``n_real · n_synthetic``.
    With ``balance`` (default) the larger side is subsampled (seeded) to the smaller's size first,
    so the classifier has no majority class to fall back on.

    Range [0, 1]; 0.5 means the classifier cannot tell the sets apart (best for synthetic data),
    1 that it always can. Out-of-fold AUCs of two samples of the same distribution scatter around 0.5
    (about ±0.03 at 500 + 500 rows) and can fall slightly below it.

    Reference: Lopez-Paz and Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017.
    """
    from sklearn.model_selection import StratifiedKFold

    real, synthetic = np.asarray(real_embeddings, np.float64), np.asarray(synthetic_embeddings, np.float64)
    if real.ndim != 2 or synthetic.ndim != 2 or real.shape[1] != synthetic.shape[1]:
        raise ValueError("real and synthetic embeddings must be (n, d) arrays with the same d")
    if min(len(real), len(synthetic)) < folds:
        raise UtilityError(
            f"Detection needs at least {folds} real and {folds} synthetic samples (one per fold); "
            f"got {len(real)} and {len(synthetic)}."
        )
    rng = np.random.default_rng(seed)
    real_rows, synthetic_rows = np.arange(len(real)), np.arange(len(synthetic))
    if balance:
        size = min(len(real), len(synthetic))
        real_rows = np.sort(rng.choice(real_rows, size, replace=False))
        synthetic_rows = np.sort(rng.choice(synthetic_rows, size, replace=False))
    x = np.concatenate([real[real_rows], synthetic[synthetic_rows]])
    y = np.concatenate([np.zeros(len(real_rows), int), np.ones(len(synthetic_rows), int)])
    scores = np.empty(len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with one_blas_thread():  # lbfgs with 2 threads on 2 busy cores measured 50x slower
        for train, test in splitter.split(x, y):
            scores[test] = _classifier(seed).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    real_scores = np.full(len(real), np.nan)
    synthetic_scores = np.full(len(synthetic), np.nan)
    real_scores[real_rows] = scores[: len(real_rows)]
    synthetic_scores[synthetic_rows] = scores[len(real_rows) :]
    return DetectionResult(
        auc=roc_auc(scores[: len(real_rows)], scores[len(real_rows) :]),
        real_scores=real_scores,
        synthetic_scores=synthetic_scores,
        folds=folds,
    )


def most_synthetic(texts: Sequence[str], result: DetectionResult, n: int = 10) -> pd.DataFrame:
    """The ``n`` synthetic samples the detector finds most "synthetic", with their text.

    ``texts`` are the synthetic rows passed to :func:`detection`, in the same order. Columns
    ``position`` (in those rows), ``score`` (out-of-fold probability of "synthetic", 0..1) and
    ``text``, highest score first. These are the samples to read when the AUC is high: what gives
    the set away (a template, a tone, a length).
    """
    texts = list(texts)
    if len(texts) != len(result.synthetic_scores):
        raise ValueError(f"{len(texts)} texts for {len(result.synthetic_scores)} detection scores")
    order = [i for i in result.most_synthetic[:n] if not np.isnan(result.synthetic_scores[i])]
    return pd.DataFrame(
        {
            "position": np.asarray(order, dtype=int),
            "score": result.synthetic_scores[order],
            "text": [texts[i] for i in order],
        }
    )
