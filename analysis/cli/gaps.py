"""``gaps``: the named regions of the real data each synthetic set under-covers (:mod:`analysis.gaps`)."""

from __future__ import annotations

import argparse
import json

from analysis.cli.common import HOLDOUT, SEED, SET_SIZE, add_named_file_options, embedded, load_named_files, whole

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "gaps": {"size": SET_SIZE, "seed": SEED, "holdout": HOLDOUT, "top": ("--top", *whole(1))},
}


def gap_table(report) -> list[str]:
    """The gaps of every set as text lines: one header per set, one line per gap."""
    lines = []
    for name, gaps in report.gaps.items():
        lines.append(report.text_summary(name, n=len(gaps) or 1))
        for gap in gaps:
            mix = ""
            if gap.labels:
                mix = "; labels " + ", ".join(f"{label} {count}" for label, count in list(gap.labels.items())[:3])
            lines.append(
                f"  {gap.name}: {gap.real_uncovered:,} real uncovered, covers {gap.share_covered:.0%} "
                f"(real data of the same size: {gap.share_covered_by_real:.0%}); e.g. {', '.join(gap.example_ids)}"
                + mix
            )
    return lines


def command_gaps(args: argparse.Namespace) -> int:
    from analysis.gaps import find_gaps

    samples, _ = load_named_files(args)
    report = find_gaps(samples, embedded(samples), seed=args.seed, size=args.size)
    if args.top:
        report = type(report)(
            regions=report.regions,
            gaps={name: gaps[: args.top] for name, gaps in report.gaps.items()},
            rule=report.rule,
            region_of=report.region_of,
            tested=report.tested,
            unsupported=report.unsupported,
        )
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return 0
    if report.unsupported:
        print(f"No gaps reported. {report.unsupported}")
    else:
        print("\n".join(gap_table(report)))
    print()
    print("Rule: " + report.rule)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    gaps = commands.add_parser(
        "gaps",
        help="the named regions of the real data each synthetic set misses",
        description="Cluster the real samples on the map into named regions (c-TF-IDF terms) and list, per "
        "synthetic set, the regions it under-covers, most real holdout samples uncovered first.",
    )
    add_named_file_options(gaps)
    gaps.add_argument("--format", choices=["table", "json"], default="table")
    gaps.add_argument("--top", type=int, help="at most this many gaps per set (default: all)")
    gaps.set_defaults(run=command_gaps)
