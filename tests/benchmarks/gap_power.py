"""How often a topic missing from a synthetic set *can* be named, per topic, from how well its texts are placed.

    .venv/bin/python tests/benchmarks/gap_power.py [--real 1000] [--sizes 200 1000] [--seeds 3]
    .venv/bin/python tests/benchmarks/gap_power.py --oracle [--sizes 200] [--seeds 40]

Why ``bench_gaps`` names the demo's 5-10 % topics at 1,000 real and 200 synthetic samples in well under 0.9 of
runs, as a closed form instead of a search over rules. Per seed, N real demo samples (the shipped vectors) are
the labelled reference and 3,000 others are placed into its topics, by the named gaps' placer (the topic most of
the 10 nearest real samples hold, :func:`analysis.maps.occupancy.place`) and, for comparison, by a logistic
regression on the embeddings. Per topic T that gives ``q``, the share of real text placed in T, and the *leak*:
the share of texts of other topics placed in T, which is all a set with no text of T still puts there.

A set of M samples lacking T then holds Poisson(M x leak / (1 - share of T)) samples in T's region. The printed
chance of naming T is the probability, over that count, that the gaps' test (the continuity-corrected
two-proportion z test of :func:`analysis.maps.occupancy.occupancy_pvalues`, real side N placed samples at share
``q``, binomial variance) gives p <= 0.05 x 2 / 12 (Benjamini-Hochberg's threshold for the second of two missing
topics among 12 regions) and the count is at most half of ``q`` x M (the rule's "at most half"). It ignores the
fold dispersion and the floor rule, so it is an upper bound of what the rule at that size can do.

``--oracle`` asks the same question of a test that knows far more than N real samples: per seed, two of the
topics of at least 5 % (not "Uncategorized") are dropped from a set of M demo texts, a logistic regression
(C = 1) is trained on about 6,600 other labelled demo texts and the null is read off 3,000 more (no reference
noise). Each of three statistics per topic (the share the regression places there, its mean probability, and
the Neyman-Pearson mean of -log(1 - probability)) is tested one-sided against the null's mean with the null's
variance, Benjamini-Hochberg over the 12 topics at 5 %. It prints the share of dropped topics named (all, and
those of 5-10 %) and how often a real set of M names any (false gaps).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from scipy.stats import norm, poisson  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from analysis.demo import load_demo  # noqa: E402
from analysis.maps.occupancy import bh_reject, occupancy_pvalues, place  # noqa: E402
from analysis.vectors.embed import embed  # noqa: E402

#: Texts placed per seed to measure each topic's placed share and leak.
PLACED = 3000
#: Benjamini-Hochberg's threshold for the second smallest of 12 p-values at 5 %.
THRESHOLD = 0.05 * 2 / 12


def chance_named(q: float, leak: float, share: float, n: int, m: int) -> float:
    """P(the occupancy test names T) for a set of ``m`` samples with no text of T (module docstring)."""
    expected = m * leak / (1 - share)
    counts = np.arange(int(expected * 4 + 20))
    p = occupancy_pvalues(counts, m, np.full(len(counts), q), n)
    named = (p <= THRESHOLD) & (counts <= q * m / 2)
    return float(poisson.pmf(counts[named], expected).sum())


#: The oracle's null: demo texts whose statistics give the null's mean and variance exactly enough.
ORACLE_NULL = 3000


def oracle(unit: np.ndarray, y: np.ndarray, names: np.ndarray, m: int, seeds: int) -> None:
    """``--oracle`` (module docstring): recall of dropped topics and false gaps of three statistics."""
    share = np.bincount(y) / len(y)
    eligible = [t for t in range(len(names)) if share[t] >= 0.05 and names[t] != "Uncategorized"]
    statistics = {
        "placed there (most likely topic)": lambda p: (p.argmax(1)[:, None] == np.arange(p.shape[1])).astype(float),
        "mean probability": lambda p: p,
        "Neyman-Pearson, mean of -log(1 - p)": lambda p: -np.log1p(-np.minimum(p, 1 - 1e-9)),
    }
    named: dict[str, list[bool]] = {name: [] for name in statistics}
    small: dict[str, list[bool]] = {name: [] for name in statistics}
    false: dict[str, list[bool]] = {name: [] for name in statistics}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        null, rest = order[:ORACLE_NULL], order[ORACLE_NULL:]
        dropped = rng.choice(eligible, 2, replace=False)
        drop = rng.choice(rest[~np.isin(y[rest], dropped)], m, replace=False)
        same = rng.choice(np.setdiff1d(rest, drop), m, replace=False)
        train = np.setdiff1d(rest, np.r_[drop, same])
        model = LogisticRegression(C=1, max_iter=3000).fit(unit[train], y[train])
        p_null, p_drop, p_same = (model.predict_proba(unit[rows]) for rows in (null, drop, same))
        for name, statistic in statistics.items():
            reference = statistic(p_null)
            scale = np.maximum(np.sqrt(reference.var(0, ddof=1) / m), 1e-12)
            found, found_same = (
                bh_reject(norm.cdf((statistic(p).mean(0) - reference.mean(0)) / scale))[0] for p in (p_drop, p_same)
            )
            named[name] += [bool(found[t]) for t in dropped]
            small[name] += [bool(found[t]) for t in dropped if share[t] < 0.10]
            false[name].append(bool(found_same.any()))
    print(f"\noracle: {len(train):,} labelled training texts, a null of {ORACLE_NULL:,}, M = {m:,}, {seeds} seeds")
    for name in statistics:
        print(
            f"{name:<38} dropped topics named {np.mean(named[name]):.2f} (5-10 %: {np.mean(small[name]):.2f} of "
            f"{len(small[name])}), false gaps {np.mean(false[name]):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--oracle", action="store_true", help="the oracle's recall instead (module docstring)")
    args = parser.parse_args()

    demo = load_demo()
    real = demo[demo["source"] == "real"].reset_index(drop=True)
    vectors = embed(real["text"].tolist(), progress=None)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    names, y = np.unique(real["label"].astype(str).to_numpy(), return_inverse=True)
    if args.oracle:
        for m in args.sizes:
            oracle(unit, y, names, m, args.seeds)
        return
    rng = np.random.default_rng(0)
    stats: dict[str, list[np.ndarray]] = {"10 nearest (the rule)": [], "logistic regression": []}
    for _ in range(args.seeds):
        order = rng.permutation(len(real))
        ref, placed = order[: args.real], order[args.real : args.real + PLACED]
        by = {
            "10 nearest (the rule)": place(unit[ref], y[ref], unit[placed], k=10, regions=len(names)),
            "logistic regression": LogisticRegression(C=10, max_iter=2000).fit(unit[ref], y[ref]).predict(unit[placed]),
        }
        for placer, got in by.items():
            rows = []
            for topic in range(len(names)):
                of_topic = y[placed] == topic
                rows.append([of_topic.mean(), (got == topic).mean(), (got[~of_topic] == topic).mean()])
            stats[placer].append(np.array(rows))

    print(f"{args.real:,} real demo samples, {args.seeds} seeds; per topic: its share, the share placed in it, the")
    print("leak (texts of other topics placed in it), and the chance a set of M samples lacking it is named")
    for placer, runs in stats.items():
        mean = np.mean(runs, axis=0)
        print(f"\nplaced by {placer}")
        print(f"{'topic':<32} share  placed  leak  " + "  ".join(f"M={m:,}" for m in args.sizes))
        for topic, (share, q, leak) in zip(names, mean):
            chances = "  ".join(
                f"{chance_named(q, leak, share, args.real, m):>{len(f'M={m:,}')}.2f}" for m in args.sizes
            )
            print(f"{topic[:32]:<32} {share:.3f}  {q:.3f}  {leak:.3f}  {chances}")


if __name__ == "__main__":
    main()
