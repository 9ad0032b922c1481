"""The accuracy rule a fast embedding backend must pass to be a default (issue 35).

It judges vectors, so it sits above the embedding layer (``analysis.vectors``) and beside the rules it applies
(``analysis.judge.risks``): the vectors layer never imports the judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

#: The accuracy rule's defaults (:func:`accuracy_rule`).
RULE_MIN_COSINE = 0.99
RULE_FRACTION = 0.75
#: The demo texts the rule is judged on (issue 35: at least 1,000 real and 600 synthetic, :func:`demo_rule_sets`).
RULE_REAL, RULE_SYNTHETIC = 1000, 600
#: Dropped-topic draws (:func:`dropped_topic_draws`): labels holding at least this share of the real texts, each
#: dropped from a set in this many seeded draws, the set being the real texts outside this share of them.
DROP_SHARE, DROP_SEEDS, DROP_REAL = 0.10, 10, 0.8


def demo_rule_sets(
    n_real: int = RULE_REAL, n_synthetic: int = RULE_SYNTHETIC
) -> tuple[list[str], list[str], list[str], pd.DataFrame]:
    """Demo texts for the accuracy rule: ``n_real`` real texts spread over the corpus, ``n_synthetic`` synthetic
    ones, a third from each synthetic method; a trailing space keeps them off the shipped demo vectors. Returns
    (real texts, synthetic texts, each synthetic text's set, their rows of the demo's sample table, real first,
    for the rule's named gaps)."""
    import pandas as pd

    from analysis.demo import load_demo

    demo = load_demo().sort_values("id")
    real_all = demo[demo["source"] == "real"]
    real = real_all.iloc[:: max(1, len(real_all) // n_real)].head(n_real)
    per = max(1, n_synthetic // 3)
    synthetic = pd.concat(
        [
            rows.iloc[:: max(1, len(rows) // per)].head(per)
            for _, rows in demo[demo["source"] != "real"].groupby("method")
        ]
    )
    samples = pd.concat([real, synthetic], ignore_index=True)
    samples["text"] = samples["text"] + " "
    texts = samples["text"].tolist()
    return texts[: len(real)], texts[len(real) :], synthetic["method"].tolist(), samples


def _rule_metrics(
    vectors: np.ndarray, real: np.ndarray, train: np.ndarray, sets: dict[str, np.ndarray], k: int, bins: int
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """The embedding metrics the rule guards, per set, against the real ``real`` rows (compare's ``holdout``):
    precision, recall, density, coverage, coverage per rarity bin (head 0 to tail), tail coverage of the rarest
    10 % and 30 %. ``train`` is the real baseline (compare's ``real train``), judged like a set.

    Also each metric's resolution: the change one text makes to it (:func:`resolution`)."""
    from analysis.metrics.fidelity import covered_by, prdc, prepare_reference
    from analysis.metrics.tails import rarity, rarity_bins

    holdout = vectors[real]
    prepared = prepare_reference(holdout, k)
    radii = rarity(holdout, k=k)
    bin_of, tenth = rarity_bins(radii, bins), rarity_bins(radii, 10)
    values: dict[tuple[str, str], float] = {}
    steps: dict[tuple[str, str], float] = {}
    for name, rows in {"real train": train, **sets}.items():
        x = vectors[rows]
        for metric, value in prdc(holdout, x, k=k, reference=prepared).items():
            values[name, metric] = value
            steps[name, metric] = resolution(metric, len(rows), len(real), k)
        covered = covered_by(holdout, x, radii)
        for b in range(bins):
            values[name, f"coverage in rarity bin {b}"] = float(covered[bin_of == b].mean())
            steps[name, f"coverage in rarity bin {b}"] = 1.0 / max(1, int((bin_of == b).sum()))
        for share, last in (("10%", 1), ("30%", 3)):
            values[name, f"tail coverage (rarest {share})"] = float(covered[tenth >= 10 - last].mean())
            steps[name, f"tail coverage (rarest {share})"] = 1.0 / max(1, int((tenth >= 10 - last).sum()))
    return values, steps


def rule_limit(noise: float, step: float, fraction: float = RULE_FRACTION) -> float:
    """How far a metric may move (:func:`accuracy_rule`): ``fraction`` of its standard error ``noise``, rounded up
    to whole texts (``step``: the change one text makes), and never less than one text. With no noise (0, or NaN
    when it was not estimated) the limit is one text."""
    texts = np.ceil(fraction * noise / step - 1e-9) if np.isfinite(noise) and noise > 0 else 1.0
    return float(max(1.0, texts) * step)


def resolution(metric: str, n_set: int, n_holdout: int, k: int) -> float:
    """The change one text makes to a PRDC metric of a set of ``n_set`` texts judged against ``n_holdout`` real
    texts at ``k``: a share of the set (precision) moves by ``1 / n_set``, a share of the real holdout (recall,
    coverage) by ``1 / n_holdout``, density (real balls holding a set's text, over ``k`` times the set's size) by
    ``1 / (k n_set)`` when one text enters or leaves one ball. Coverage of a group of the holdout (a rarity bin,
    the rarest 10 % or 30 %) moves by ``1 / group size`` (:func:`_rule_metrics`)."""
    return {
        "precision": 1.0 / max(1, n_set),
        "recall": 1.0 / max(1, n_holdout),
        "density": 1.0 / max(1, k * n_set),
        "coverage": 1.0 / max(1, n_holdout),
    }[metric]


def _verdicts(values: dict[tuple[str, str], float], rules) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The gate's verdict per set (``ok``, ``warning``, ``alarm``) from the risk rules on these metrics."""
    import pandas as pd

    from analysis.judge.risks import load_rules, risks

    table = pd.DataFrame([(s, m, v) for (s, m), v in values.items()], columns=["set", "metric", "value"])
    known = set(table["metric"])
    rules = [r for r in (rules if isinstance(rules, list) else load_rules(rules)) if r["metric"] in known]
    fired = risks(table, rules)
    order = {"ok": 0, "warning": 1, "alarm": 2}
    verdicts = {s: "ok" for s in dict.fromkeys(table["set"]) if s != "real train"}
    for row in fired.itertuples():
        if order[row.severity] > order[verdicts[row.set]]:
            verdicts[row.set] = row.severity
    return verdicts


def accuracy_rule(
    reference_vectors: np.ndarray,
    fast_vectors: np.ndarray,
    real_mask: np.ndarray,
    groups: Sequence[str] | np.ndarray | None = None,
    *,
    min_cosine: float = RULE_MIN_COSINE,
    fraction: float = RULE_FRACTION,
    rounds: int = 30,
    k: int = 5,
    bins: int = 5,
    seed: int = 0,
    rules=None,  # type: ignore[no-untyped-def]
    samples: pd.DataFrame | None = None,
    gap_cache_dir: str | Path | None = None,
):
    """Whether a fast backend's vectors may stand in for the float32 reference's: ``(passes, table)``.

    The rule (issue 35), on the same texts embedded both ways (rows aligned; ``real_mask`` marks the real
    texts, ``groups`` names each synthetic text's set, default one set):

    (a) every text's cosine to its reference vector is >= ``min_cosine`` (0.99); and
    (b) every metric ``m`` the gate reads, per set, moves by at most ``fraction`` (0.75) of ``SE(m)``, rounded up to
        whole texts, and never by less than one text may it move: ``limit = r x max(1, ceil(fraction x SE(m) / r))``
        with ``r`` the change one text makes to ``m`` (its resolution, below); and no gate verdict changes.
        ``SE(m)`` is ``m``'s own resampling noise on these texts (its standard error).

    Why whole texts: a metric moves in steps of one text, so a limit between one and two texts permits exactly what
    one text permits, and a limit below one text would demand the same counts, not a small change: at 200 + 120
    texts half the SE of a 20-text rarity bin is about 0.048 where one text is 0.05, and a metric with no
    resampling noise at all (precision 1 in every half-sample) would get a limit of 0; it gets one text.
    Why 0.75: the rule takes the worst of its 44 metric checks, so a per-check limit of 0.75 SE tolerates a backend
    whose error per metric is about a third of the noise (about 5 % more total uncertainty); at 0.5, the
    reference's own demo vectors plus noise at cosine 0.9999 failed in some draws at 200 + 120 texts (a 20-text
    bin moved by two texts). A backend that moves a metric by several noise units, or changes a verdict, is refused.

    The metrics and their resolutions. The real texts are split in two halves, as compare splits real data:
    ``holdout`` (the reference every set is judged against) and ``real train`` (the baseline the relative rules
    scale by). Per set (each synthetic set and ``real train``), against the holdout at ``k`` (5):

    ============================================  =====================================================
    metric                                        resolution (one text)
    ============================================  =====================================================
    precision (share of the set in a real ball)   1 / set size
    recall (share of the holdout in a set ball)   1 / holdout size
    density (real balls per set text, / k)        1 / (k x set size): one text entering or leaving one ball
    coverage (share of real balls with a text)    1 / holdout size
    coverage in rarity bin b (``bins``, 5)        1 / texts in bin b
    tail coverage of the rarest 10 % and 30 %     1 / texts in that tail
    ============================================  =====================================================

    Noise: the standard deviation of each metric over ``rounds`` (30) half-samples (half of every set and of the
    holdout, drawn without replacement) of the reference vectors: for a mean, exactly the standard error at the
    full size, the bootstrap's estimate, but without the repeated rows a with-replacement bootstrap puts at
    distance 0, which shrink every k-NN radius. Verdicts: the risk rules (``rules``, default
    ``analysis/judge/risk_rules.toml``) on those metrics, per set, ``ok``/``warning``/``alarm``; the verdict
    check has no tolerance.

    Named gaps: with ``samples`` (the sample table of these rows, row-aligned: ``source``, ``method``, ``label``, as
    :func:`analysis.maps.gaps.find_gaps` reads it), the set of named gap regions of every synthetic set
    (:func:`analysis.maps.gaps.find_gaps`, default settings) must not change, like a verdict: one ``named gaps`` row
    per set, no tolerance. ``gap_cache_dir``: where ``find_gaps`` keeps its regions (default a temporary folder).
    And where the real texts have labels, missing topics must be named as often (:func:`dropped_topic_draws`: each
    label of at least 10 % of the real texts dropped from a set of the other real texts, 10 seeded draws each): one
    ``dropped topics named`` row, the count of draws whose set names its dropped topic, which may fall by at most
    0.75 of its binomial standard error over the draws, in whole draws, and at least one. A draw at the test's
    threshold goes either way with any change of the vectors (docs/embeddings.md), so the count is judged, not
    each draw.

    ``table``: one row per check (``set``, ``metric``, ``reference``, ``fast``, ``change``, ``noise`` (its standard
    error), ``resolution``, ``limit``, ``passes``), the cosine first and the verdicts last.
    """
    import pandas as pd

    reference_vectors = np.asarray(reference_vectors, np.float64)
    fast_vectors = np.asarray(fast_vectors, np.float64)
    real_mask = np.asarray(real_mask, bool)
    if reference_vectors.shape != fast_vectors.shape or len(real_mask) != len(reference_vectors):
        raise ValueError("reference_vectors, fast_vectors and real_mask must have the same rows")
    rng = np.random.default_rng(seed)
    real_rows = rng.permutation(np.flatnonzero(real_mask))
    holdout, train = np.sort(real_rows[: len(real_rows) // 2]), np.sort(real_rows[len(real_rows) // 2 :])
    synthetic = np.flatnonzero(~real_mask)
    labels = np.asarray(groups if groups is not None else ["synthetic"] * len(synthetic), dtype=object)
    if len(labels) != len(synthetic):
        raise ValueError(f"{len(synthetic)} synthetic rows but {len(labels)} group labels")
    sets = {str(g): synthetic[labels == g] for g in dict.fromkeys(labels.tolist())}

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    cosine = (unit(reference_vectors) * unit(fast_vectors)).sum(1)
    before, steps = _rule_metrics(reference_vectors, holdout, train, sets, k, bins)
    after, _ = _rule_metrics(fast_vectors, holdout, train, sets, k, bins)

    def half(rows: np.ndarray) -> np.ndarray:
        return np.sort(rng.choice(rows, size=max(k + 1, len(rows) // 2), replace=False))

    draws = []
    for _ in range(rounds):
        draws.append(
            _rule_metrics(
                reference_vectors, half(holdout), half(train), {g: half(r) for g, r in sets.items()}, k, bins
            )[0]
        )
    rows = [
        {
            "set": "all texts",
            "metric": "min cosine to the reference",
            "reference": 1.0,
            "fast": float(cosine.min()),
            "change": float(cosine.min() - 1.0),
            "noise": np.nan,
            "resolution": np.nan,
            "limit": min_cosine,
            "passes": bool(cosine.min() >= min_cosine),
        }
    ]
    for key, value in before.items():
        noise = float(np.nanstd([draw[key] for draw in draws], ddof=1)) if rounds > 1 else np.nan
        change = after[key] - value
        limit = rule_limit(noise, steps[key], fraction)
        ok = bool(np.isnan(value) and np.isnan(after[key])) or bool(abs(change) <= limit + 1e-9 * steps[key])
        rows.append(
            {
                "set": key[0],
                "metric": key[1],
                "reference": value,
                "fast": after[key],
                "change": change,
                "noise": noise,
                "resolution": steps[key],
                "limit": limit,
                "passes": ok,
            }
        )
    verdicts = _verdicts(before, rules), _verdicts(after, rules)
    for name, verdict in verdicts[0].items():
        rows.append(
            {
                "set": name,
                "metric": "gate verdict",
                "reference": verdict,
                "fast": verdicts[1][name],
                "change": "" if verdict == verdicts[1][name] else "changed",
                "noise": np.nan,
                "resolution": np.nan,
                "limit": "unchanged",
                "passes": verdict == verdicts[1][name],
            }
        )
    if samples is not None:
        rows.extend(_gap_rows(reference_vectors, fast_vectors, samples, gap_cache_dir))
        rows.extend(_dropped_rows(reference_vectors, fast_vectors, samples, real_mask, fraction))
    table = pd.DataFrame(rows)
    return bool(table["passes"].all()), table


def named_gaps(
    vectors: np.ndarray, samples: pd.DataFrame, cache_dir: str | Path | None = None
) -> dict[str, tuple[str, ...]]:
    """The named gap regions of each synthetic set (:func:`analysis.maps.gaps.find_gaps`, default settings), sorted."""
    import tempfile

    from analysis.maps.gaps import find_gaps

    if len(samples) != len(vectors):
        raise ValueError(f"{len(samples)} samples for {len(vectors)} vectors")
    with tempfile.TemporaryDirectory(prefix="rule-gaps-") as scratch:
        report = find_gaps(samples, np.asarray(vectors, np.float32), cache_dir=cache_dir or scratch)
    return {name: tuple(sorted(gap.name for gap in gaps)) for name, gaps in report.gaps.items()}


def _gap_rows(
    reference_vectors: np.ndarray, fast_vectors: np.ndarray, samples: pd.DataFrame, cache_dir: str | Path | None
) -> list[dict]:
    """One ``named gaps`` row per synthetic set of :func:`accuracy_rule`: passes when the set of names is the same."""
    before, after = named_gaps(reference_vectors, samples, cache_dir), named_gaps(fast_vectors, samples, cache_dir)
    rows = []
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name, ()), after.get(name, ())
        rows.append(
            {
                "set": name,
                "metric": "named gaps",
                "reference": "; ".join(old) or "none",
                "fast": "; ".join(new) or "none",
                "change": "" if old == new else "changed",
                "noise": np.nan,
                "resolution": np.nan,
                "limit": "unchanged",
                "passes": old == new,
            }
        )
    return rows


def dropped_topic_draws(
    samples: pd.DataFrame, real_mask: np.ndarray, *, share: float = DROP_SHARE, seeds: int = DROP_SEEDS
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Constructed missing-topic cases from the real rows of ``samples`` (their ``label``): for each label holding at
    least ``share`` of them and each seed, ``(label, real rows, set rows)``: a seeded :data:`DROP_REAL` (80 %) of
    the real rows as the real data, and the others without that label as a synthetic set. Empty without labels."""
    import pandas as pd

    real = np.flatnonzero(np.asarray(real_mask, bool))
    if "label" not in samples.columns or not len(real):
        return []
    labels = samples["label"].to_numpy()
    present = labels[real][np.asarray(pd.notna(labels[real]), bool)]
    names, counts = np.unique(present.astype(str), return_counts=True)
    draws = []
    for label in names[counts >= share * len(real)]:
        for seed in range(seeds):
            order = np.random.default_rng(seed).permutation(real)
            cut = int(round(DROP_REAL * len(order)))
            rest = order[cut:]
            draws.append((str(label), np.sort(order[:cut]), np.sort(rest[labels[rest] != label])))
    return draws


def _draw_table(samples: pd.DataFrame, real: np.ndarray, chosen: np.ndarray) -> pd.DataFrame:
    """A sample table of one draw: ``real`` rows as real data (every tenth held out) and ``chosen`` as the set."""
    frame = samples.iloc[np.r_[real, chosen]][["text", "label"]].reset_index(drop=True)
    is_set = np.arange(len(frame)) >= len(real)
    frame["source"] = np.where(is_set, "synthetic", "real")
    frame["method"] = np.where(is_set, "dropped", "real")
    frame["generation"] = is_set.astype(int)
    frame["split"] = np.where(~is_set & (np.arange(len(frame)) % 10 == 0), "holdout", "train")
    frame.insert(0, "id", [f"d{i}" for i in range(len(frame))])
    return frame


def dropped_named(vectors: np.ndarray, samples: pd.DataFrame, draws: list[tuple[str, np.ndarray, np.ndarray]]) -> int:
    """How many of the ``draws`` (:func:`dropped_topic_draws`) name their dropped label: a gap region of the set has
    it as its main label (:func:`analysis.maps.gaps.find_gaps`, default settings)."""
    import tempfile

    from analysis.maps.gaps import find_gaps

    vectors = np.asarray(vectors, np.float32)
    named = 0
    with tempfile.TemporaryDirectory(prefix="rule-dropped-") as scratch:
        for label, real, chosen in draws:
            report = find_gaps(_draw_table(samples, real, chosen), vectors[np.r_[real, chosen]], cache_dir=scratch)
            by_id = {region.id: region for region in report.regions}
            named += any(by_id[gap.region].labels[:1] == (label,) for gap in report.gaps.get("dropped", []))
    return named


#: :func:`dropped_named` of reference vectors, by a hash of all it reads: each backend judged against the same
#: reference in one process (the suite judges three) counts the reference's draws once.
_REFERENCE_NAMED: dict[str, int] = {}


def _reference_named(
    vectors: np.ndarray, samples: pd.DataFrame, draws: list[tuple[str, np.ndarray, np.ndarray]]
) -> int:
    from analysis.io import bytes_sha256, values_bytes

    key = bytes_sha256(
        np.ascontiguousarray(vectors, np.float32).tobytes(),
        values_bytes(samples[["text", "label"]]),
        *(label.encode() + np.asarray(rows, np.int64).tobytes() for label, *parts in draws for rows in parts),
    )
    if key not in _REFERENCE_NAMED:
        _REFERENCE_NAMED[key] = dropped_named(vectors, samples, draws)
    return _REFERENCE_NAMED[key]


def _dropped_rows(
    reference_vectors: np.ndarray,
    fast_vectors: np.ndarray,
    samples: pd.DataFrame,
    real_mask: np.ndarray,
    fraction: float,
) -> list[dict]:
    """The ``dropped topics named`` row of :func:`accuracy_rule` (none without labelled real texts)."""
    draws = dropped_topic_draws(samples, real_mask)
    if not draws:
        return []
    before, after = _reference_named(reference_vectors, samples, draws), dropped_named(fast_vectors, samples, draws)
    rate = before / len(draws)
    noise = float(np.sqrt(len(draws) * rate * (1 - rate)))  # the count's binomial standard error over the draws
    limit = rule_limit(noise, 1.0, fraction)
    return [
        {
            "set": f"{len(draws)} draws",
            "metric": "dropped topics named",
            "reference": before,
            "fast": after,
            "change": after - before,
            "noise": noise,
            "resolution": 1.0,
            "limit": limit,
            "passes": after >= before - limit,
        }
    ]
