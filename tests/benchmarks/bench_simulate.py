"""Benchmark: the collapse simulator's n-gram model on the demo, 20 generations x 3 regimes.

    .venv/bin/python tests/benchmarks/bench_simulate.py [--generations 20] [--n 1000] [--repeats 3]

The demo corpus is loaded once first (not timed: the app caches it). Timed in the same run, each
the best of ``--repeats``: ``simulate("ngram")`` with one generation (generation 0 plus one
generation of each regime, including tokenising the 9,000 real train texts) and with
``--generations``. Prints seconds per generation step (a fit, ``n`` sampled texts and every metric
for one regime), the full run's seconds, and the ratio full / single (the issue's target: 20
generations well under a minute; a ratio near ``1 + (generations - 1) x step / single`` means
the set-up is paid once).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis.demo import load_demo  # noqa: E402
from analysis.simulate import REGIMES, simulate  # noqa: E402


def timed(repeats: int, **kwargs) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = simulate("ngram", **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    samples = load_demo(synthetic=False)  # cached for the app; not timed
    common = dict(n=args.n, seed=0, samples=samples)
    single, _ = timed(args.repeats, generations=1, **common)
    full, result = timed(args.repeats, generations=args.generations, **common)
    steps = len(REGIMES) * (args.generations - 1)
    per_step = (full - single) / steps
    print(
        f"n-gram on the demo: {result.params['real_train_texts']:,} real train texts, "
        f"{result.params['real_holdout_texts']:,} holdout, n = {args.n:,} texts per generation, "
        f"order {result.params['order']}, top_p {result.params['top_p']}"
    )
    print(f"one generation (x{len(REGIMES)} regimes, with set-up): {single:.2f} s")
    print(f"{args.generations} generations x {len(REGIMES)} regimes: {full:.2f} s")
    print(
        f"seconds per generation step (one regime): {per_step:.3f} s; "
        f"per generation of all {len(REGIMES)} regimes: {per_step * len(REGIMES):.3f} s"
    )
    print(f"full / single: {full / single:.2f}")


if __name__ == "__main__":
    main()
