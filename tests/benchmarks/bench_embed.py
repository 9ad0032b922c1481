"""Benchmark: `embed` against plain sentence-transformers on the same model and texts, in one run.

    .venv/bin/python tests/benchmarks/bench_embed.py [--n 2000] [--rounds 3]

Prints
- cold `embed` (empty cache) throughput as a ratio to `SentenceTransformer.encode` (target >= 1.0);
- cache-hit throughput in texts/s (target >= 50,000), warm in memory and read from disk afresh.
Both paths are warmed up first; the rounds alternate and the medians are compared, because a
shared 2-core machine is noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analysis import embed as embed_module  # noqa: E402
from analysis.demo import load_demo  # noqa: E402
from analysis.embed import embed, get_model  # noqa: E402


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="demo texts to embed (default 2000)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    # a trailing space: the same tokens and cost, but not the texts whose vectors ship in data/demo/embeddings
    texts = [text + " " for text in load_demo().sort_values("id")["text"].tolist()[: args.n]]
    model = get_model()
    warm = texts[:64]
    model.encode(warm, normalize_embeddings=True)
    with tempfile.TemporaryDirectory() as scratch:
        embed(warm, cache_dir=scratch)

    plain, cold = [], []
    for round_ in range(args.rounds):
        plain.append(timed(lambda: model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)))
        with tempfile.TemporaryDirectory() as scratch:
            cold.append(timed(lambda: embed(texts, cache_dir=scratch)))
        print(f"round {round_ + 1}: encode {plain[-1]:.1f} s, cold embed {cold[-1]:.1f} s", flush=True)
    plain_rate, cold_rate = args.n / statistics.median(plain), args.n / statistics.median(cold)
    print(
        f"cold embed vs plain encode: {cold_rate / plain_rate:.2f}x "
        f"(embed {cold_rate:.1f} texts/s, encode {plain_rate:.1f} texts/s; target >= 1.0)"
    )

    with tempfile.TemporaryDirectory() as scratch:
        embed(texts, cache_dir=scratch)
        hits = [timed(lambda: embed(texts, cache_dir=scratch)) for _ in range(5)]
        embed_module._CACHES.clear()  # what a new process does: read the shards from disk
        from_disk = timed(lambda: embed(texts, cache_dir=scratch))
    hit_rate = args.n / statistics.median(hits)
    print(
        f"cache hit (in memory): {hit_rate:,.0f} texts/s (target >= 50,000) = {hit_rate / plain_rate:,.0f}x plain encode"
    )
    print(f"cache hit (fresh index, read from disk): {args.n / from_disk:,.0f} texts/s")


if __name__ == "__main__":
    main()
