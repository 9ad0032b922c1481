"""The command line: ``python -m analysis <command>``.

Commands
--------
load FILE...   load files as samples and print their load report (``--format table|json``)
embed FILE...  embed the samples of files into the on-disk cache, with a progress bar

Exit codes: 0 success, 2 wrong usage, 3 bad input (the message says what and how to fix it).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import pandas as pd

from analysis import summary
from analysis.corpus import DEFAULT_MAX_BYTES, CorpusError, combine_samples, read_samples

EXIT_BAD_INPUT = 3


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="CSV, TSV, JSONL, JSON, Parquet, TXT or a folder of .txt")
    parser.add_argument("--source", choices=["real", "synthetic"], help="override the files' source")
    parser.add_argument("--method", help="generation method of synthetic files (rule-based, paraphrase, llm, ...)")
    parser.add_argument("--generation", type=int, help="recursive generation of synthetic files")
    parser.add_argument("--text-column", help="column holding the samples (default: guessed)")
    parser.add_argument("--label-column", help="column holding topic labels (default: label/topic/category/class)")
    parser.add_argument("--holdout", type=float, default=0.1, help="share of real samples held out (default 0.1)")
    parser.add_argument("--encoding", help="force an encoding (default: UTF-8, then Latin-1)")
    parser.add_argument(
        "--max-mb", type=float, default=DEFAULT_MAX_BYTES / 1e6, help="refuse larger files (default %(default).0f)"
    )


def _load(args: argparse.Namespace) -> tuple[pd.DataFrame, list]:
    tables, reports = [], []
    for file in args.files:
        samples, report = read_samples(
            file,
            text_column=args.text_column,
            source=args.source,
            method=args.method,
            generation=args.generation,
            label_column=args.label_column,
            holdout_fraction=args.holdout,
            encoding=args.encoding,
            max_bytes=int(args.max_mb * 1e6),
        )
        tables.append(samples)
        reports.append(report)
    return combine_samples(*tables)[0], reports


def _command_load(args: argparse.Namespace) -> int:
    samples, reports = _load(args)
    if args.format == "json":
        print(json.dumps(
            {
                "files": [r.to_dict() for r in reports],
                "overview": summary.overview(samples),
                "counts": {by: summary.counts(samples, by).to_dict("records") for by in ("source", "method", "generation", "label")},
            },
            indent=2,
        ))
        return 0
    for report in reports:
        print(report.summary())
    print()
    print(", ".join(f"{value:,} {name}" for name, value in summary.overview(samples).items()))
    for by in ("source", "method", "generation", "label"):
        print()
        print(summary.counts(samples, by).to_string(index=False, formatters={"share": "{:.1%}".format}))
    return 0


def _command_embed(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analysis.embed import embed

    samples, reports = _load(args)
    for report in reports:
        print(report.summary(), file=sys.stderr)
    with tqdm(total=len(samples), unit="text", desc="embedding", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        vectors = embed(samples["text"].tolist(), model=args.model, progress=progress)
    print(f"{len(samples):,} samples embedded: {vectors.shape[0]} x {vectors.shape[1]} float32, cached.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Collapse Lab from the command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load files and print the load report")
    _add_load_options(load)
    load.add_argument("--format", choices=["table", "json"], default="table")
    load.set_defaults(run=_command_load)
    embed = commands.add_parser("embed", help="embed the samples of files into the cache (progress bar)")
    _add_load_options(embed)
    embed.add_argument("--model", help="sentence-transformers name or path (default: bundled all-MiniLM-L6-v2)")
    embed.set_defaults(run=_command_embed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
