"""The A/B test itself: subsample, resample, test, correct and phrase the verdicts (see :mod:`analysis.ab`)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.ab.context import ABContext
from analysis.ab.result import COLUMNS, ABError, ABResult, holm, verdict
from analysis.ab.values import NEAREST_KINDS, per_sample, value
from analysis.judge.compare import (
    BASELINE,
    DEFAULT_COVERAGE,
    coverage_reference,
    equal_size,
    nearest_query_limit,
    reference_rows,
    reference_sample,
    sets_of,
    subsample_note,
)
from analysis.metrics import catalog, kernels, utility

__all__ = ["ab_test", "ab_sets", "ab_files", "AB_METRICS", "AB_DEFINITIONS"]

#: metric -> its record (:class:`analysis.metrics.catalog.Metric`): every metric of compare, plus TSTR accuracy.
AB_METRICS: dict[str, catalog.Metric] = {metric.name: metric for metric in catalog.ab_metrics()}
#: metric -> one sentence (compare's definitions, plus TSTR accuracy; the A/B test's own where they differ).
AB_DEFINITIONS: dict[str, str] = catalog.definitions(catalog.ab_metrics(), ab=True)


def ab_test(
    samples: pd.DataFrame,
    a_rows: Sequence[int] | np.ndarray,
    b_rows: Sequence[int] | np.ndarray,
    *,
    names: tuple[str, str] = ("A", "B"),
    embeddings: np.ndarray | None = None,
    reference: str = "holdout",
    coverage: str = DEFAULT_COVERAGE,
    size: int | None = None,
    metrics: Sequence[str] | None = None,
    rounds: int = 999,
    permutations: int = 999,
    slow_rounds: int = 20,
    alpha: float = 0.05,
    seed: int = 0,
    k: int = 5,
    bins: int = 10,
    with_mauve: bool = False,
    progress: Callable[[int, int], object] | None = None,
) -> ABResult:
    """A/B test two row sets of ``samples`` on every metric: difference, interval, p-value, Holm, verdict.

    For each metric m (those of :func:`analysis.judge.compare.compare`, plus ``TSTR accuracy``), with A and
    B subsampled (seeded) to the same size n and judged against the real ``reference`` split:
    ``difference = m(B) - m(A)``; a paired bootstrap interval of it (Efron, "Bootstrap Methods: Another
    Look at the Jackknife", 1979; pairing and resampling per metric as in the module docstring); a
    permutation p-value where the metric is a function of the set alone, otherwise a bootstrap
    p-value; Holm-adjusted p-values across the tested metrics (Holm 1979); and a verdict such as
    "paraphrase keeps more of the tail than llm: +0.08 tail coverage (rarest 10%), 95 % CI [0.05, 0.11],
    Holm p = 0.002."

    Parameters
    ----------
    samples
        The sample table, with real data holding a ``reference`` split (and a ``train`` split, the
        base of the novelty metrics).
    a_rows, b_rows
        Positions (``iloc``) of A's and B's rows: a synthetic set (:func:`ab_sets`), a mixture's rows
        (:meth:`analysis.mixture.MixtureEngine.rows`), any rows. They may overlap (two mixtures share real rows).
    names
        What to call A and B in the verdicts.
    embeddings
        Rows aligned with ``samples``; default :func:`analysis.vectors.embed.embed` (cached).
    coverage
        Coverage's reference, as in :func:`analysis.judge.compare.compare`: ``holdout`` (the ``reference``
        split's balls) or ``crossfit`` (every real sample's, in folds; a real row of A or B never counts for
        its own fold's balls). Cross-fitted balls are resampled by their own bootstrap draws.
    size
        Rows per set; default the smaller set. Both are subsampled to it with ``seed``.
    metrics
        Only these metrics (default: all of :data:`AB_METRICS`, MAUVE only ``with_mauve``).
    rounds, permutations, slow_rounds
        Bootstrap rounds, permutations, half-sample rounds of the slow metrics. With m tested
        metrics, the smallest p-value, ``1 / (permutations + 1)``, must be below ``alpha / m`` for Holm
        to ever reject: keep 999 for a full test.
    alpha
        Family-wise error rate of the verdicts; intervals are at level ``1 - alpha``.
    seed, k, bins
        Seed of the subsampling and of every resampling; neighbours and rarity bins as in compare.
    with_mauve
        Add MAUVE (seconds per computation; its interval uses ``slow_rounds`` half-samples).
    progress
        ``progress(done, total)`` per metric.

    Returns
    -------
    ABResult
        ``table`` with :data:`COLUMNS`, the TSTR per-label recalls, the real-train ceiling and the
        most "synthetic"-looking samples of each set.

    Raises
    ------
    ABError
        When a set has k or fewer rows, the names are equal, or a metric is unknown.
    CompareError
        When the real reference split has k or fewer samples.
    """
    with kernels.one_blas_thread():
        return _ab_test(
            samples,
            a_rows,
            b_rows,
            names=names,
            embeddings=embeddings,
            reference=reference,
            coverage=coverage,
            size=size,
            metrics=metrics,
            rounds=rounds,
            permutations=permutations,
            slow_rounds=slow_rounds,
            alpha=alpha,
            seed=seed,
            k=k,
            bins=bins,
            with_mauve=with_mauve,
            progress=progress,
        )


def _ab_test(
    samples,
    a_rows,
    b_rows,
    *,
    names,
    embeddings,
    reference,
    coverage,
    size,
    metrics,
    rounds,
    permutations,
    slow_rounds,
    alpha,
    seed,
    k,
    bins,
    with_mauve,
    progress,
) -> ABResult:
    start = time.perf_counter()
    if names[0] == names[1]:
        raise ABError(f"A and B are both called {names[0]!r}; give them different names.")
    samples = samples.reset_index(drop=True)
    a_rows, b_rows = np.asarray(a_rows, dtype=np.int64), np.asarray(b_rows, dtype=np.int64)
    for name, rows in zip(names, (a_rows, b_rows)):
        if len(rows) <= k:
            raise ABError(f"{name} has {len(rows)} samples; an A/B test needs at least {k + 1} (k + 1) in each set.")
        if rows.min() < 0 or rows.max() >= len(samples):
            raise ABError(f"{name}'s rows are not positions of the sample table (0 .. {len(samples) - 1}).")
    known = {metric.name: metric for metric in catalog.ab_metrics()}
    chosen = metrics or [name for name, metric in known.items() if with_mauve or metric.switch != "mauve"]
    unknown = [m for m in chosen if m not in known]
    if unknown:
        raise ABError(f"Unknown metric(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}.")
    if embeddings is None:
        from analysis.vectors.embed import embed

        embeddings = embed(samples["text"])
    embeddings = np.asarray(embeddings)
    if len(embeddings) != len(samples):
        raise ABError(f"{len(embeddings)} embeddings for {len(samples)} samples: embed the same table first.")
    reference_positions, reference_total = reference_sample(samples, reference, k=k)
    train = sets_of(samples)[BASELINE]
    subsampled = equal_size({"a": a_rows, "b": b_rows}, size, seed)
    real_rows = int((samples["source"] == "real").sum())
    ctx = ABContext(
        samples,
        embeddings,
        subsampled["a"],
        subsampled["b"],
        reference_positions,
        train,
        k=k,
        bins=bins,
        seed=seed,
        query_limit=nearest_query_limit(real_rows),
        holdout=reference_rows(samples, reference, k=k),
        cover=coverage_reference(samples, embeddings, coverage, k=k) if coverage != reference else None,
    )
    n, n_ref = len(subsampled["a"]), len(reference_positions)
    reference_note = subsample_note(n_ref, reference_total, f"real {reference} samples")
    full_ref = np.arange(n_ref)
    side_a, side_b = ctx.sides
    rng = np.random.default_rng([seed, 2])
    # One draw per round, shared by every metric: the pairing holds across metrics too.
    draws_n = max(rounds, slow_rounds)
    ref_draws = rng.integers(0, n_ref, size=(draws_n, n_ref))
    if ctx.cover is None:  # coverage by the reference's balls: the same draws
        full_cover, cover_draws = full_ref, ref_draws
    else:  # cross-fitted balls: their own draws (a separate generator: the other draws do not move)
        full_cover = np.arange(ctx.cover.size)
        cover_draws = np.random.default_rng([seed, 8]).integers(0, ctx.cover.size, size=(draws_n, ctx.cover.size))
    boot = [side[rng.integers(0, len(side), size=(draws_n, len(side)))][:rounds] for side in ctx.sides]
    half = [
        np.sort(np.argsort(rng.random((draws_n, len(side))), axis=1)[:, : len(side) // 2], axis=1) + side[0]
        for side in ctx.sides
    ]
    slow_half = [h[:slow_rounds] for h in half]
    pooled = np.concatenate(ctx.sides)
    perms = np.argsort(rng.random((permutations, len(pooled))), axis=1)
    perm_a, perm_b = pooled[perms[:, : len(side_a)]], pooled[perms[:, len(side_a) :]]
    if ctx.query_capped:  # the nearest-real kinds resample their queried rows (own draws: the others do not move)
        queried = [side[ctx.queried[side]] for side in ctx.sides]
        query_rng = np.random.default_rng([seed, 6])
        query_boot = [q[query_rng.integers(0, len(q), size=(rounds, len(q)))] for q in queried]
        pooled_q = np.concatenate(queried)
        query_perms = pooled_q[np.argsort(query_rng.random((permutations, len(pooled_q))), axis=1)]
        query_perm = (query_perms[:, : len(queried[0])], query_perms[:, len(queried[0]) :])
    z = stats.norm.ppf(1 - alpha / 2)

    records = []
    for done, metric in enumerate(chosen, start=1):
        record = known[metric]
        a = value(ctx, record, 0, side_a, full_ref, full_cover)
        b = value(ctx, record, 1, side_b, full_ref, full_cover)
        difference = b - a
        low = high = p = float("nan")
        test = ""
        if math.isfinite(difference):
            if record.resampling == "slow":
                draws = np.array(
                    [
                        value(ctx, record, 1, slow_half[1][r], ref_draws[r], cover_draws[r])
                        - value(ctx, record, 0, slow_half[0][r], ref_draws[r], cover_draws[r])
                        for r in range(slow_rounds)
                    ]
                )
                spread = float(np.std(draws, ddof=1)) if slow_rounds > 1 else float("nan")
                if math.isfinite(spread) and spread > 0:
                    low, high = difference - z * spread, difference + z * spread
                    p, test = float(2 * stats.norm.sf(abs(difference) / spread)), "bootstrap (normal)"
            else:
                nearest = ctx.query_capped and record.kind in NEAREST_KINDS
                if record.resampling == "sample":
                    values = per_sample(ctx, record)
                    sample_boot = query_boot if nearest else boot
                    draws = values[sample_boot[1]].mean(axis=1) - values[sample_boot[0]].mean(axis=1)
                else:
                    sets = boot if record.resampling == "fitted" else half
                    draws = np.array(
                        [
                            value(ctx, record, 1, sets[1][r], ref_draws[r], cover_draws[r])
                            - value(ctx, record, 0, sets[0][r], ref_draws[r], cover_draws[r])
                            for r in range(rounds)
                        ],
                        dtype=np.float64,
                    )
                draws = draws[np.isfinite(draws)]
                if draws.size:
                    centred = draws - draws.mean()
                    low, high = difference + np.percentile(centred, [100 * alpha / 2, 100 * (1 - alpha / 2)])
                    if record.resampling == "fitted" or not record.permuted:
                        p, test = (
                            (1 + np.count_nonzero(np.abs(centred) >= abs(difference) - 1e-12)) / (1 + draws.size),
                            "bootstrap",
                        )
                    elif permutations:
                        if record.resampling == "sample":
                            pa, pb = query_perm if nearest else (perm_a, perm_b)
                            null = values[pb].mean(axis=1) - values[pa].mean(axis=1)
                        else:
                            null = np.array(
                                [
                                    value(ctx, record, 1, perm_b[r], full_ref, full_cover)
                                    - value(ctx, record, 0, perm_a[r], full_ref, full_cover)
                                    for r in range(permutations)
                                ]
                            )
                        null = null[np.isfinite(null)]
                        p, test = (
                            (1 + np.count_nonzero(np.abs(null) >= abs(difference) - 1e-12)) / (1 + null.size),
                            "permutation",
                        )
        records.append(
            {
                "metric": metric,
                "family": record.family,
                "direction": record.direction,
                "a": a,
                "b": b,
                "difference": difference,
                "ci_low": float(low),
                "ci_high": float(high),
                "p_value": float(p),
                "test": test,
                "definition": record.ab_definition or record.definition,
                "reference": "; ".join(_notes(ctx, record, reference_note)),
                "n": int(ctx.queried[side_a].sum()) if ctx.query_capped and record.kind in NEAREST_KINDS else n,
            }
        )
        if progress:
            progress(done, len(chosen))
    table = pd.DataFrame(records)
    table["p_holm"] = holm(table["p_value"])
    # A verdict needs both: the Holm-adjusted test rejects, and the interval of the difference excludes 0.
    table["significant"] = (table["p_holm"] < alpha) & ((table["ci_low"] > 0) | (table["ci_high"] < 0))
    verdicts = [
        verdict(
            r.metric,
            r.family,
            r.direction,
            names,
            r.difference,
            r.ci_low,
            r.ci_high,
            r.p_holm,
            r.significant,
            1 - alpha,
        )
        for r in table.itertuples()
    ]
    table["verdict"] = [v for v, _ in verdicts]
    table["better"] = [w for _, w in verdicts]
    table = table[COLUMNS]

    per_label, ceiling = _tstr_tables(ctx, n, seed)
    most = {}
    if any(m == "detection AUC" for m in chosen):
        for name, side, result in zip(names, ctx.sides, ctx.detection):
            frame = utility.most_synthetic(ctx.texts[side], result, n=10)
            frame["row"] = ctx.rows[side][frame["position"].to_numpy()]
            most[name] = frame
    settings = {
        "n": n,
        "reference": reference,
        "reference_n": n_ref,
        "reference_total": reference_total,
        "reference_note": reference_note,
        "seed": seed,
        "k": k,
        "bins": bins,
        "rounds": rounds,
        "permutations": permutations,
        "slow_rounds": slow_rounds,
        "alpha": alpha,
        "seconds": round(time.perf_counter() - start, 3),
    }
    return ABResult(
        table=table, names=tuple(names), per_label=per_label, ceiling=ceiling, most_synthetic=most, settings=settings
    )


def _notes(ctx: ABContext, record: catalog.Metric, reference_note: str) -> list[str]:
    """A row's ``reference``: the metric's source, and which subsample it is of where a cap bites."""
    notes = [record.reference]
    if ctx.cover is not None and record.judged_by_balls:  # cross-fitted coverage: say whose balls
        notes.append(ctx.cover.describe())
    elif reference_note and "reference set" in record.needs and record.family != "novelty":
        notes.append(f"against a {reference_note}")
    if ctx.query_capped and record.kind in NEAREST_KINDS:
        queried = int(ctx.queried[ctx.sides[0]].sum())
        notes.append(f"over a {subsample_note(queried, len(ctx.sides[0]), 'samples of each set')} (nearest real exact)")
    return notes


def _tstr_tables(ctx: ABContext, n: int, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """TSTR per label for A, B and real train data of the same size (the ceiling)."""
    empty = pd.DataFrame(columns=["label", "support", "recall_a", "recall_b", "recall_real", "train_a", "train_b"])
    nan = {"TSTR macro-F1": float("nan"), "TSTR accuracy": float("nan")}
    if not ctx.labelled or "tstr" not in ctx.__dict__:
        return empty, nan
    a, b = ctx.tstr
    if a is None or b is None:
        return empty, nan
    train = equal_size({"real": ctx.train}, n, seed)["real"]
    embeddings_train = ctx.train_x[np.searchsorted(ctx.train, train)]
    try:
        real = utility.tstr(
            embeddings_train, ctx.samples["label"].to_numpy()[train], ctx.ref_x, ctx.ref_labels, seed=seed
        )
    except utility.UtilityError:
        return empty, nan
    table = pd.DataFrame(
        {
            "label": a.per_label["label"],
            "support": a.per_label["support"],
            "recall_a": a.per_label["recall"],
            "recall_b": b.per_label["recall"],
            "recall_real": real.per_label["recall"],
            "train_a": a.per_label["train"],
            "train_b": b.per_label["train"],
        }
    )
    return table, {"TSTR macro-F1": real.macro_f1, "TSTR accuracy": real.accuracy}


def ab_sets(samples: pd.DataFrame, a: str, b: str, **options: Any) -> ABResult:
    """:func:`ab_test` of two sets named as :func:`analysis.judge.compare.sets_of` names them.

    For example ``"llm"``, ``"llm g2"``, ``"real train"``.
    """
    groups = sets_of(samples.reset_index(drop=True))
    missing = [name for name in (a, b) if name not in groups]
    if missing:
        raise ABError(f"No set called {', '.join(map(repr, missing))}; the sets are: {', '.join(groups)}.")
    return ab_test(samples, groups[a], groups[b], names=(a, b), **options)


def ab_files(
    real: Sequence[str | Path],
    a: tuple[str, str | Path],
    b: tuple[str, str | Path],
    *,
    holdout: float = 0.1,
    progress: Callable[[int, int], object] | None = None,
    **options: Any,
) -> ABResult:
    """:func:`ab_test` of two files against real files: ``a`` and ``b`` are ``(name, path)``.

    Every row of A's file is A (a synthetic set or an exported mixture, real rows included), every row
    of B's file is B; the real files give the reference (``holdout`` share, by hash) and the train split.
    """
    from analysis.corpus import combine_samples, read_samples
    from analysis.vectors.embed import embed

    if a[0] == b[0]:
        raise ABError(f"A and B are both called {a[0]!r}; name them differently (NAME=FILE).")
    tables = [read_samples(path, source="real", holdout_fraction=holdout)[0] for path in real]
    sides = [read_samples(path, source="synthetic", method=name)[0] for name, path in (a, b)]
    samples = combine_samples(*tables, *sides)[0]
    start = sum(len(t) for t in tables)
    a_rows = np.arange(start, start + len(sides[0]))
    b_rows = np.arange(start + len(sides[0]), start + len(sides[0]) + len(sides[1]))
    vectors = embed(samples["text"], progress=progress)
    return ab_test(samples, a_rows, b_rows, names=(a[0], b[0]), embeddings=vectors, **options)
