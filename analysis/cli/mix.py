"""``mix``: draw a mixture of real and synthetic samples, print its metrics, write it with ``--out``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from analysis.cli.common import (
    HOLDOUT,
    SEED,
    add_coverage_option,
    between,
    embedded,
    load_named_files,
    named_file,
    progress_bar,
    weights_option,
    whole,
)

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "mix": {
        "size": ("--size", *whole(1)),
        "real_share": ("--real-share", *between(0, 1)),
        "seed": SEED,
        "holdout": HOLDOUT,
    },
}


def command_mix(args: argparse.Namespace) -> int:
    from analysis.mixture import APPROXIMATE, EXACT, MixtureEngine, MixtureSpec, export_mixture, guardrail

    spec = MixtureSpec(
        size=args.size, real_share=args.real_share, weights=args.weights or {}, strategy=args.strategy, seed=args.seed
    )  # a bad spec fails before any work
    samples, inputs = load_named_files(args)
    vectors = embedded(samples)
    with progress_bar(0, "precomputing") as bar:

        def precomputed(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        preview = MixtureEngine(samples, vectors, progress=precomputed, coverage=args.coverage)
    rows = preview.rows(spec)
    metrics = preview.metrics(spec)
    level, reason = guardrail(spec.real_share)
    result: dict[str, Any] = {
        "spec": spec.to_dict(),
        "counts": preview.counts(spec),
        "guardrail": {"level": level, "reason": reason},
        "metrics": metrics,
        "exact": sorted(name for name in metrics if name in EXACT or name.startswith("coverage bin")),
        "approximate": APPROXIMATE,
    }
    if args.out:
        manifest = export_mixture(
            samples,
            rows,
            spec,
            args.out,
            metrics=metrics,
            inputs={"files": inputs, "holdout": args.holdout, "coverage": args.coverage},
        )
        result["out"] = {
            "rows": str(Path(args.out).with_name(manifest["file"])),
            "manifest": str(Path(args.out).with_name(manifest["file"] + ".manifest.json")),
        }
        print(
            f"{len(rows):,} rows written to {result['out']['rows']}, manifest {result['out']['manifest']}",
            file=sys.stderr,
        )
    print(json.dumps(result, indent=2, default=str))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    mix = commands.add_parser(
        "mix", help="a mixture of real and synthetic samples: its metrics, and its rows with --out"
    )
    mix.add_argument(
        "--real", nargs="+", required=True, metavar="FILE", help="real samples (10 %% held out by hash, never mixed in)"
    )
    mix.add_argument("--synthetic", nargs="+", required=True, type=named_file, metavar="NAME=FILE")
    mix.add_argument("--size", type=int, required=True, help="rows in the mixture")
    mix.add_argument("--real-share", dest="real_share", type=float, required=True, help="share of real rows, 0..1")
    mix.add_argument(
        "--weights", type=weights_option, metavar="NAME=W,...", help="weight per synthetic set (default: equal)"
    )
    mix.add_argument("--strategy", choices=["uniform", "dedup", "tail-aware"], default="uniform")
    mix.add_argument("--seed", type=int, default=0)
    mix.add_argument("--holdout", type=float, default=0.1)
    add_coverage_option(mix)
    mix.add_argument("--out", help="write the rows here (.csv, .jsonl or .parquet) and OUT.manifest.json beside them")
    mix.set_defaults(run=command_mix)
