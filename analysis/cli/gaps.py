"""``gaps``: the named regions of the real data each synthetic set under-fills (:mod:`analysis.maps.gaps`)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from analysis.cli.common import HOLDOUT, SEED, SET_SIZE, add_named_file_options, embedded, load_named_files, whole

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "gaps": {"size": SET_SIZE, "seed": SEED, "holdout": HOLDOUT, "top": ("--top", *whole(1))},
}


def _covered(share: float) -> str:
    return "—" if share != share else f"{share:.0%}"  # NaN: coverage not reportable


def gap_table(report) -> list[str]:
    """The gaps of every set as text lines: one sentence per set, then one line per gap with its numbers."""
    lines = []
    for name, gaps in report.gaps.items():
        lines.append(report.text_summary(name, n=len(gaps) or 1))
        if unsure := report.blind_summary(name, n=len(report.regions)):  # every region it cannot vouch for
            lines.append("  " + unsure)
        for gap in gaps:
            mix = ""
            if gap.labels:
                mix = "; labels " + ", ".join(f"{label} {count}" for label, count in list(gap.labels.items())[:3])
            lines.append(
                f"  {gap.sentence()} ({gap.set_count:,} of {gap.set_size:,}; {gap.real_uncovered:,} real samples "
                f"unmatched; k-NN coverage {_covered(gap.share_covered)}, real data "
                f"{_covered(gap.share_covered_by_real)}); typical real: {', '.join(gap.example_ids)}; nearest "
                f"{name}: {', '.join(gap.synthetic_ids)}" + mix
            )
    return lines


def command_gaps(args: argparse.Namespace) -> int:
    from analysis.maps.gaps import find_gaps

    samples, _ = load_named_files(args)
    by_label = {"auto": None, "labels": True, "clusters": False}[args.regions]
    report = find_gaps(
        samples, embedded(samples), seed=args.seed, size=args.size, by_label=by_label, coverage=args.coverage
    )
    if args.top:
        report = dataclasses.replace(report, gaps={name: gaps[: args.top] for name, gaps in report.gaps.items()})
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return 0
    if report.unsupported:
        print(f"No gaps reported. {report.unsupported}")
    else:
        print("\n".join(gap_table(report)))
        if report.coverage_note:
            print(f"(k-NN coverage column empty: {report.coverage_note})")
    print()
    print("Rule: " + report.rule)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    gaps = commands.add_parser(
        "gaps",
        help="the named regions of the real data each synthetic set misses",
        description="Cluster the real samples into named regions (k-means on their embeddings, c-TF-IDF words and "
        "main labels) and list, per synthetic set, the regions it holds far less of than real data does "
        "(occupancy against real data of the same size, cross-fitted; no holdout needed), most real samples "
        "unmatched first.",
    )
    add_named_file_options(gaps)
    gaps.add_argument("--format", choices=["table", "json"], default="table")
    gaps.add_argument("--top", type=int, help="at most this many gaps per set (default: all)")
    gaps.add_argument(
        "--regions",
        choices=["auto", "labels", "clusters"],
        default="auto",
        help="the regions: the real data's labels, k-means clusters of its embeddings, or auto (labels where the "
        "real data has a usable label column, else clusters)",
    )
    gaps.set_defaults(run=command_gaps)
