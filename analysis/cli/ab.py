"""``ab``: A/B test two sets or mixtures: every metric's difference, 95 % interval and Holm verdict."""

from __future__ import annotations

import argparse

from analysis.cli.common import HOLDOUT, SEED, SET_SIZE, between, named_file, whole

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


def command_ab(args: argparse.Namespace) -> int:
    from analysis.ab import run_cli

    return run_cli(args)


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
    ab.add_argument("--rounds", type=int, default=999, help="bootstrap rounds (default 999)")
    ab.add_argument("--permutations", type=int, default=999, help="permutations per test (default 999)")
    ab.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate, Holm-corrected (default 0.05)")
    ab.add_argument("--mauve", action="store_true", help="add MAUVE (k-means; slow)")
    ab.set_defaults(run=command_ab)
