"""``compare``: every metric for each synthetic set against the real holdout, and the risks that fire."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager

from analysis.cli.common import (
    HOLDOUT,
    SEED,
    SET_SIZE,
    add_coverage_option,
    compared,
    named_file,
    progress_bar,
    reading,
)
from analysis.cli.data import add_engine_options
from analysis.corpus import combine_samples, read_samples
from analysis.export import csv_bytes

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "compare": {"size": SET_SIZE, "seed": SEED, "holdout": HOLDOUT},
}


def command_compare(args: argparse.Namespace) -> int:
    from analysis.judge.risks import load_rules, risks
    from analysis.vectors.embed import embed

    rules = load_rules(args.rules)  # a bad rules file fails before any work
    tables = []
    for path in args.real:
        with reading(path) as progress:  # a bar on stderr for a big file
            tables.append(read_samples(path, source="real", holdout_fraction=args.holdout, progress=progress)[0])
    for name, path in args.synthetic:
        with reading(path) as progress:
            tables.append(read_samples(path, source="synthetic", method=name, progress=progress)[0])
    samples = combine_samples(*tables)[0]
    with progress_bar(len(samples), "embedding") as bar:
        vectors = embed(samples["text"], progress=lambda done, total: bar.update(done - bar.n))
    with k_nn_engine(args):  # --engine ray: the k-NN work on Ray tasks, the same numbers
        table = compared(samples, vectors, args)
    fired = risks(table, rules)
    if args.format == "json":
        print(
            json.dumps({"metrics": table.to_dict("records"), "risks": fired.to_dict("records")}, indent=2, default=str)
        )
    elif args.format == "csv":
        print(csv_bytes(table).decode("utf-8"), end="")
    else:
        wide = table.pivot_table(index=["family", "metric"], columns="set", values="value", sort=False)
        print(wide.to_string(float_format=lambda v: f"{v:.3f}"))
        print()
        print("No collapse-risk rule fires." if fired.empty else "Risks:")
        for row in fired.itertuples():
            print(f"  [{row.severity}] {row.set}: {row.risk} ({row.rule}): {row.message}")
    return 0


@contextmanager
def k_nn_engine(args: argparse.Namespace) -> Iterator[None]:
    """The k-NN engine ``--engine`` names, in force for the block (local: nothing changes)."""
    if getattr(args, "engine", "local") != "ray":
        yield
        return
    from analysis.metrics import knn
    from analysis.vectors.distributed import RayEngine

    with RayEngine(args.address) as engine, knn.using(engine):
        yield


def register(commands: argparse._SubParsersAction) -> None:
    comparison = commands.add_parser("compare", help="every metric per synthetic set against the real holdout")
    comparison.add_argument(
        "--real", nargs="+", required=True, metavar="FILE", help="real samples (10 %% held out by hash)"
    )
    comparison.add_argument("--synthetic", nargs="+", required=True, type=named_file, metavar="NAME=FILE")
    comparison.add_argument("--format", choices=["table", "csv", "json"], default="table")
    comparison.add_argument("--size", type=int, help="samples per set (default: the smallest set)")
    comparison.add_argument("--seed", type=int, default=0)
    comparison.add_argument("--holdout", type=float, default=0.1)
    add_coverage_option(comparison)
    comparison.add_argument("--rules", help="a risk-rules TOML file (default: analysis/judge/risk_rules.toml)")
    comparison.add_argument("--no-mauve", action="store_true", help="skip MAUVE (k-means; a few seconds a set)")
    add_engine_options(comparison)
    comparison.set_defaults(run=command_compare)
