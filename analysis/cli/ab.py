"""``ab``: A/B test two sets or mixtures: every metric's difference, 95 % interval and Holm verdict."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from analysis.cli.common import HOLDOUT, SEED, SET_SIZE, add_coverage_option, between, named_file, whole

if TYPE_CHECKING:
    from analysis.ab import ABResult

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "ab": {
        "size": SET_SIZE,
        "seed": SEED,
        "holdout": HOLDOUT,
        "rounds": ("--rounds", *whole(1)),
        "permutations": ("--permutations", *whole(0)),
        "alpha": ("--alpha", *between(0, 1, open_low=True, open_high=True)),
    },
}


def format_table(result: ABResult) -> str:
    """The A/B table as text: one line per metric, then the verdicts of the significant ones."""
    table = result.table
    shown = table[["family", "metric", "a", "b", "difference", "ci_low", "ci_high", "p_holm"]].rename(
        columns={"a": result.names[0], "b": result.names[1], "difference": "B - A", "p_holm": "Holm p"}
    )
    lines = [shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"), ""]
    significant = table[table["significant"]]
    lines.append(
        f"{len(significant)} of {table['p_holm'].notna().sum()} tested metrics differ "
        f"(Holm, alpha = {result.settings.get('alpha', 0.05)}; n = {result.settings.get('n')} per set):"
    )
    lines += [f"  {verdict}" for verdict in significant["verdict"]]
    return "\n".join(lines)


def command_ab(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``python -m analysis ab``: read the files, run :func:`analysis.ab.ab_files`, print a table or JSON.

    Returns the exit code.

    ``args`` holds ``real`` (paths), ``a`` and ``b`` (``(name, path)``), ``format`` (``table`` or
    ``json``), ``size``, ``seed``, ``holdout``, ``coverage``, ``rounds``, ``permutations``, ``alpha`` and ``mauve``.
    """
    from tqdm import tqdm

    from analysis.ab import ab_files

    with tqdm(total=0, unit="text", desc="embedding", file=sys.stderr) as bar:

        def embedded(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = ab_files(
            args.real,
            args.a,
            args.b,
            holdout=args.holdout,
            coverage=args.coverage,
            progress=embedded,
            size=args.size,
            seed=args.seed,
            rounds=args.rounds,
            permutations=args.permutations,
            alpha=args.alpha,
            with_mauve=args.mauve,
        )
    out = out or sys.stdout
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, default=str), file=out)
    else:
        print(format_table(result), file=out)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    ab = commands.add_parser(
        "ab", help="A/B test two synthetic sets or mixtures: differences, intervals, Holm verdicts"
    )
    ab.add_argument("--real", nargs="+", required=True, metavar="FILE", help="real samples (10 %% held out by hash)")
    ab.add_argument(
        "--a",
        required=True,
        type=named_file,
        metavar="NAME=FILE",
        help="set A: a synthetic set or an exported mixture",
    )
    ab.add_argument("--b", required=True, type=named_file, metavar="NAME=FILE", help="set B")
    ab.add_argument("--format", choices=["table", "json"], default="table")
    ab.add_argument("--size", type=int, help="samples per set (default: the smaller set)")
    ab.add_argument("--seed", type=int, default=0)
    ab.add_argument("--holdout", type=float, default=0.1)
    add_coverage_option(ab)
    ab.add_argument("--rounds", type=int, default=999, help="bootstrap rounds (default 999)")
    ab.add_argument("--permutations", type=int, default=999, help="permutations per test (default 999)")
    ab.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate, Holm-corrected (default 0.05)")
    ab.add_argument("--mauve", action="store_true", help="add MAUVE (k-means; slow)")
    ab.set_defaults(run=command_ab)
