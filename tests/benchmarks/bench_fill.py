"""Benchmark: what filling a named gap costs per accepted sample on the local model, against plain `generate`.

    .venv/bin/python tests/benchmarks/bench_fill.py [--n 6] [--rounds 3] [--topic Mathematics] [--threads 1]

The case is the end-to-end test's (tests/test_fill.py): the demo's paraphrase set with every sample of one
topic removed, so the topic is a named gap of the set. Each round, with the same seed and one warm local
model (its worker started and loaded before the clock):

- baseline: ``generate("llm", ...)`` of ``n`` samples from the same real samples fill shows the model (the
  region's real train samples nearest its centre, the region's name as their topic), another seed (so the
  prompts differ): the model's own cost;
- fill: ``fill_gap(..., method="llm", n=n)`` with the gap report in hand (as the app and the CLI pass it):
  generation, embedding the new samples, the check for copies of real samples, and the gaps measured again.

Prints a table per round (seconds, kept, dropped as copies, landed in the gap's region, seconds per kept
sample) and, over the rounds, the medians: fill's seconds per kept sample, its ratio to plain generate's
seconds per generated sample (the price of aiming, checking and measuring again, and of the samples dropped),
the share of kept samples that landed in the region, and the gap's occupancy before and after. Which of the two
goes first alternates by round, so load drifting on a shared machine and llama.cpp's reuse of the previous
prompt's cache favour neither.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from analysis.demo import load_demo  # noqa: E402
from analysis.fill import POOL, fill_gap  # noqa: E402
from analysis.generate import LocalBackend, generate  # noqa: E402
from analysis.generate.backends import default_threads  # noqa: E402
from analysis.maps.gaps import find_gaps, percent_text  # noqa: E402
from analysis.maps.regions import unit_rows  # noqa: E402
from analysis.vectors.embed import embed  # noqa: E402


def constructed(topic: str):
    """The demo's real data and its paraphrase set without ``topic``, embedded (the vectors built at install)."""
    samples = load_demo()
    keep = (samples["source"] == "real") | (
        (samples["method"] == "paraphrase") & (samples["generation"] == 1) & (samples["label"] != topic)
    )
    samples = samples[keep.to_numpy()].reset_index(drop=True)
    return samples, embed(samples["text"])


def typical(samples, vectors, report, region: int, name: str):
    """The region's real train samples nearest its centre, labelled with its name: what fill's llm prompts show."""
    usable = np.flatnonzero(
        (samples["source"] == "real").to_numpy()
        & (report.region_of == region)
        & (samples["split"] != "holdout").to_numpy()
    )
    unit = unit_rows(vectors[usable])
    centre = unit.mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    chosen = usable[np.lexsort((usable, -(unit @ centre)))[:POOL]]
    return samples.iloc[chosen].assign(label=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6, help="samples asked for per fill (default 6)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--topic", default="Mathematics", help="the demo topic removed from the paraphrase set")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (COLLAPSE_LAB_LLAMA_THREADS)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        os.environ["COLLAPSE_LAB_LLAMA_THREADS"] = str(args.threads)

    start = time.perf_counter()
    samples, vectors = constructed(args.topic)
    report = find_gaps(samples, vectors)
    measure_seconds = time.perf_counter() - start
    gaps = [g for g in report.gaps.get("paraphrase", []) if g.labels and next(iter(g.labels)) == args.topic]
    if not gaps:
        sys.exit(f"{args.topic!r} is not a named gap of the constructed set: {report.text_summary('paraphrase')}")
    gap = gaps[0]
    print(f"{len(samples):,} samples; gap: {gap.sentence()} (named in {measure_seconds:.1f} s with the vectors)")
    inputs = typical(samples, vectors, report, gap.region, gap.name)

    backend = LocalBackend()
    backend.complete_many([])  # start the worker and load its model before the clock
    rows = []
    header = f"{'round':>5} {'generate s':>10} {'s/sample':>8} {'fill s':>7} {'kept':>4} {'copies':>6} "
    header += f"{'in region':>9} {'s/kept':>7}  {'before':>7} {'after':>7}  load"
    print(header, flush=True)
    for round_ in range(args.rounds):

        def baseline(seed: int = 100 + round_) -> tuple[float, int]:
            started = time.perf_counter()
            made = generate("llm", inputs, args.n, seed=seed, backend=backend, method_name="bench")
            return time.perf_counter() - started, max(len(made.samples), 1)

        def filled(seed: int = round_):
            started = time.perf_counter()
            done = fill_gap(samples, vectors, gap, method="llm", n=args.n, seed=seed, backend=backend, before=report)
            return time.perf_counter() - started, done

        if round_ % 2:  # alternate which goes first: llama.cpp reuses the previous prompt's cache, and load drifts
            (fill_seconds, result), (generate_seconds, generated) = filled(), baseline()
        else:
            (generate_seconds, generated), (fill_seconds, result) = baseline(), filled()
        per_kept = fill_seconds / result.kept if result.kept else float("inf")
        rows.append(
            {
                "generate per sample": generate_seconds / generated,
                "fill per kept": per_kept,
                "kept": result.kept,
                "copies": result.dropped_copies,
                "in region": result.landed_in_gap,
                "before": result.before["set_share"],
                "after": result.after["set_share"],
            }
        )
        print(
            f"{round_ + 1:>5} {generate_seconds:>10.1f} {generate_seconds / generated:>8.1f} {fill_seconds:>7.1f} "
            f"{result.kept:>4} {result.dropped_copies:>6} {result.landed_in_gap:>9} {per_kept:>7.1f}  "
            f"{percent_text(result.before['set_share']):>7} {percent_text(result.after['set_share']):>7}  "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )

    kept = sum(row["kept"] for row in rows)
    per_kept = statistics.median(row["fill per kept"] for row in rows)
    per_sample = statistics.median(row["generate per sample"] for row in rows)
    landed = sum(row["in region"] for row in rows)
    print(f"llama.cpp threads: {default_threads()} (of {os.cpu_count()} cores)")
    print(
        f"fill ({args.n} asked, {args.rounds} rounds): {kept} kept, "
        f"{sum(row['copies'] for row in rows)} dropped as copies of real samples, "
        f"{landed} of {kept} kept landed in the region ({landed / max(kept, 1):.0%})"
    )
    print(f"fill: {per_kept:.1f} s per kept sample (median); plain generate: {per_sample:.1f} s per sample")
    print(f"fill vs plain generate, seconds per accepted sample: {per_kept / per_sample:.2f}x")
    print(
        f"the gap's share of the set: {percent_text(rows[0]['before'])} before, "
        f"{percent_text(statistics.median(row['after'] for row in rows))} after one fill (median); "
        f"real {percent_text(gap.real_share)}"
    )


if __name__ == "__main__":
    main()
