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
    ArgumentError,
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
        "keep": ("--keep", *between(0, 1)),
    },
}


def command_mix(args: argparse.Namespace) -> int:
    from analysis.mixture import APPROXIMATE, EXACT, MixtureEngine, MixtureSpec, export_mixture, guardrail

    if args.keep is not None and not args.protect_gaps:
        raise ArgumentError("--keep is the share of real data kept inside protected gaps: add --protect-gaps.")
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
    protected: list[str] | None = None
    if args.protect_gaps:
        spec, protected = _protected(preview, spec, samples, vectors, args)
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
    if protected is not None:
        result["protected"] = protected
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


def _protected(preview: Any, spec: Any, samples: Any, vectors: Any, args: argparse.Namespace) -> tuple[Any, list[str]]:
    """``--protect-gaps``: the spec protecting the named gaps of its weighted sets (``find_gaps`` of the same table,
    default settings), keeping ``--keep`` of their real train rows or, by default, the least that gives each gap its
    real share (:func:`analysis.mixture.protect_gaps`); and each gap's occupancy in words."""
    from dataclasses import replace

    from analysis.maps.gaps import find_gaps
    from analysis.mixture import gaps_of, protect_gaps, region_occupancy

    report = find_gaps(samples, vectors, seed=args.seed, coverage=args.coverage)
    if report.unsupported:
        raise ArgumentError(f"--protect-gaps: no named gaps can be found here. {report.unsupported}")
    regions = gaps_of(report, spec)
    if args.keep is None:
        spec, occupancy = protect_gaps(preview, spec, report, regions)
    else:
        spec = replace(spec, protect=tuple(regions), keep=args.keep)
        occupancy = region_occupancy(preview, spec, report)
    print(
        f"protecting {len(regions)} named gap(s), keeping {spec.keep:.0%} of their real train rows"
        if regions
        else "the weighted sets miss no named region: nothing to protect",
        file=sys.stderr,
    )
    return spec, list(occupancy["in words"])


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
    mix.add_argument(
        "--protect-gaps",
        dest="protect_gaps",
        action="store_true",
        help="keep the real data inside the named gaps of the weighted sets (as `gaps` names them), in the place of "
        "synthetic rows: by default the least that gives each gap its real share of the mixture",
    )
    mix.add_argument(
        "--keep",
        type=float,
        metavar="SHARE",
        help="with --protect-gaps: this share (0..1) of the gaps' real train rows instead",
    )
    mix.add_argument("--out", help="write the rows here (.csv, .jsonl or .parquet) and OUT.manifest.json beside them")
    mix.set_defaults(run=command_mix)
