"""How far the pinned values (tests/test_pinned.py) move with the BLAS kernel and thread count alone.

    .venv/bin/python tests/benchmarks/pin_spread.py [--only compare,mixture,ab,simulate]

Runs every pinned computation in a fresh process per setting: this CPU's OpenBLAS kernel and older
ones forced with ``OPENBLAS_CORETYPE`` (Haswell: AVX2; Sandybridge: AVX; Prescott: SSE3), each
with ``OPENBLAS_NUM_THREADS`` 1 and 2, and the k-NN filter's float32 GEMM forced
(``COLLAPSE_LAB_GEMM=float32``, where this CPU would use bfloat16). ``OPENBLAS_L2_SIZE`` is unset
with the core type, as the environment notes say. Prints, per tolerance class of the test, the
largest relative difference of any of its values between settings and against the pinned file, the
tolerance, and their ratio; then every value whose spread exceeds its tolerance (none, or the pin is
tied to a machine). Not part of CI: it takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
sys.path.insert(0, {repo!r})
from threadpoolctl import threadpool_info
from tests.test_pinned import demo_inputs, measured, small_inputs
demo = demo_inputs()
small = small_inputs(demo)
values = {{name: measured(name, demo, small) for name in {names!r}}}
kernels = sorted({{(p.get("internal_api"), p.get("architecture"), p.get("num_threads"))
                  for p in threadpool_info()}}, key=str)
json.dump({{"values": values, "kernels": kernels}}, open({out!r}, "w"))
"""

SETTINGS = {
    "this CPU, 2 threads": {"OPENBLAS_NUM_THREADS": "2"},
    "this CPU, 1 thread": {"OPENBLAS_NUM_THREADS": "1"},
    "Haswell (AVX2), 2 threads": {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "2"},
    "Haswell (AVX2), 1 thread": {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"},
    "Sandybridge (AVX), 2 threads": {"OPENBLAS_CORETYPE": "Sandybridge", "OPENBLAS_NUM_THREADS": "2"},
    "Prescott (SSE3), 1 thread": {"OPENBLAS_CORETYPE": "Prescott", "OPENBLAS_NUM_THREADS": "1"},
    "k-NN GEMM float32": {"COLLAPSE_LAB_GEMM": "float32"},
}


def run(names: list[str], setting: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(setting, HF_HUB_OFFLINE="1")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "values.json"
        code = CHILD.format(repo=str(REPO), names=names, out=str(out))
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)
        return json.loads(out.read_text())


def relative(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    return abs(a - b) / max(abs(b), 1e-3)  # the test's scale: relative, with a floor of 1e-3


def main() -> None:
    sys.path.insert(0, str(REPO))
    from tests.test_pinned import EXACT, PINNED, REDUCTION, SOLVER, tolerance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="compare,mixture,ab,simulate")
    names = parser.parse_args().only.split(",")
    pinned = json.loads(PINNED.read_text())
    runs = {}
    for label, setting in SETTINGS.items():
        runs[label] = run(names, setting)
        print(f"{label:30s} kernels: {runs[label]['kernels']}", flush=True)
    spread: dict[str, float] = {}
    for name in names:
        for key, value in pinned[name].items():
            seen = [r["values"][name][key] for r in runs.values()]
            spread[f"{name}: {key}"] = max(relative(v, value) for v in seen + [max(seen), min(seen)])
    print()
    print(f"{'class':10s} {'values':>6s} {'largest spread':>15s} {'tolerance':>10s} {'tolerance / spread':>19s}")
    for title, level in (("exact", EXACT), ("reduction", REDUCTION), ("solver", SOLVER)):
        members = {k: v for k, v in spread.items() if tolerance(k.split(": ", 1)[1]) == level}
        if not members:
            continue
        worst = max(members.values())
        ratio = "inf (identical)" if worst == 0 else f"{level / worst:.3g}"
        print(f"{title:10s} {len(members):6d} {worst:15.3g} {level:10.0e} {ratio:>19s}")
        for key, value in sorted(members.items(), key=lambda item: -item[1])[:3]:
            print(f"    {value:10.3g}  {key}")
    over = [k for k, v in spread.items() if v > tolerance(k.split(": ", 1)[1])]
    print()
    print(f"values beyond their tolerance: {len(over)}" + "".join(f"\n    {k}" for k in over))
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
