"""How often a topic missing from a synthetic set *can* be named, per topic, from how well its texts are placed.

    .venv/bin/python tests/benchmarks/gap_power.py [--real 1000] [--sizes 200 1000] [--seeds 3]

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
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from scipy.stats import poisson  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from analysis.demo import load_demo  # noqa: E402
from analysis.maps.occupancy import occupancy_pvalues, place  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    demo = load_demo()
    real = demo[demo["source"] == "real"].reset_index(drop=True)
    vectors = embed(real["text"].tolist(), progress=None)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    names, y = np.unique(real["label"].astype(str).to_numpy(), return_inverse=True)
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
