"""The real reference coverage and the other metrics are judged against: which rows, how capped, its k-NN balls.

:func:`reference_sample` gives the rows of a real split (the holdout by default) every reference metric is
judged against, capped at :data:`REFERENCE_LIMIT` by a seeded subsample; :func:`coverage_reference` draws
coverage's k-NN balls on them (:class:`CoverageReference`): the holdout's, or with :data:`CROSSFIT` every
real sample's, in two folds, each judged by candidates from the other, so a file of 1,000 real
samples gets a coverage number and its real baseline is unseen data (cross-fitting; Chernozhukov et al.
2018, "Double/debiased machine learning", The Econometrics Journal 21(1), for the scheme; the balls
are Naeem et al. 2020's, :func:`analysis.metrics.fidelity.covered_by`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import CollapseLabError
from analysis.maps.occupancy import fold_split
from analysis.metrics import fidelity, tails

__all__ = [
    "CompareError",
    "CROSSFIT",
    "COVERAGE_REFERENCES",
    "DEFAULT_COVERAGE",
    "COVERAGE_LABELS",
    "COVERAGE_FOLDS",
    "REFERENCE_LIMIT",
    "REFERENCE_SEED",
    "reference_rows",
    "capped",
    "reference_sample",
    "subsample_note",
    "CoverageReference",
    "coverage_reference",
]

#: The coverage reference of every real sample, cross-fitted in folds (:func:`coverage_reference`).
CROSSFIT = "crossfit"
#: The coverage references a user can choose: the fixed holdout, or all real data cross-fitted.
COVERAGE_REFERENCES = ("holdout", CROSSFIT)
#: Coverage's reference unless one is chosen: all real data, cross-fitted (a 1,000-sample file gets a number).
DEFAULT_COVERAGE = CROSSFIT
#: Each reference in words, as the Data page's choice and every caption that names it say it (fixed words: a
#: radio label that changed with the data would make Streamlit hand the label, not the value, to the next run).
COVERAGE_LABELS = {CROSSFIT: "every real sample, cross-fitted", "holdout": "the real holdout"}
#: Folds of cross-fitted coverage: two halves, each judged by the other. Fewer folds draw each fold's balls
#: among more samples, so they are finer: on the demo's texts at 1,000 real samples, 5 folds of 200 credited a
#: set with no text of a topic with 85-99 % of real data's coverage of it, 2 folds of 500 with about 45 %.
COVERAGE_FOLDS = 2

#: Most reference (holdout) samples any metric is judged against: above it, a seeded uniform subsample.
REFERENCE_LIMIT = 20_000
#: Seed of the reference subsample: fixed, so every page and table judges against the same rows.
REFERENCE_SEED = 0


class CompareError(CollapseLabError, ValueError):
    """The samples cannot be compared as given; the message says what is missing."""


def reference_rows(samples: pd.DataFrame, reference: str = "holdout", *, k: int = 5) -> np.ndarray:
    """Positions of the real ``reference`` split (:data:`CROSSFIT`: every real sample); raises
    :class:`CompareError` when it has ``k`` or fewer."""
    real = (samples["source"] == "real").to_numpy()
    rows = np.flatnonzero(real if reference == CROSSFIT else real & (samples["split"] == reference).to_numpy())
    if len(rows) <= k:
        raise CompareError(
            f"The real '{reference}' split has {len(rows)} samples; at least {k + 1} are needed. "
            f"Load more real data (the holdout is 10 % of it)."
        )
    return rows


def capped(rows: np.ndarray, limit: int, seed: int | list[int]) -> np.ndarray:
    """``rows``, or a seeded uniform subsample of ``limit`` of them (sorted) when there are more."""
    rows = np.asarray(rows)
    if len(rows) <= limit:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))


def reference_sample(samples: pd.DataFrame, reference: str = "holdout", *, k: int = 5) -> tuple[np.ndarray, int]:
    """The reference rows every metric is judged against, and the split's full size.

    :func:`reference_rows`, capped at :data:`REFERENCE_LIMIT` by a uniform subsample seeded with
    :data:`REFERENCE_SEED` (module docstring): ``compare``, :func:`coverage_reference`, the mixture
    engine and the A/B test all call this, so they judge against the same rows.
    """
    rows = reference_rows(samples, reference, k=k)
    return capped(rows, REFERENCE_LIMIT, REFERENCE_SEED), len(rows)


def subsample_note(used: int, total: int, what: str) -> str:
    """``"seeded subsample of 20,000 of the 73,540 real holdout samples"``, or ``""`` when all are used."""
    return f"seeded subsample of {used:,} of the {total:,} {what}" if used < total else ""


@dataclass(frozen=True)
class CoverageReference:
    """The real samples coverage is judged against: one for Tail coverage, ``compare``, the gaps, mixtures and A/B.

    ``split`` is a real split (``"holdout"``) or :data:`CROSSFIT` (:data:`DEFAULT_COVERAGE`): every real sample,
    dealt into ``folds`` folds (:data:`COVERAGE_FOLDS`), each fold's balls drawn among that fold alone
    and judged only by candidates from outside it. Every real sample is then held out once, and real
    data of the same size from the other folds is a fair baseline (:meth:`real_covered`); a synthetic
    set covers a sample when its fold's ball holds one of its rows.

    ``rows`` are their positions in the sample table, ``x`` their embeddings (float64), ``fold`` each
    one's fold (all 0 for a split) and ``radii`` each one's distance to its k-th nearest other
    sample of its fold: the k-NN balls of :func:`analysis.metrics.fidelity.covered_by`.
    ``unsupported`` is ``""`` when the balls are fine enough for a coverage number, else the reason
    (:func:`analysis.metrics.fidelity.coverage_unsupported`). ``total`` is the split's size: above
    :data:`REFERENCE_LIMIT` the balls are those of a seeded subsample (:func:`reference_sample`), and
    :meth:`describe` says so. ``real_rows`` are every real row (the baseline's pool with :data:`CROSSFIT`).
    """

    split: str
    rows: np.ndarray
    x: np.ndarray
    k: int
    radii: np.ndarray
    total: int = 0
    fold: np.ndarray | None = None
    folds: int = 1
    real_rows: np.ndarray | None = None

    @property
    def capped(self) -> bool:
        """The balls are those of a seeded subsample of the split (it holds more than :data:`REFERENCE_LIMIT`)."""
        return self.total > self.size

    @property
    def note(self) -> str:
        """``""``, or ``"seeded subsample of 20,000 of the 73,540 real holdout samples"`` when capped."""
        return subsample_note(self.size, self.total, f"{self.name} samples")

    @property
    def size(self) -> int:
        return len(self.rows)

    @property
    def ball_size(self) -> int:
        """How many samples each ball is drawn among: the split's, or the smallest fold's."""
        return int(np.bincount(self.fold).min()) if self.fold is not None and self.size else self.size

    @property
    def name(self) -> str:
        return "real" if self.split == CROSSFIT else f"real {self.split}"

    @property
    def unsupported(self) -> str:
        if self.split != CROSSFIT:
            return fidelity.coverage_unsupported(self.size, self.k, reference=self.name)
        return fidelity.coverage_unsupported(
            self.ball_size, self.k, reference=f"smallest of {self.folds} folds of the real data", held_out=False
        )

    def describe(self) -> str:
        """Which balls, in words: ``"5-NN balls of the real holdout (1,003 samples)"``, when capped
        ``"5-NN balls of a seeded subsample of 20,000 of the 73,540 real holdout samples"``, cross-fitted
        ``"5-NN balls of all 1,000 real samples in 2 folds of 500, each judged by the other folds"``."""
        if self.split == CROSSFIT:
            which = f"a {self.note}" if self.capped else f"all {self.size:,} real samples"
            return (
                f"{self.k}-NN balls of {which} in {self.folds} folds of {self.ball_size:,}, "
                "each judged by the other folds (cross-fitted)"
            )
        if self.capped:
            return f"{self.k}-NN balls of a {self.note}"
        return f"{self.k}-NN balls of the {self.name} ({self.size:,} samples)"

    def fold_of(self, rows: np.ndarray) -> np.ndarray:
        """Each of ``rows``' fold (positions in the sample table); -1 for a row outside the reference."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.fold is None or not len(rows) or not self.size:
            return np.full(len(rows), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.rows, rows), self.size - 1)  # self.rows is sorted
        return np.where(self.rows[at] == rows, self.fold[at], -1)

    def covered(self, synthetic: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Per reference sample: does its ball hold a row of ``synthetic``? All False for an empty set.

        ``rows`` are the candidates' positions in the sample table: with :data:`CROSSFIT`, a real
        candidate does not count for its own fold's balls (None: no candidate is in the reference)."""
        synthetic = np.asarray(synthetic)
        if len(synthetic) == 0:
            return np.zeros(self.size, dtype=bool)
        if self.fold is None:
            return fidelity.covered_by(self.x, synthetic, self.radii)
        candidate_fold = np.full(len(synthetic), -1) if rows is None else self.fold_of(rows)
        out = np.zeros(self.size, dtype=bool)
        for f in range(self.folds):
            mine, judges = self.fold == f, candidate_fold != f
            if judges.any():
                out[mine] = fidelity.covered_by(self.x[mine], synthetic[judges], self.radii[mine])
        return out

    def real_covered(self, embeddings: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
        """:meth:`covered` by real data of the size of ``rows`` (a set's draw of real train rows): the baseline.

        The holdout: those very rows. :data:`CROSSFIT`: for each fold, as many real rows of a seeded
        order of all real rows from outside it (:meth:`covered_with_real`), so every fold is judged
        by unseen real data of that size."""
        if self.fold is None or self.real_rows is None:
            return self.covered(embeddings[rows], rows)
        order = np.random.default_rng([seed, 7]).permutation(self.real_rows)
        return self.covered_with_real(embeddings, np.zeros(0, dtype=np.int64), order, len(rows))

    def covered_with_real(
        self, embeddings: np.ndarray, rows: np.ndarray, real_order: np.ndarray, real_count: int
    ) -> np.ndarray:
        """:meth:`covered` by ``rows`` and ``real_count`` real rows drawn in ``real_order`` (positions in the
        sample table): a mixture of real and synthetic data, as the mixture engine measures it.

        The holdout: the first ``real_count`` of ``real_order``. :data:`CROSSFIT`: for each fold, the first
        ``real_count`` of ``real_order`` from outside that fold (the same recipe drawn without it), so a
        mixture's real part is judged as unseen real data, as the real baseline is."""
        rows, real_order = np.asarray(rows, dtype=np.int64), np.asarray(real_order, dtype=np.int64)
        if self.fold is None:
            both = np.concatenate([rows, real_order[:real_count]])
            return self.covered(embeddings[both], both)
        out = np.zeros(self.size, dtype=bool)
        rows_fold, order_fold = self.fold_of(rows), self.fold_of(real_order)
        for f in range(self.folds):
            judges = np.concatenate([rows[rows_fold != f], real_order[order_fold != f][:real_count]])
            mine = self.fold == f
            if len(judges):
                out[mine] = fidelity.covered_by(self.x[mine], embeddings[judges], self.radii[mine])
        return out


def coverage_reference(
    samples: pd.DataFrame, embeddings: np.ndarray, reference: str = "holdout", *, k: int = 5
) -> CoverageReference:
    """The real ``reference`` and its k-NN balls, as coverage numbers use them.

    ``reference`` is a real split (``holdout``: balls among the split itself) or :data:`CROSSFIT`
    (every real sample in :data:`COVERAGE_FOLDS` folds, seeded with :data:`REFERENCE_SEED`, balls
    among each fold: from 400 real samples at k = 5 each holds the floor). Raises :class:`CompareError`
    when there are ``k`` or fewer samples (no ball can be drawn); a reference below the coverage floor is
    returned with :attr:`CoverageReference.unsupported` set. Above :data:`REFERENCE_LIMIT` samples the reference
    is a seeded subsample (:func:`reference_sample`).
    """
    rows, total = reference_sample(samples, reference, k=k)
    x = np.asarray(embeddings)[rows].astype(np.float64)
    if reference != CROSSFIT:
        return CoverageReference(split=reference, rows=rows, x=x, k=k, radii=tails.rarity(x, k=k), total=total)
    folds = COVERAGE_FOLDS
    fold = fold_split(len(rows), folds, REFERENCE_SEED)
    radii = np.full(len(rows), np.nan)
    for f in range(folds):
        mine = fold == f
        if mine.sum() > k:  # else no ball (NaN: nothing is inside), and the floor says why
            radii[mine] = tails.rarity(x[mine], k=k)
    real_rows = np.flatnonzero((samples["source"] == "real").to_numpy())
    return CoverageReference(
        split=reference, rows=rows, x=x, k=k, radii=radii, total=total, fold=fold, folds=folds, real_rows=real_rows
    )
