"""Benchmark: the mixture preview at 10,000 real + 3 x 10,000 synthetic samples.

    .venv/bin/python tests/benchmarks/bench_mixture.py [--moves 200] [--scratch 5] [--noise 0.02]

Data: the demo's texts and shipped MiniLM vectors. The demo has about 9,000 real train, 1,000 real
holdout and 1,000 samples per synthetic set (rule-based, paraphrase, llm), so the real train split
and each set are repeated up to 10,000 rows, each repeat's vector moved by gaussian noise
(``--noise`` per dimension, then re-normalised; 0.02 keeps a repeat below the 0.95 cosine of a
near-copy) and its text kept. The real holdout (the reference) is the demo's own.

Timed: the precomputation (once per dataset), then ``metrics()`` for ``--moves`` random slider
moves (size 1,000-20,000, real share 0-1, random weights and strategy; impossible ones redrawn).
The baseline, measured in the same run on ``--scratch`` of those moves, is computing the same
metrics from scratch with analysis.metrics on the mixture's rows (prdc, covered_by per rarity bin,
distinct-n, n-gram entropy, Vendi, centroid shift, rare-token coverage); the values are compared
too. Prints p50/p95 latency and the ratio scratch / preview (higher is better; target >= 20x, p95
<= 100 ms on 2 cores).
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
import pandas as pd  # noqa: E402

from analysis.demo import load_demo  # noqa: E402
from analysis.mixture import STRATEGIES, MixtureEngine, MixtureError, MixtureSpec, metrics_from_scratch  # noqa: E402
from analysis.vectors.embed import embed  # noqa: E402

TARGET = 10_000
SETS = ("rule-based", "paraphrase", "llm")


def enlarge(samples: pd.DataFrame, vectors: np.ndarray, noise: float, rng: np.random.Generator):
    """Repeat the real train split and each synthetic set to TARGET rows, with noisy vectors."""
    parts, blocks = [samples[samples["split"] == "holdout"]], [vectors[(samples["split"] == "holdout").to_numpy()]]
    groups = {"real train": (samples["source"] == "real") & (samples["split"] == "train")}
    groups.update({name: (samples["method"] == name) & (samples["generation"] == 1) for name in SETS})
    for name, mask in groups.items():
        rows = np.flatnonzero(mask.to_numpy())
        picks = np.concatenate([rows, rng.choice(rows, TARGET - len(rows), replace=True)])
        table = samples.iloc[picks].copy()
        table["id"] = [f"{i}#{n}" for n, i in enumerate(table["id"])]
        x = vectors[picks].astype(np.float32)
        repeat = np.arange(len(picks)) >= len(rows)
        x[repeat] += rng.normal(0, noise, size=(int(repeat.sum()), x.shape[1])).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        parts.append(table)
        blocks.append(x)
        print(f"  {name}: {len(rows):,} demo rows repeated to {len(picks):,} (noise {noise} per dimension)")
    return pd.concat(parts, ignore_index=True), np.concatenate(blocks)


def random_spec(rng: np.random.Generator) -> MixtureSpec:
    weights = dict(zip(SETS, rng.dirichlet(np.ones(len(SETS))).round(3).tolist()))
    return MixtureSpec(
        size=int(rng.integers(1_000, 20_001)),
        real_share=float(rng.random()),
        weights=weights,
        strategy=str(rng.choice(STRATEGIES)),
        seed=0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=200)
    parser.add_argument("--scratch", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.02)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    demo = load_demo()
    demo_vectors = embed(demo["text"])  # the shipped vectors: no model runs
    print("Enlarging the demo to 10,000 real + 3 x 10,000 synthetic:")
    samples, vectors = enlarge(demo, demo_vectors, args.noise, rng)
    print(
        f"{len(samples):,} samples: "
        + ", ".join(f"{m} {n:,}" for m, n in samples["method"].value_counts().items())
        + f" (real holdout {int((samples['split'] == 'holdout').sum()):,}, the reference)",
        flush=True,
    )

    start = time.perf_counter()
    preview = MixtureEngine(samples, vectors)
    precompute = time.perf_counter() - start
    start = time.perf_counter()
    for strategy in STRATEGIES:
        preview.prepare(strategy, 0)
    orders = time.perf_counter() - start
    print(
        f"precompute: {precompute:.1f} s ({len(preview.pool_rows):,} candidates, "
        f"{preview.neighbours} neighbours each); "
        f"draw orders for the 3 strategies: {orders:.1f} s",
        flush=True,
    )

    specs, seconds, direct = [], [], []
    while len(specs) < args.moves:
        spec = random_spec(rng)
        try:
            started = time.perf_counter()
            preview.metrics(spec)
            seconds.append(time.perf_counter() - started)
        except MixtureError:
            continue
        specs.append(spec)
        direct.append(preview.last_direct_rows)
    ms = np.array(seconds) * 1e3
    print(
        f"metrics() over {len(specs)} random moves: p50 {np.percentile(ms, 50):.1f} ms, "
        f"p95 {np.percentile(ms, 95):.1f} ms, "
        f"max {ms.max():.1f} ms; radii computed directly in {sum(d > 0 for d in direct)} moves",
        flush=True,
    )

    scratch, engine, worst = [], [], 0.0
    for spec in specs[: args.scratch]:
        started = time.perf_counter()
        values = preview.metrics(spec)
        engine.append(time.perf_counter() - started)
        rows = preview.rows(spec)
        started = time.perf_counter()
        expected = metrics_from_scratch(samples, vectors, preview.holdout_rows, rows)
        scratch.append(time.perf_counter() - started)
        worst = max(worst, max(abs(values[name] - value) for name, value in expected.items()))
        print(
            f"  size {spec.size:>6,}, real {spec.real_share:.0%}, {spec.strategy:<10}: scratch {scratch[-1]:.2f} s, "
            f"preview {engine[-1] * 1e3:.1f} ms",
            flush=True,
        )
    print(f"largest difference preview vs scratch, over every metric: {worst:.2e}")
    print(
        f"scratch / preview on the same {len(scratch)} moves: {np.sum(scratch) / np.sum(engine):.0f}x "
        f"(median per move {np.median(np.array(scratch) / np.array(engine)):.0f}x)"
    )
    print(f"p95 / 100 ms target: {np.percentile(ms, 95) / 100:.2f}")


if __name__ == "__main__":
    main()
