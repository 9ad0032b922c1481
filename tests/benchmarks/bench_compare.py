"""Benchmark: `compare` on the demo (real plus the rule-based, paraphrase and llm sets).

    .venv/bin/python tests/benchmarks/bench_compare.py [--cold-sample 1000]

Embeddings are cached first (not timed), then `compare` is timed. The baseline, measured in the
same run, is embedding the same texts cold: timed on a seeded sample of ``--cold-sample`` texts
with no cache (nor the shipped demo vectors) and scaled to all texts (embedding time is linear in the number of texts).
Prints `compare`'s seconds and its ratio to the cold-embedding time (lower is better: how much
the analysis costs next to the embeddings it needs).
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
from analysis.judge.compare import compare  # noqa: E402
from analysis.vectors.embed import embed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-sample", type=int, default=1000)
    args = parser.parse_args()

    samples = load_demo()
    samples = samples[(samples["source"] == "real") | (samples["generation"] == 1)].reset_index(drop=True)
    texts = samples["text"]
    print(
        f"{len(samples):,} samples: " + ", ".join(f"{m} {n:,}" for m, n in samples["method"].value_counts().items()),
        flush=True,
    )
    vectors = embed(texts, progress=None)  # fills the cache once (not timed)

    start = time.perf_counter()
    table = compare(samples, embeddings=vectors)
    compare_seconds = time.perf_counter() - start

    sample = texts.sample(min(args.cold_sample, len(texts)), random_state=0).tolist()
    start = time.perf_counter()
    embed(sample, use_cache=False)  # neither the cache nor the shipped demo vectors
    cold_seconds = (time.perf_counter() - start) * len(texts) / len(sample)
    print(
        f"compare: {compare_seconds:.1f} s for {table['set'].nunique()} sets x {table['metric'].nunique()} metrics "
        f"at {int(table['n'].iloc[0]):,} samples each"
    )
    print(f"embedding the same {len(texts):,} texts cold: {cold_seconds:.0f} s (from {len(sample):,})")
    print(f"compare / cold embedding: {compare_seconds / cold_seconds:.3f}")


if __name__ == "__main__":
    main()
