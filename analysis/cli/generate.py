"""``generate``: synthetic samples with one method (rule-based, paraphrase, llm), resumably."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from analysis.cli.common import SEED, between, load_files, progress_bar, whole
from analysis.corpus import DEFAULT_MAX_BYTES, CorpusError

#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
NUMBERS: dict[str, dict[str, tuple]] = {
    "generate": {
        "n": ("--n", *whole(1)),
        "seed": SEED,
        "noise": ("--noise", *between(0, 1)),
        "temperature": ("--temperature", *between(0, math.inf)),
        "top_p": ("--top-p", *between(0, 1, open_low=True)),
        "max_tokens": ("--max-tokens", *whole(1)),
        "k": ("--k", *whole(1)),
    },
}


def command_generate(args: argparse.Namespace) -> int:
    from analysis.corpus import write_samples
    from analysis.generate import DEFAULTS, generate

    inputs, reports = load_files(args)
    for report in reports:
        print(report.summary(), file=sys.stderr)
    out = Path(args.out)
    checkpoint = out.with_name(out.name + ".checkpoint.jsonl")
    if checkpoint.exists() and not args.resume:
        raise CorpusError(
            f"{checkpoint} exists: an earlier run with this output stopped before the end. "
            f"Add --resume to continue it, or delete the checkpoint to start again."
        )
    params = {k: v for k, v in vars(args).items() if k in DEFAULTS[args.method_kind] and v is not None}
    with progress_bar(args.n, args.method_kind) as bar:
        generated = generate(
            args.method_kind,
            inputs,
            args.n,
            seed=args.seed,
            backend=args.backend,
            method_name=args.method_name,
            checkpoint=checkpoint,
            resume=args.resume,
            progress=lambda done, total: bar.update(done - bar.n),
            **params,
        )
    write_samples(generated.samples, out)
    checkpoint.unlink(missing_ok=True)
    print(json.dumps(generated.report.to_dict(), indent=2, default=str), file=sys.stderr)
    print(f"{len(generated.samples):,} samples written to {out}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser("generate", help="generate synthetic samples from an input file, resumably")
    generate.add_argument("--method", dest="method_kind", required=True, choices=["rule-based", "paraphrase", "llm"])
    generate.add_argument(
        "--input", dest="files", nargs="+", required=True, metavar="FILE", help="the samples to learn from"
    )
    generate.add_argument("--n", type=int, required=True, help="number of samples to generate")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", required=True, help="output file: .csv, .jsonl or .parquet")
    generate.add_argument(
        "--backend",
        choices=["local", "openai"],
        default="local",
        help="local: bundled SmolLM2; openai: COLLAPSE_LAB_OPENAI_BASE_URL / _MODEL / _API_KEY",
    )
    generate.add_argument(
        "--resume", action="store_true", help="continue a run that stopped (its checkpoint is OUT.checkpoint.jsonl)"
    )
    generate.add_argument("--method-name", help="the method name written in the rows (default: --method)")
    generate.add_argument("--noise", type=float, help="rule-based: 0..1 (default 0.3)")
    generate.add_argument("--temperature", type=float)
    generate.add_argument("--top-p", dest="top_p", type=float)
    generate.add_argument("--max-tokens", dest="max_tokens", type=int)
    generate.add_argument("--k", type=int, help="llm: real examples shown per prompt (default 3)")
    generate.add_argument("--text-column")
    generate.add_argument("--label-column")
    generate.set_defaults(
        run=command_generate,
        source=None,
        method=None,
        generation=None,
        holdout=0.1,
        encoding=None,
        max_mb=DEFAULT_MAX_BYTES / 1e6,
    )
