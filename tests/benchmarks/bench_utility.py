"""Benchmark: TSTR and detection on the demo with cached embeddings, as a ratio to one `compare` call.

    .venv/bin/python tests/benchmarks/bench_utility.py [--ab]

The demo's real data and its generation-1 sets (rule-based, paraphrase, llm; 1,000 each) are embedded
first (shipped vectors, not timed). Timed in the same run: TSTR (train on each set and on real train
data of the same size, test on the real holdout) and detection (5-fold cross-validated, each set
against the holdout), then `compare` with its new utility rows and without them (alternated, best of two each). Prints
seconds and the ratios to the `compare` call (lower is better), and what the utility rows add to
`compare`. With ``--ab``, also one full `ab_sets(llm, paraphrase)` (999 rounds and permutations).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from analysis.demo import load_demo  # noqa: E402
from analysis.judge.compare import compare, equal_size, reference_rows, sets_of  # noqa: E402
from analysis.metrics.utility import detection, tstr  # noqa: E402
from analysis.vectors.embed import embed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ab", action="store_true", help="also time one full A/B test (llm vs paraphrase)")
    args = parser.parse_args()

    samples = load_demo()
    samples = samples[(samples["source"] == "real") | (samples["generation"] == 1)].reset_index(drop=True)
    vectors = embed(samples["text"], progress=None)  # shipped vectors (not timed)
    labels = samples["label"].to_numpy()
    holdout = reference_rows(samples)
    groups = equal_size(sets_of(samples))  # every set at the size compare uses
    print(
        f"{len(samples):,} samples; sets of {len(next(iter(groups.values()))):,} against a holdout of {len(holdout):,}",
        flush=True,
    )

    start = time.perf_counter()
    scores = {
        name: tstr(vectors[rows], labels[rows], vectors[holdout], labels[holdout]).macro_f1
        for name, rows in groups.items()
    }
    tstr_seconds = time.perf_counter() - start
    start = time.perf_counter()
    aucs = {name: detection(vectors[holdout], vectors[rows]).auc for name, rows in groups.items()}
    detection_seconds = time.perf_counter() - start
    for name in groups:
        print(f"  {name:12s} TSTR macro-F1 {scores[name]:.3f}   detection AUC {aucs[name]:.3f}")

    timings: dict[bool, list[float]] = {True: [], False: []}
    for with_utility in (True, False, False, True):  # alternated, best of two: these machines are noisy
        start = time.perf_counter()
        compare(samples, embeddings=vectors, with_utility=with_utility)
        timings[with_utility].append(time.perf_counter() - start)
    compare_seconds, without_seconds = min(timings[True]), min(timings[False])

    print(f"TSTR, {len(groups)} sets: {tstr_seconds:.2f} s = {tstr_seconds / compare_seconds:.4f} x one compare call")
    print(
        f"detection, {len(groups)} sets: {detection_seconds:.2f} s "
        f"= {detection_seconds / compare_seconds:.4f} x one compare call"
    )
    print(
        f"compare: {compare_seconds:.1f} s with the utility rows, {without_seconds:.1f} s without "
        f"(added {compare_seconds - without_seconds:+.1f} s, "
        f"{(compare_seconds - without_seconds) / without_seconds:+.1%})"
    )
    if args.ab:
        from analysis.ab import ab_sets

        start = time.perf_counter()
        result = ab_sets(samples, "llm", "paraphrase", embeddings=vectors)
        ab_seconds = time.perf_counter() - start
        print(
            f"A/B llm vs paraphrase, {len(result.table)} metrics, n = {result.settings['n']}: {ab_seconds:.1f} s "
            f"= {ab_seconds / compare_seconds:.2f} x one compare call; "
            f"{int(result.table['significant'].sum())} significant"
        )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
