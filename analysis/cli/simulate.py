"""``simulate``: train a model on its own output, generation after generation."""

from __future__ import annotations

import argparse
import json
import math
import sys

from analysis.cli.common import SEED, between, whole
from analysis.export import csv_bytes

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "simulate": {
        "generations": ("--generations", *whole(1)),
        "n": ("--n", *whole(2)),
        "seed": SEED,
        "real_share": ("--real-share", *between(0, 1)),
        "temperature": ("--temperature", *between(0, math.inf, open_low=True)),
        "top_k": ("--top-k", *whole(1)),
        "top_p": ("--top-p", *between(0, 1, open_low=True)),
        "order": ("--order", *whole(2, 3)),
    },
}


def command_simulate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analysis.simulate import simulate

    params = {
        name: getattr(args, name)
        for name in ("temperature", "top_k", "top_p", "order")
        if getattr(args, name) is not None
    }
    regimes = args.regime or ["replace", "accumulate", "mix"]
    with tqdm(
        total=1 + len(dict.fromkeys(regimes)) * max(args.generations, 0),
        unit="generation",
        desc=f"simulating {args.model}",
        file=sys.stderr,
    ) as bar:
        result = simulate(
            args.model,
            regimes,
            generations=args.generations,
            n=args.n,
            seed=args.seed,
            real_share=args.real_share,
            progress=lambda done, total: bar.update(done - bar.n),
            **params,
        )
    if args.format == "json":
        settings = {
            "model": result.model,
            "regimes": list(result.regimes),
            "generations": result.generations,
            "n": result.n,
            "seed": result.seed,
            "real_share": result.real_share,
            "params": result.params,
            "seconds": round(result.seconds, 3),
        }
        print(json.dumps({"settings": settings, "metrics": result.metrics.to_dict("records")}, indent=2, default=str))
    elif args.format == "csv":
        print(csv_bytes(result.metrics).decode("utf-8"), end="")
    else:
        print(result.wide().to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    simulation = commands.add_parser("simulate", help="train a model on its own output, generation after generation")
    simulation.add_argument("--model", required=True, choices=["gaussian", "regression", "ngram", "embedding"])
    simulation.add_argument(
        "--regime",
        action="append",
        choices=["replace", "accumulate", "mix"],
        help="repeat for several (default: all three)",
    )
    simulation.add_argument(
        "--real-share",
        dest="real_share",
        type=float,
        default=2 / 3,
        help="the mix regime's real share, 0..1 (default 2/3)",
    )
    simulation.add_argument("--generations", type=int, required=True, help="generations after generation 0")
    simulation.add_argument("--seed", type=int, default=0)
    simulation.add_argument("--n", type=int, help="samples per generation (default per model)")
    simulation.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="table: one column per metric; csv, json: the tidy table",
    )
    simulation.add_argument("--temperature", type=float, help="ngram: sampling temperature (default 1)")
    simulation.add_argument("--top-k", dest="top_k", type=int, help="ngram: keep the k likeliest words (default: all)")
    simulation.add_argument("--top-p", dest="top_p", type=float, help="ngram: nucleus share (default 0.9)")
    simulation.add_argument("--order", type=int, help="ngram: 2 or 3 (default 3)")
    simulation.set_defaults(run=command_simulate)
