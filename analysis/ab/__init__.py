"""A/B tests: is set (or mixture) B really better than A, metric by metric, with statistics a reviewer can trust?

:func:`ab_test` takes two row sets of one sample table (two synthetic sets, two generations, two
mixtures' rows from :meth:`analysis.mixture.MixtureEngine.rows`), subsamples both to the same size,
and for every metric of :func:`analysis.judge.compare.compare` plus ``TSTR accuracy`` reports A, B, the
difference B − A, a 95 % bootstrap interval of the difference, a p-value, the Holm-adjusted p-value
across metrics and a verdict in words.

How the uncertainty is measured
-------------------------------
Each bootstrap round (Efron 1979) draws **one** resample of the real reference (holdout, with
replacement) that A and B share — the pairing: both sets are judged against the same real samples
in every round — and an independent resample of each set:

- metrics that are means over a set's own samples (precision, density, nearest-real similarity,
  exact, near and holdout copy rates) resample the set's samples with replacement: the plain bootstrap of a
  mean;
- metrics of the whole set (distinct-n, entropy, coverage, recall, tail coverage, duplicate rate,
  rare-token coverage, centroid shift, label divergence, length KS, mean pairwise distance) are
  recomputed on a half of each set drawn without replacement ("half-sampling", McCarthy 1969): a
  resample with replacement repeats about a third of the samples, which these metrics would count as
  duplicates; a half drawn without replacement has, for a mean, the variance of the full-size
  estimate (the finite-population factor (n − m)/(n − 1) halves it back);
- fitted metrics (TSTR, detection AUC, perplexity on real) are fitted once per set; the rounds
  resample the real samples they are scored on (paired) and, for detection, the set's out-of-fold
  scores. This is the test-set bootstrap of Koehn ("Statistical Significance Tests for Machine
  Translation Evaluation", 2004): it holds the fitted model fixed;
- slow metrics (compression ratio, self-BLEU, Vendi, Fréchet distance, MAUVE) are recomputed on
  ``slow_rounds`` half-samples and get a normal interval ``d ± 1.96 sd``.

Intervals are the bootstrap distribution's 2.5 and 97.5 percentiles, shifted so that its mean sits
on the observed difference (resamples move the level of size-sensitive metrics, not their spread).

The **permutation test** (Fisher 1935; Good, "Permutation Tests", 2000) applies where the metric
is a function of the set alone given the fixed real data, so that under H0 "A and B come from the
same source" the pooled samples are exchangeable: A and B are pooled, split at random into two sets
of the original sizes ``permutations`` times, and ``p = (1 + #{|d_perm| >= |d|}) / (1 + permutations)``
(Phipson and Smyth 2010). The others get the bootstrap p-value ``(1 + #{|d* - mean d*| >= |d|}) /
(1 + rounds)`` (the resampled differences centred on 0, a null distribution; Hall and Wilson 1991).
The p-values are adjusted with Holm's step-down method (Holm 1979), which controls the family-wise
error rate at ``alpha`` across all metrics.

The package, one job per module:

- :mod:`~analysis.ab.engine`: :func:`ab_test`, :func:`ab_sets`, :func:`ab_files` (the test itself);
- :mod:`~analysis.ab.context`: :class:`~analysis.ab.context.ABContext`, the pool and the reference
  and their features, computed once;
- :mod:`~analysis.ab.values`: each metric's value on a subset of the pool: the catalogue's computation
  (:meth:`analysis.metrics.catalog.Metric.compute`, the one ``compare`` makes) on the pool's features;
- :mod:`~analysis.ab.result`: :class:`ABResult`, :data:`COLUMNS`, :func:`holm`, the verdicts, :class:`ABError`.

The metrics, their families, directions, definitions and how each is resampled come from
:mod:`analysis.metrics.catalog`. The command-line table (``python -m analysis ab``) is in
:mod:`analysis.cli.ab`.
"""

from analysis.ab.engine import AB_DEFINITIONS, AB_METRICS, ab_files, ab_sets, ab_test
from analysis.ab.result import COLUMNS, ABError, ABResult, holm

__all__ = [
    "ab_test",
    "ab_sets",
    "ab_files",
    "holm",
    "ABResult",
    "AB_METRICS",
    "AB_DEFINITIONS",
    "COLUMNS",
    "ABError",
]
