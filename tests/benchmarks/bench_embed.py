"""Benchmark: `embed` against plain sentence-transformers on the same model and texts, in one run.

    .venv/bin/python tests/benchmarks/bench_embed.py [--n 500] [--rounds 3] [--backend onnx-int8]

Prints, on the same texts in one run
- plain float32 `SentenceTransformer.encode` (the reference) and cold `embed` on the default backend
  (``$COLLAPSE_LAB_EMBED_BACKEND``, or ``--backend``), their ratio (issue 18 target >= 3x) and the
  minimum cosine of the backend's vectors to the reference (target >= 0.99);
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

import numpy as np

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
    parser.add_argument("--n", type=int, default=500, help="demo texts to embed (default 500)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--index-n", type=int, default=1_000_000, help="keys for the cache-index check")
    parser.add_argument("--backend", choices=embed_module.BACKENDS, help="default: $COLLAPSE_LAB_EMBED_BACKEND")
    args = parser.parse_args()
    if args.backend:
        os.environ["COLLAPSE_LAB_EMBED_BACKEND"] = args.backend
    chosen = embed_module.backend()
    print(f"backend: {chosen} (model id {embed_module.model_id()})", flush=True)

    # a trailing space: the same tokens and cost, but not the texts whose vectors ship in data/demo/embeddings
    texts = [text + " " for text in load_demo().sort_values("id")["text"].tolist()[: args.n]]
    model = get_model(None, "torch")
    warm = texts[:64]
    model.encode(warm, normalize_embeddings=True)
    with tempfile.TemporaryDirectory() as scratch:
        embed(warm, cache_dir=scratch)

    plain, cold = [], []
    for round_ in range(args.rounds):
        plain.append(timed(lambda: model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)))
        with tempfile.TemporaryDirectory() as scratch:
            cold.append(timed(lambda: embed(texts, cache_dir=scratch)))
        print(f"round {round_ + 1}: encode {plain[-1]:.1f} s, cold embed ({chosen}) {cold[-1]:.1f} s", flush=True)
    plain_rate, cold_rate = args.n / statistics.median(plain), args.n / statistics.median(cold)
    print(f"plain float32 encode: {plain_rate:.1f} texts/s")
    print(f"default backend ({chosen}), cold embed: {cold_rate:.1f} texts/s")
    print(f"ratio: {cold_rate / plain_rate:.2f}x (target >= 3x)")
    reference = model.encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
    with tempfile.TemporaryDirectory() as scratch:
        fast = embed(texts, cache_dir=scratch)
    print(f"minimum cosine to the float32 reference: {(fast * reference).sum(1).min():.5f} (target >= 0.99)")

    with tempfile.TemporaryDirectory() as scratch:
        embed(texts, cache_dir=scratch)
        hits = [timed(lambda: embed(texts, cache_dir=scratch)) for _ in range(5)]
        embed_module._CACHES.clear()  # what a new process does: read the shards from disk
        from_disk = timed(lambda: embed(texts, cache_dir=scratch))
    hit_rate = args.n / statistics.median(hits)
    print(f"cache hit (in memory): {hit_rate:,.0f} texts/s (target >= 50,000) = {hit_rate / plain_rate:,.0f}x encode")
    print(f"cache hit (fresh index, read from disk): {args.n / from_disk:,.0f} texts/s")

    # the index at scale, without the model: --index-n keys arriving in 256-row shards (in memory, no fsync)
    keys = embed_module.text_keys("bench-model", (f"text {i}" for i in range(args.index_n)))
    vectors = np.random.default_rng(0).standard_normal((256, 384)).astype(np.float32)
    cache = embed_module.EmbeddingCache(Path(tempfile.gettempdir()) / "bench-embed-none")
    start = time.perf_counter()
    for first in range(0, len(keys), 256):
        block = keys[first : first + 256]
        with cache._lock:
            cache._publish([(b"".join(block), vectors[: len(block)])], [f"shard-{first}"])
    indexing = time.perf_counter() - start
    cache.refresh = lambda: None  # the shards above are in memory only
    start = time.perf_counter()
    found, _ = cache.lookup(keys)
    lookup = time.perf_counter() - start
    assert found.all()
    print(
        f"index of {len(keys):,} keys in {len(keys) // 256:,} shards: built in {indexing:.1f} s "
        f"({len(keys) / indexing:,.0f} keys/s, append-only), looked up at {len(keys) / lookup:,.0f} texts/s"
    )


if __name__ == "__main__":
    main()
