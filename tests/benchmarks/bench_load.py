"""Benchmark: loading a big file (issue 18, part 4): a million-row CSV and Parquet read as the app reads them,
a chunk at a time, against the whole-file path in the same run.

    .venv/bin/python tests/benchmarks/bench_load.py [--n 1000000]

Writes ``--n`` rows made from the demo (its texts with a numbered suffix, so every row is distinct; its labels,
sources and methods) to a CSV and a Parquet file in a temporary folder, then loads each file in a fresh child
process per path, so each peak is the child's own ``ru_maxrss``:

- ``streamed``: :func:`analysis.corpus.read_samples` as the app and the CLI call it (chunks, progress);
- ``at_once``: the same with ``streaming=False``: the whole file read, decoded and parsed at once (the path
  before streaming);
- ``pandas``: ``pandas.read_csv`` / ``pandas.read_parquet`` alone (parsing only: no validation, ids or split).

It prints seconds, rows/s, peak RSS, the final table's size and the ratios streamed/at_once, then one JSON line.
Timings on a shared machine are noisy: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def write_files(n: int, folder: Path) -> dict[str, Path]:
    """A CSV and a Parquet file of ``n`` rows repeating the demo's, each text with a numbered suffix."""
    import numpy as np
    import pandas as pd

    from analysis.demo import load_demo

    demo = load_demo().reset_index(drop=True)
    picks = np.arange(n) % len(demo)
    rows = demo.iloc[picks].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "text": rows["text"].to_numpy(dtype=object) + np.char.add(" #", np.arange(n).astype(str)).astype(object),
            "label": rows["label"].fillna("").to_numpy(dtype=object),
            "source": rows["source"].to_numpy(dtype=object),
            "method": rows["method"].to_numpy(dtype=object),
        }
    )
    paths = {"csv": folder / "big.csv", "parquet": folder / "big.parquet"}
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False)
    return paths


def child(mode: str, path: str) -> None:
    """Load ``path`` one way and print what it cost as JSON (run in a fresh process)."""
    import pandas as pd

    from analysis.corpus import read_samples

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    calls: list[float] = []
    started = time.perf_counter()
    if mode == "pandas":
        table = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, dtype=str)
    else:
        table = read_samples(
            path,
            max_bytes=4 * 1024**3,
            streaming=mode == "streamed",
            progress=lambda rows, fraction: calls.append(fraction),
        ).samples
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": len(table),
                "seconds": seconds,
                "peak_rss_gb": peak / 1024**2,
                "rss_before_gb": before / 1024**2,
                "table_gb": float(table.memory_usage(deep=True).sum()) / 1e9,
                "progress_calls": len(calls),
            }
        )
    )


def run_child(mode: str, path: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise SystemExit(f"{mode} {path.name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--write", nargs=2, metavar=("N", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_files(int(args.write[0]), Path(args.write[1]))
        return
    if args.child:
        child(*args.child)
        return
    results: dict = {"n": args.n, "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        # written by a child, so this process stays small: Linux keeps ru_maxrss across fork + exec, and a
        # big parent would set every child's peak
        subprocess.run([sys.executable, __file__, "--write", str(args.n), folder], check=True)
        paths = {"csv": Path(folder) / "big.csv", "parquet": Path(folder) / "big.parquet"}
        print(f"wrote {args.n:,} rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for fmt, path in paths.items():
            results[f"{fmt}_mb"] = round(path.stat().st_size / 1e6, 1)
            for mode in ("streamed", "at_once", "pandas"):
                measured = run_child(mode, path)
                results[f"{fmt}_{mode}"] = measured
                rate = measured["rows"] / measured["seconds"]
                print(
                    f"{fmt:8s} {mode:9s} {measured['seconds']:7.1f} s  {rate:>10,.0f} "
                    f"rows/s  peak {measured['peak_rss_gb']:.2f} GB (before loading {measured['rss_before_gb']:.2f}) "
                    f" table {measured['table_gb']:.2f} GB  progress calls {measured['progress_calls']}"
                )
            streamed, at_once = results[f"{fmt}_streamed"], results[f"{fmt}_at_once"]
            results[f"{fmt}_time_ratio"] = round(streamed["seconds"] / at_once["seconds"], 3)
            results[f"{fmt}_peak_ratio"] = round(streamed["peak_rss_gb"] / at_once["peak_rss_gb"], 3)
            print(
                f"{fmt}: streamed/at-once time {results[f'{fmt}_time_ratio']:.2f}x, peak memory "
                f"{results[f'{fmt}_peak_ratio']:.2f}x; streamed peak / table "
                f"{streamed['peak_rss_gb'] / max(streamed['table_gb'], 1e-9):.1f}x"
            )
    results["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
