"""``fill``: new synthetic samples aimed at a named gap, and the gap measured again (:mod:`analysis.fill`)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from analysis.cli.common import HOLDOUT, SEED, between, embedded, load_named_files, named_file, whole
from analysis.corpus import CorpusError

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "fill": {
        "n": ("--n", *whole(1)),
        "seed": SEED,
        "holdout": HOLDOUT,
        "k": ("--k", *whole(1)),
        "temperature": ("--temperature", *between(0, math.inf)),
        "near": ("--near", *between(0, 1, open_low=True)),
    },
}


def embedder():
    """The embedding function for the new samples (the dataset's model): :func:`analysis.vectors.embed.embed`."""
    from analysis.vectors.embed import embed

    return embed


def backend_of(name: str) -> Any:
    """The backend generate takes for ``--backend`` (a name; tests put a scripted backend here)."""
    return name


def _stage(stage: str, text: str) -> None:
    print(f"[{stage}] {text}", file=sys.stderr, flush=True)


def command_fill(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd

    from analysis.corpus import write_samples
    from analysis.fill import fill_gap, resolve_region
    from analysis.maps.gaps import find_gaps

    samples, _ = load_named_files(args)
    out = Path(args.out)
    _stage("embed", f"Embedding {len(samples):,} samples…")
    vectors = embedded(samples)
    _stage("measure", "Measuring the gaps…")
    report = find_gaps(samples, vectors, seed=args.seed)
    set_name = args.set or (args.synthetic[0][0] if len({name for name, _ in args.synthetic}) == 1 else None)
    if set_name is not None and set_name not in report.gaps:
        matching = [name for name in report.gaps if name.split(" g")[0] == set_name]
        set_name = matching[0] if len(matching) == 1 else set_name
    if args.gap == "all":
        if set_name is None or set_name not in report.gaps:
            from analysis.fill import FillError

            raise FillError(f"Say which set to fill with --set (the sets are {', '.join(report.gaps)}).")
        regions = [gap.region for gap in report.gaps[set_name]]
        if not regions:
            print(report.text_summary(set_name))
            return 0
    else:
        regions = [resolve_region(report, args.gap)]
    params = {key: getattr(args, key) for key in ("k", "temperature") if getattr(args, key) is not None}
    if args.method != "llm":
        params.pop("k", None)
    embed = embedder()
    results, new_tables = [], []
    for region in regions:
        checkpoint = out.with_name(f"{out.name}.r{region}.checkpoint.jsonl")
        if checkpoint.exists() and not args.resume:
            raise CorpusError(
                f"{checkpoint} exists: an earlier run with this output stopped before the end. "
                f"Add --resume to continue it, or delete the checkpoint to start again."
            )
        result = fill_gap(
            samples,
            vectors,
            region,
            set_name=set_name,
            method=args.method,
            n=args.n,
            seed=args.seed,
            backend=backend_of(args.backend),
            embed=embed,
            near=args.near,
            checkpoint=checkpoint,
            resume=args.resume,
            on_stage=_stage,
            before=report,
            **params,
        )
        checkpoint.unlink(missing_ok=True)
        results.append(result)
        new_tables.append(result.samples)
        # the next gap is filled on the dataset with these samples added, measured as it now is
        samples = pd.concat([samples, result.samples], ignore_index=True)
        vectors = np.concatenate([vectors, result.embeddings.astype(vectors.dtype).reshape(-1, vectors.shape[1])])
        assert result.after_report is not None
        report = result.after_report
    new = pd.concat(new_tables, ignore_index=True)
    write_samples(new, out)
    if args.format == "json":
        print(json.dumps([result.to_dict() for result in results], indent=2, default=str))
    else:
        for result in results:
            print(result.sentence())
            print(result.table().to_string(index=False))
            print(f"  landed: {', '.join(f'{name} {count}' for name, count in result.landed.items()) or 'nowhere'}")
        print(f"{len(new):,} new samples written to {out}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    fill = commands.add_parser(
        "fill",
        help="generate new synthetic samples aimed at a named gap and measure the gap again",
        description="Find the named gaps of a synthetic set (as `gaps` does), generate new samples aimed at one "
        "(--gap REGION: its number or name) or at each (--gap all): llm shown real samples typical of the region, "
        "or paraphrase of the region's real samples the set misses; drop copies of real samples, write the kept "
        "ones to --out (the set's method and generation, a gap column) and print the region's occupancy before "
        "and after.",
    )
    fill.add_argument("--real", nargs="+", required=True, metavar="FILE", help="real samples")
    fill.add_argument(
        "--synthetic", nargs="+", required=True, type=named_file, metavar="NAME=FILE", help="synthetic sets"
    )
    fill.add_argument("--set", help="the set to fill (default: the one set given)")
    fill.add_argument("--gap", required=True, metavar="REGION|all", help="a region's number or name, or all")
    fill.add_argument("--n", type=int, default=6, help="samples to generate per gap (default 6)")
    fill.add_argument("--method", choices=["llm", "paraphrase"], default="llm")
    fill.add_argument("--out", required=True, help="output file for the new samples: .csv, .jsonl or .parquet")
    fill.add_argument(
        "--backend",
        choices=["local", "openai"],
        default="local",
        help="local: bundled SmolLM2; openai: COLLAPSE_LAB_OPENAI_BASE_URL / _MODEL / _API_KEY",
    )
    fill.add_argument("--k", type=int, help="llm: real examples shown per prompt (default 3)")
    fill.add_argument("--temperature", type=float)
    fill.add_argument("--near", type=float, default=0.95, help="cosine from which a sample copies a real one")
    fill.add_argument("--seed", type=int, default=0)
    fill.add_argument("--holdout", type=float, default=0.1)
    fill.add_argument("--resume", action="store_true", help="continue a run that stopped (per-gap checkpoints)")
    fill.add_argument("--format", choices=["table", "json"], default="table")
    fill.set_defaults(run=command_fill)
