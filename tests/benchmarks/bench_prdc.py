"""Benchmark: our blockwise `prdc` against the `prdc` package, same data, same run.

    .venv/bin/python tests/benchmarks/bench_prdc.py [--n 20000] [--d 384] [--k 5]

Each implementation runs in its own process (so peak memory is its own), on the same seeded
Gaussian features (n real × n synthetic × d). Prints time and peak memory of ours as ratios to
the package (targets: >= 10x faster, <= 1/10 of its peak memory) and the largest absolute
difference of the four values (float64 both; target <= 1e-9). Ours also runs in float32.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {repo!r})
n, d, k, which = {n}, {d}, {k}, {which!r}
rng = np.random.default_rng(0)
real = rng.normal(size=(n, d))
synthetic = rng.normal(loc=0.05, scale=0.95, size=(n, d))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
if which == "package":
    from prdc import compute_prdc
    values = compute_prdc(real, synthetic, nearest_k=k)
else:
    from analysis.metrics.fidelity import prdc
    values = prdc(real, synthetic, k=k, dtype=np.float32 if which == "ours-float32" else np.float64)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({{"seconds": seconds, "peak_mb": peak / 1024, "values": {{k: float(v) for k, v in values.items()}}}}))
"""


def run(which: str, args: argparse.Namespace) -> dict:
    code = CHILD.format(repo=str(REPO), n=args.n, d=args.d, k=args.k, which=which)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.n:,} real x {args.n:,} synthetic x {args.d} dims, k = {args.k}", flush=True)
    results = {}
    for which in ("package", "ours-float64", "ours-float32"):
        results[which] = run(which, args)
        r = results[which]
        print(f"{which:>13}: {r['seconds']:7.1f} s, peak {r['peak_mb']:8.0f} MB  {r['values']}", flush=True)
    package = results["package"]
    for which in ("ours-float64", "ours-float32"):
        r = results[which]
        difference = max(abs(r["values"][key] - package["values"][key]) for key in package["values"])
        print(f"{which}: {package['seconds'] / r['seconds']:.1f}x faster (target >= 10), "
              f"peak memory {r['peak_mb'] / package['peak_mb']:.3f} of the package's (target <= 0.1), "
              f"largest difference {difference:.2e}")


if __name__ == "__main__":
    main()
