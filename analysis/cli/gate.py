"""``report`` (one self-contained HTML report) and ``check`` (the quality gate for CI)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.cli.common import (
    EXIT_BAD_INPUT,
    HOLDOUT,
    SEED,
    SET_SIZE,
    add_named_file_options,
    between,
    compared,
    embedded,
    load_named_files,
)
from analysis.corpus import CorpusError
from analysis.corpus.files import read_small_file

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "report": {
        "size": SET_SIZE,
        "seed": SEED,
        "holdout": HOLDOUT,
        "min_real_share": ("--min-real-share", *between(0, 1)),
    },
    "check": {"size": SET_SIZE, "seed": SEED, "holdout": HOLDOUT},
}


def command_report(args: argparse.Namespace) -> int:
    from analysis.io import atomic_write_bytes
    from analysis.judge.risks import load_rules, load_trend_rules
    from analysis.monitor import Monitor, MonitorError
    from analysis.views.report import build_report

    load_rules(args.rules), load_trend_rules(args.rules)  # a bad rules file fails before any work
    manifest = None
    if args.mixture:
        raw = read_small_file(args.mixture, "the .manifest.json that `python -m analysis mix --out` wrote", 50_000_000)
        try:
            manifest = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorpusError(
                f"{args.mixture}: cannot read the mixture manifest ({exc}). Give the .manifest.json that "
                f"`python -m analysis mix --out` wrote."
            ) from None
    history = None
    if args.history:
        path = Path(args.history)
        if not path.is_file():
            raise CorpusError(f"{path}: no such monitor history. Give a <workspace>/monitor/<series>.jsonl file.")
        try:
            history = Monitor(path.parent.parent, series=path.stem).history()
        except MonitorError as exc:
            raise CorpusError(str(exc)) from None
    samples, inputs = load_named_files(args)
    vectors = embedded(samples)
    table = compared(samples, vectors, args)
    html = build_report(
        samples,
        embeddings=vectors,
        compare_table=table,
        mixture_manifest=manifest,
        history=history,
        rules=args.rules,
        title=args.title,
        inputs=inputs,
        min_real_share=args.min_real_share,
        settings={
            "size": args.size,
            "seed": args.seed,
            "holdout": args.holdout,
            "coverage": args.coverage,
            "mauve": not args.no_mauve,
        },
        coverage=args.coverage,
    )
    atomic_write_bytes(Path(args.out), html.encode("utf-8"))
    print(f"report written to {args.out} ({len(html) / 1e6:.1f} MB)")
    return 0


def command_check(args: argparse.Namespace) -> int:
    try:
        from analysis.judge.risks import load_rules, load_trend_rules

        # a bad rules file (a pipe, /dev/zero, a typo) fails before any work, even before the metrics' imports
        load_rules(args.rules), load_trend_rules(args.rules)
        from analysis.monitor import gate

        samples, _ = load_named_files(args)
        vectors = embedded(samples)
        table = compared(samples, vectors, args)
        result = gate(table, args.rules)
    except Exception as exc:  # the gate never crashes into exit 1 ("warning"): anything unchecked is exit 3
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.text(notes=misses_lines(samples, vectors, seed=args.seed, size=args.size)))
    return result.exit_code


def misses_lines(samples, vectors, *, seed: int, size: int | None) -> list[str]:
    """``"<set> misses: <region>, <region> …"`` per synthetic set (:mod:`analysis.maps.gaps`); never fails the gate."""
    from analysis.maps.gaps import find_gaps

    try:
        report = find_gaps(samples, vectors, seed=seed, size=size)
    except Exception as exc:  # the named gaps are a reading aid: the gate's verdict and exit code stand without them
        return [f"misses: not computed ({type(exc).__name__}: {exc})"]
    if report.unsupported:
        return [f"misses: not reported. {report.unsupported}"]
    lines = []
    for name, gaps in report.gaps.items():
        later = list(report.blind_parts(name)[0]["name"])  # the regions a larger set would settle
        unsure = f" (too few samples to vouch for {', '.join(later[:3])}{', …' if len(later) > 3 else ''})"
        lines.append(
            f"{name} misses: "
            + (", ".join(gap.name for gap in gaps) if gaps else "nothing beyond sampling")
            + (unsure if later else "")
        )
    return lines


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="a self-contained HTML report of real and synthetic files")
    add_named_file_options(report)
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.add_argument("--title", default="Collapse Lab report")
    report.add_argument("--mixture", metavar="MANIFEST", help="a mixture manifest (mix --out wrote OUT.manifest.json)")
    report.add_argument("--history", metavar="JSONL", help="a monitor history (<workspace>/monitor/<series>.jsonl)")
    report.add_argument(
        "--min-real-share",
        dest="min_real_share",
        type=float,
        default=0.3,
        help="the real share the summary's recommended mixture is searched at, 0..1 (default 0.3)",
    )
    report.set_defaults(run=command_report)
    check = commands.add_parser(
        "check",
        help="quality gate: exit 0 ok, 1 warning, 2 alarm (or wrong usage, as every command), 3 bad input",
        description="Score each synthetic set against the real holdout and apply the level and trend rules. "
        "Exit 0 when no rule fires, 1 when a warning rule fires, 2 when an alarm rule fires, "
        "3 on bad input. Wrong usage exits 2 with the usage on stderr, as for every command.",
    )
    add_named_file_options(check)
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.set_defaults(run=command_check)
