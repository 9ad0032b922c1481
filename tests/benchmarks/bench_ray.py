"""Rows per second embedding the same texts locally and on a local Ray with 1 and 2 workers (issue 19).

Each run starts from an empty temporary cache (the demo's texts with a suffix, so no shipped vector
is reused), so every text goes through the model. Ray's start (a few seconds, more on a loaded
machine) is not timed; each Ray run's time includes reading the file as Ray Data blocks, starting
the actors (each loads the model once) and writing the vectors back into the cache. Printed as
ratios to the local path measured in the same run.

    python tests/benchmarks/bench_ray.py [--n 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    n = parser.parse_args().n

    import pandas as pd

    from analysis.demo import load_demo
    from analysis.vectors import distributed
    from analysis.vectors.embed import embed, get_model

    texts = [f"{t} (benchmark copy)" for t in load_demo()["text"].drop_duplicates().head(n)]
    get_model()  # the local model loaded before the clock, as a running app has it
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source = root / "texts.parquet"
        pd.DataFrame({"text": texts}).to_parquet(source)
        started = time.perf_counter()
        embed(texts, cache_dir=root / "local")
        local = len(texts) / (time.perf_counter() - started)
        rates = {}
        with distributed.ray_session(num_cpus=2):
            for workers in (1, 2):
                run = distributed.embed_on_ray([source], cache_dir=root / f"ray-{workers}", concurrency=workers)
                assert run.embedded == len(texts), run
                rates[workers] = run.rows / run.seconds
    print(f"{len(texts):,} texts, 2 cores, all-MiniLM-L6-v2, empty cache each run")
    print(f"local path           {local:8.1f} rows/s   1.00x")
    for workers, rate in rates.items():
        print(
            f"Ray, {workers} worker{'s' if workers > 1 else ' '}       {rate:8.1f} rows/s   {rate / local:.2f}x local"
        )
    print(f"Ray 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
