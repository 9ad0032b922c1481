"""The command line: ``python -m analysis <command>``.

Commands
--------
load FILE...   load files as samples and print their load report (``--format table|json``)
embed FILE...  embed the samples of files into the on-disk cache, with a progress bar
generate       generate synthetic samples with one method (rule-based, paraphrase, llm), resumably
demo           show or rebuild the demo's synthetic sets (``--rebuild``) and shipped vectors and views (``--embed``)
export-model   export the bundled embedding model to ONNX, float32 and int8 (a ``make`` step)
compare        every metric for each synthetic set against the real holdout, and the risks that fire
gaps           the named regions of the real data each synthetic set misses (``--format table|json``)
fill           new synthetic samples aimed at a named gap (``--gap REGION|all``), and the gap measured again
mix            draw a mixture of real and synthetic samples, print its metrics (JSON), write it with ``--out``
simulate       train a model on its own output, generation after generation (replace, accumulate, mix)
ab             A/B test two sets or mixtures: every metric's difference, 95 % interval and Holm-corrected verdict
report         one self-contained HTML report of real and synthetic files (``--out report.html``)
check          the quality gate for CI: level and trend rules on each synthetic set, a verdict per set

Exit codes: 0 success, 2 wrong usage (every command alike: argparse's convention), 3 bad input (the
message says what and how to fix it). A number out of its range (``--size -5``, ``--holdout 2``) is bad
input, refused before any work. ``check`` also exits 1 when a warning rule fires and 2 when an alarm rule
fires; a usage error is told apart from an alarm by the usage line it prints on stderr.

One module per command group in this package; each has ``register(commands)``, which adds its
commands' parsers, and ``NUMBERS``, the ranges its numeric options accept. A new command is a new
module listed in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from analysis.cli import ab, compare, data, fill, gaps, gate, generate, mix, simulate
from analysis.cli.common import EXIT_BAD_INPUT, EXIT_USAGE, ArgumentError, CommandParser, check_numbers
from analysis.errors import CollapseLabError

__all__ = ["ArgumentError", "EXIT_BAD_INPUT", "EXIT_USAGE", "build_parser", "main"]

#: The command modules, in the order their commands are listed in ``--help``.
COMMANDS = (data, generate, compare, gaps, fill, mix, simulate, ab, gate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Collapse Lab from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 3 with the message, never a traceback, on any :class:`CollapseLabError`."""
    args = build_parser().parse_args(argv)
    try:
        check_numbers(args, {name: ranges for module in COMMANDS for name, ranges in module.NUMBERS.items()})
        return args.run(args)
    except CollapseLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
