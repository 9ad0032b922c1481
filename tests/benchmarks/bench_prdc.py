"""Benchmark: our exact `prdc` against the `prdc` package, same data, same run.

    .venv/bin/python tests/benchmarks/bench_prdc.py [--n 20000] [--d 384] [--k 5] [--data gaussian|demo|both]

Each implementation runs in its own process (so peak memory is its own):

- ``gaussian`` (the issue's case): seeded Gaussian features, n real × n synthetic × d.
- ``demo``: the demo's MiniLM vectors (built by ``make``), real train against the three synthetic
  sets pooled: sentence embeddings, where distances bunch up differently.

Ours runs twice: with the GEMM ``analysis.metrics.knn`` picks on this CPU (bfloat16 where the CPU
has bfloat16 dot products) and with float32 forced. Imports happen before the clock starts, for
both; ours also makes one tiny call first, which loads its compiled kernels (compiled once per
install, then cached on disk) and is reported apart. Prints time and peak memory as ratios to the
package (targets: >= 10x faster, <= 1/10 of its peak memory) and the largest absolute difference
of the four values (package in float64; target <= 1e-9).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, os, resource, sys, time
import numpy as np
sys.path.insert(0, {repo!r})
n, d, k, which, data = {n}, {d}, {k}, {which!r}, {data!r}
if data == "gaussian":
    rng = np.random.default_rng(0)
    real = rng.normal(size=(n, d))
    synthetic = rng.normal(loc=0.05, scale=0.95, size=(n, d))
else:
    from analysis.demo import load_demo
    from analysis.vectors.embed import embed
    samples = load_demo()
    vectors = embed(samples["text"].tolist(), progress=None).astype(np.float64)
    real = vectors[((samples["source"] == "real") & (samples["split"] == "train")).to_numpy()]
    synthetic = vectors[(samples["source"] == "synthetic").to_numpy()]
warm = 0.0
if which == "package":
    from prdc import compute_prdc
    run = lambda a, b: compute_prdc(a, b, nearest_k=k)
else:
    if which == "ours-float32":
        os.environ["COLLAPSE_LAB_GEMM"] = "float32"
    from analysis.metrics import knn
    from analysis.metrics.fidelity import prdc
    run = lambda a, b: prdc(a, b, k=k)
    start = time.perf_counter()
    run(real[:50], synthetic[:50])
    warm = time.perf_counter() - start
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
values = run(real, synthetic)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
kind = "" if which == "package" else knn.gemm_kind()
print(json.dumps({{"seconds": seconds, "warm": warm, "kind": kind, "peak_mb": peak / 1024,
                  "shape": [len(real), len(synthetic), real.shape[1]],
                  "values": {{k: float(v) for k, v in values.items()}}}}))
"""


def run(which: str, data: str, args: argparse.Namespace) -> dict:
    code = CHILD.format(repo=str(REPO), n=args.n, d=args.d, k=args.k, which=which, data=data)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("COLLAPSE_LAB_GEMM", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if result.returncode:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--data", choices=["gaussian", "demo", "both"], default="both")
    args = parser.parse_args()
    for data in ("gaussian", "demo") if args.data == "both" else (args.data,):
        results = {}
        for which in ("package", "ours", "ours-float32"):
            results[which] = r = run(which, data, args)
            real, synthetic, dims = r["shape"]
            if which == "package":
                print(f"{data}: {real:,} real x {synthetic:,} synthetic x {dims} dims, k = {args.k}", flush=True)
            label = f"{which} ({r['kind']})" if r["kind"] else which
            warm = f", kernels loaded in {r['warm']:.1f} s before" if r["kind"] else ""
            print(f"  {label:>24}: {r['seconds']:6.2f} s, peak {r['peak_mb']:7.0f} MB{warm}  {r['values']}", flush=True)
        package = results["package"]
        for which in ("ours", "ours-float32"):
            r = results[which]
            difference = max(abs(r["values"][key] - package["values"][key]) for key in package["values"])
            print(
                f"  {which} ({r['kind']}): {package['seconds'] / r['seconds']:.1f}x faster (target >= 10), "
                f"peak memory {r['peak_mb'] / package['peak_mb']:.3f} of the package's (target <= 0.1), "
                f"largest difference {difference:.2e} (target <= 1e-9)",
                flush=True,
            )


if __name__ == "__main__":
    main()
