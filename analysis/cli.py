"""The command line: ``python -m analysis <command>``.

Commands
--------
load FILE...   load files as samples and print their load report (``--format table|json``)
embed FILE...  embed the samples of files into the on-disk cache, with a progress bar
generate       generate synthetic samples with one method (rule-based, paraphrase, llm), resumably
demo           show or rebuild the demo's synthetic sets (``--rebuild``) and shipped vectors and views (``--embed``)
compare        every metric for each synthetic set against the real holdout, and the risks that fire
mix            draw a mixture of real and synthetic samples, print its metrics (JSON), write it with ``--out``
simulate       train a model on its own output, generation after generation (replace, accumulate, mix)
ab             A/B test two sets or mixtures: every metric's difference, 95 % interval and Holm-corrected verdict
report         one self-contained HTML report of real and synthetic files (``--out report.html``)
check          the quality gate for CI: level and trend rules on each synthetic set, a verdict per set

Exit codes: 0 success, 2 wrong usage, 3 bad input (the message says what and how to fix it).
A number out of its range (``--size -5``, ``--holdout 2``) is bad input, refused before any work.
``check`` is the exception: 0 no rule fires, 1 a warning rule fires, 2 an alarm rule fires, 3 bad
input *or wrong usage* (its usage errors exit 3, so that 2 always means an alarm).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import summary
from analysis.corpus import (
    DEFAULT_MAX_BYTES,
    DUPLICATE_POLICIES,
    CorpusError,
    check_load_options,
    combine_samples,
    read_samples,
)
from analysis.errors import CollapseLabError
from analysis.export import csv_bytes
from analysis.io import file_sha256

EXIT_BAD_INPUT = 3


def _add_load_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="CSV, TSV, JSONL, JSON, Parquet, TXT or a folder of .txt"
    )
    parser.add_argument("--source", choices=["real", "synthetic"], help="override the files' source")
    parser.add_argument("--method", help="generation method of synthetic files (rule-based, paraphrase, llm, ...)")
    parser.add_argument("--generation", type=int, help="recursive generation of synthetic files")
    parser.add_argument("--text-column", help="column holding the samples (default: guessed)")
    parser.add_argument("--label-column", help="column holding topic labels (default: label/topic/category/class)")
    parser.add_argument("--holdout", type=float, default=0.1, help="share of real samples held out (default 0.1)")
    parser.add_argument("--encoding", help="force an encoding (default: UTF-8, then Latin-1)")
    parser.add_argument(
        "--max-mb",
        type=float,
        default=DEFAULT_MAX_BYTES / 1e6,
        help="refuse larger files; never more is read (default %(default).0f)",
    )
    parser.add_argument(
        "--duplicates",
        choices=DUPLICATE_POLICIES,
        default="auto",
        help="exact duplicates inside a file: auto (default) keeps them in synthetic files, where repeats are "
        "the collapse signal, and drops them in real files; keep; drop. The report gives the raw rate.",
    )


def _max_bytes(args: argparse.Namespace) -> int:
    """``--max-mb`` in bytes, or a CorpusError for a cap that is not a positive number."""
    if not math.isfinite(args.max_mb) or args.max_mb <= 0:
        raise CorpusError(f"--max-mb must be a positive number of megabytes, got {args.max_mb!r}.")
    return max(1, int(args.max_mb * 1e6))


def _load(args: argparse.Namespace) -> tuple[pd.DataFrame, list]:
    duplicates = getattr(args, "duplicates", "auto")
    # every option is checked before the first file is read (exit 3 with the message, never a traceback)
    check_load_options(
        holdout_fraction=args.holdout,
        generation=args.generation,
        duplicates=duplicates,
        max_bytes=_max_bytes(args),
        encoding=args.encoding,
    )
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
            max_bytes=_max_bytes(args),
            duplicates=duplicates,
        )
        tables.append(samples)
        reports.append(report)
    return combine_samples(*tables)[0], reports


def _command_load(args: argparse.Namespace) -> int:
    samples, reports = _load(args)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "files": [r.to_dict() for r in reports],
                    "overview": summary.overview(samples),
                    "counts": {
                        by: summary.counts(samples, by).to_dict("records")
                        for by in ("source", "method", "generation", "label")
                    },
                },
                indent=2,
            )
        )
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
    cached: list[int] = []  # the first progress call counts what an earlier (or killed) run left in the cache
    with tqdm(total=len(samples), unit="text", desc="embedding", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            cached[:] = cached or [done]
            bar.update(done - bar.n)

        vectors = embed(samples["text"].tolist(), model=args.model, progress=progress)
    print(
        f"{len(samples):,} samples embedded: {vectors.shape[0]} x {vectors.shape[1]} float32, cached "
        f"({cached[0] if cached else 0:,} were in the cache already; each chunk is saved as it finishes, "
        f"so an interrupted run resumes where it stopped)."
    )
    return 0


def _progress_bar(total: int, desc: str, initial: int = 0):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="sample", desc=desc, file=sys.stderr)


def _command_generate(args: argparse.Namespace) -> int:
    from analysis.corpus import write_samples
    from analysis.generate import DEFAULTS, generate

    inputs, reports = _load(args)
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
    with _progress_bar(args.n, args.method_kind) as bar:
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


def _command_demo(args: argparse.Namespace) -> int:
    from analysis import demo

    if args.rebuild:
        bars: dict[str, object] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = _progress_bar(total, name)
            bars[name].update(done - bars[name].n)

        demo.build_demo_sets(force=True, only=args.only, progress=progress, backend=args.backend)
        for bar in bars.values():
            bar.close()
    if args.embed:
        bar = _progress_bar(0, "embedding the demo")

        def embedded(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        path = demo.ship_demo_embeddings(progress=embedded)
        bar.close()
        print(f"demo vectors written to {path}")
        for path in demo.ship_demo_views(progress=lambda message: print(message, file=sys.stderr, flush=True)):
            print(f"demo view written to {path}")
    samples = demo.load_demo()
    print(summary.counts(samples, "method").to_string(index=False, formatters={"share": "{:.1%}".format}))
    return 0


def _named_file(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {value!r}")
    return name, path


def _command_compare(args: argparse.Namespace) -> int:
    from analysis.compare import compare
    from analysis.embed import embed
    from analysis.risks import load_rules, risks

    rules = load_rules(args.rules)  # a bad rules file fails before any work
    tables = []
    for path in args.real:
        tables.append(read_samples(path, source="real", holdout_fraction=args.holdout)[0])
    for name, path in args.synthetic:
        tables.append(read_samples(path, source="synthetic", method=name)[0])
    samples = combine_samples(*tables)[0]
    with _progress_bar(len(samples), "embedding") as bar:
        vectors = embed(samples["text"], progress=lambda done, total: bar.update(done - bar.n))
    table = compare(samples, embeddings=vectors, size=args.size, seed=args.seed, with_mauve=not args.no_mauve)
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


def _weights(value: str) -> dict[str, float]:
    weights = {}
    for part in value.split(","):
        name, sep, weight = part.partition("=")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT[,NAME=WEIGHT...], got {part!r}") from None
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT[,NAME=WEIGHT...], got {part!r}")
    return weights


def _command_mix(args: argparse.Namespace) -> int:
    from analysis.embed import embed
    from analysis.mixture import APPROXIMATE, EXACT, MixtureEngine, MixtureSpec, export_mixture, guardrail

    spec = MixtureSpec(
        size=args.size, real_share=args.real_share, weights=args.weights or {}, strategy=args.strategy, seed=args.seed
    )  # a bad spec fails before any work
    tables, inputs = [], []
    for path in args.real:
        tables.append(read_samples(path, source="real", holdout_fraction=args.holdout)[0])
        inputs.append({"file": str(path), "source": "real"})
    for name, path in args.synthetic:
        tables.append(read_samples(path, source="synthetic", method=name)[0])
        inputs.append({"file": str(path), "source": "synthetic", "method": name})
    for entry in inputs:
        entry["sha256"] = file_sha256(entry["file"]) if Path(entry["file"]).is_file() else None
    samples = combine_samples(*tables)[0]
    with _progress_bar(len(samples), "embedding") as bar:
        vectors = embed(samples["text"], progress=lambda done, total: bar.update(done - bar.n))
    with _progress_bar(0, "precomputing") as bar:

        def precomputed(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        preview = MixtureEngine(samples, vectors, progress=precomputed)
    rows = preview.rows(spec)
    metrics = preview.metrics(spec)
    level, reason = guardrail(spec.real_share)
    result = {
        "spec": spec.to_dict(),
        "counts": preview.counts(spec),
        "guardrail": {"level": level, "reason": reason},
        "metrics": metrics,
        "exact": sorted(name for name in metrics if name in EXACT or name.startswith("coverage bin")),
        "approximate": APPROXIMATE,
    }
    if args.out:
        manifest = export_mixture(
            samples, rows, spec, args.out, metrics=metrics, inputs={"files": inputs, "holdout": args.holdout}
        )
        result["out"] = {
            "rows": str(Path(args.out).with_name(manifest["file"])),
            "manifest": str(Path(args.out).with_name(manifest["file"] + ".manifest.json")),
        }
        print(
            f"{len(rows):,} rows written to {result['out']['rows']}, manifest {result['out']['manifest']}",
            file=sys.stderr,
        )
    print(json.dumps(result, indent=2, default=str))
    return 0


def _command_simulate(args: argparse.Namespace) -> int:
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


def _load_named_files(args: argparse.Namespace) -> tuple[pd.DataFrame, list[dict]]:
    """The ``--real`` and ``--synthetic NAME=FILE`` files as one sample table (as ``compare`` and
    ``mix`` read them), and a record per file with its SHA-256."""
    tables, inputs = [], []
    for path in args.real:
        tables.append(read_samples(path, source="real", holdout_fraction=args.holdout)[0])
        inputs.append({"file": str(path), "source": "real", "rows": len(tables[-1])})
    for name, path in args.synthetic:
        tables.append(read_samples(path, source="synthetic", method=name)[0])
        inputs.append({"file": str(path), "source": "synthetic", "method": name, "rows": len(tables[-1])})
    for entry in inputs:
        entry["sha256"] = file_sha256(entry["file"]) if Path(entry["file"]).is_file() else None
    return combine_samples(*tables)[0], inputs


def _embedded(samples: pd.DataFrame):
    from analysis.embed import embed

    with _progress_bar(len(samples), "embedding") as bar:
        return embed(samples["text"], progress=lambda done, total: bar.update(done - bar.n))


def _command_report(args: argparse.Namespace) -> int:
    from analysis.compare import compare
    from analysis.io import atomic_write_bytes
    from analysis.monitor import Monitor, MonitorError
    from analysis.report import build_report
    from analysis.risks import load_rules, load_trend_rules

    load_rules(args.rules), load_trend_rules(args.rules)  # a bad rules file fails before any work
    manifest = None
    if args.mixture:
        try:
            manifest = json.loads(Path(args.mixture).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
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
    samples, inputs = _load_named_files(args)
    vectors = _embedded(samples)
    table = compare(samples, embeddings=vectors, size=args.size, seed=args.seed, with_mauve=not args.no_mauve)
    html = build_report(
        samples,
        embeddings=vectors,
        compare_table=table,
        mixture_manifest=manifest,
        history=history,
        rules=args.rules,
        title=args.title,
        inputs=inputs,
        settings={"size": args.size, "seed": args.seed, "holdout": args.holdout, "mauve": not args.no_mauve},
    )
    atomic_write_bytes(Path(args.out), html.encode("utf-8"))
    print(f"report written to {args.out} ({len(html) / 1e6:.1f} MB)")
    return 0


def _command_check(args: argparse.Namespace) -> int:
    from analysis.compare import compare
    from analysis.monitor import gate
    from analysis.risks import load_rules, load_trend_rules

    try:
        load_rules(args.rules), load_trend_rules(args.rules)  # a bad rules file fails before any work
        samples, _ = _load_named_files(args)
        table = compare(
            samples, embeddings=_embedded(samples), size=args.size, seed=args.seed, with_mauve=not args.no_mauve
        )
        result = gate(table, args.rules)
    except Exception as exc:  # the gate never crashes into exit 1 ("warning"): anything unchecked is exit 3
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print(result.text())
    return result.exit_code


#: argparse's exit status for wrong usage.
EXIT_USAGE = 2


class _CommandParser(argparse.ArgumentParser):
    """The parser of one command; ``usage_exit`` is the exit status of its usage errors.

    That is argparse's 2, except for ``check``: its usage errors exit 3 (bad input), since its
    exit 2 means an alarm fired. ``add_parser(..., usage_exit=3)`` passes it through.
    """

    def __init__(self, *args, usage_exit: int = EXIT_USAGE, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.usage_exit = usage_exit

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(self.usage_exit, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self.usage_exit != EXIT_USAGE:  # otherwise the top-level parser reports them, with exit 2
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def _add_named_file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--real", nargs="+", required=True, metavar="FILE", help="real samples (10 %% held out by hash)"
    )
    parser.add_argument(
        "--synthetic",
        nargs="+",
        required=True,
        type=_named_file,
        metavar="NAME=FILE",
        help="synthetic sets; files named alike with a generation column form one method's generations",
    )
    parser.add_argument("--size", type=int, help="samples per set (default: the smallest set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument(
        "--rules", help="a rules TOML file with [[rule]] and [[trend]] tables (default: analysis/risk_rules.toml)"
    )
    parser.add_argument("--no-mauve", action="store_true", help="skip MAUVE (k-means; a few seconds a set)")


def _command_ab(args: argparse.Namespace) -> int:
    from analysis.ab import run_cli

    return run_cli(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Collapse Lab from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_CommandParser)
    load = commands.add_parser("load", help="load files and print the load report")
    _add_load_options(load)
    load.add_argument("--format", choices=["table", "json"], default="table")
    load.set_defaults(run=_command_load)
    embed = commands.add_parser("embed", help="embed the samples of files into the cache (progress bar)")
    _add_load_options(embed)
    embed.add_argument("--model", help="sentence-transformers name or path (default: bundled all-MiniLM-L6-v2)")
    embed.set_defaults(run=_command_embed)

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
        run=_command_generate,
        source=None,
        method=None,
        generation=None,
        holdout=0.1,
        encoding=None,
        max_mb=DEFAULT_MAX_BYTES / 1e6,
    )

    comparison = commands.add_parser("compare", help="every metric per synthetic set against the real holdout")
    comparison.add_argument(
        "--real", nargs="+", required=True, metavar="FILE", help="real samples (10 %% held out by hash)"
    )
    comparison.add_argument("--synthetic", nargs="+", required=True, type=_named_file, metavar="NAME=FILE")
    comparison.add_argument("--format", choices=["table", "csv", "json"], default="table")
    comparison.add_argument("--size", type=int, help="samples per set (default: the smallest set)")
    comparison.add_argument("--seed", type=int, default=0)
    comparison.add_argument("--holdout", type=float, default=0.1)
    comparison.add_argument("--rules", help="a risk-rules TOML file (default: analysis/risk_rules.toml)")
    comparison.add_argument("--no-mauve", action="store_true", help="skip MAUVE (k-means; a few seconds a set)")
    comparison.set_defaults(run=_command_compare)

    mix = commands.add_parser(
        "mix", help="a mixture of real and synthetic samples: its metrics, and its rows with --out"
    )
    mix.add_argument(
        "--real", nargs="+", required=True, metavar="FILE", help="real samples (10 %% held out by hash, never mixed in)"
    )
    mix.add_argument("--synthetic", nargs="+", required=True, type=_named_file, metavar="NAME=FILE")
    mix.add_argument("--size", type=int, required=True, help="rows in the mixture")
    mix.add_argument("--real-share", dest="real_share", type=float, required=True, help="share of real rows, 0..1")
    mix.add_argument("--weights", type=_weights, metavar="NAME=W,...", help="weight per synthetic set (default: equal)")
    mix.add_argument("--strategy", choices=["uniform", "dedup", "tail-aware"], default="uniform")
    mix.add_argument("--seed", type=int, default=0)
    mix.add_argument("--holdout", type=float, default=0.1)
    mix.add_argument("--out", help="write the rows here (.csv, .jsonl or .parquet) and OUT.manifest.json beside them")
    mix.set_defaults(run=_command_mix)

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
    simulation.set_defaults(run=_command_simulate)

    ab = commands.add_parser(
        "ab", help="A/B test two synthetic sets or mixtures: differences, intervals, Holm verdicts"
    )
    ab.add_argument("--real", nargs="+", required=True, metavar="FILE", help="real samples (10 %% held out by hash)")
    ab.add_argument(
        "--a",
        required=True,
        type=_named_file,
        metavar="NAME=FILE",
        help="set A: a synthetic set or an exported mixture",
    )
    ab.add_argument("--b", required=True, type=_named_file, metavar="NAME=FILE", help="set B")
    ab.add_argument("--format", choices=["table", "json"], default="table")
    ab.add_argument("--size", type=int, help="samples per set (default: the smaller set)")
    ab.add_argument("--seed", type=int, default=0)
    ab.add_argument("--holdout", type=float, default=0.1)
    ab.add_argument("--rounds", type=int, default=999, help="bootstrap rounds (default 999)")
    ab.add_argument("--permutations", type=int, default=999, help="permutations per test (default 999)")
    ab.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate, Holm-corrected (default 0.05)")
    ab.add_argument("--mauve", action="store_true", help="add MAUVE (k-means; slow)")
    ab.set_defaults(run=_command_ab)

    demo = commands.add_parser("demo", help="the demo's synthetic sets: counts, or --rebuild them")
    demo.add_argument("--rebuild", action="store_true", help="regenerate data/demo/ with this code (resumable)")
    demo.add_argument(
        "--embed",
        action="store_true",
        help="write the vectors of every demo text to data/demo/embeddings/ and its default map and "
        "comparison tables to data/demo/cache/ (shipped, read-only)",
    )
    demo.add_argument("--only", nargs="+", help="rebuild only these sets (rule-based, paraphrase, llm, llm-g2, llm-g3)")
    demo.add_argument("--backend", choices=["local", "openai"], default="local")
    demo.set_defaults(run=_command_demo)

    report = commands.add_parser("report", help="a self-contained HTML report of real and synthetic files")
    _add_named_file_options(report)
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.add_argument("--title", default="Collapse Lab report")
    report.add_argument("--mixture", metavar="MANIFEST", help="a mixture manifest (mix --out wrote OUT.manifest.json)")
    report.add_argument("--history", metavar="JSONL", help="a monitor history (<workspace>/monitor/<series>.jsonl)")
    report.set_defaults(run=_command_report)

    check = commands.add_parser(
        "check",
        help="quality gate: exit 0 ok, 1 warning, 2 alarm, 3 bad input or usage",
        description="Score each synthetic set against the real holdout and apply the level and trend rules. "
        "Exit 0 when no rule fires, 1 when a warning rule fires, 2 when an alarm rule fires, "
        "3 on bad input or wrong usage.",
        usage_exit=EXIT_BAD_INPUT,
    )
    _add_named_file_options(check)
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.set_defaults(run=_command_check)
    return parser


class ArgumentError(CollapseLabError, ValueError):
    """A command-line number is out of its range; the message names the option and what it accepts."""


#: Samples per set that compare, check, report and ab accept at least: k + 1 with k = 5 neighbours.
_MIN_SET = 6


def _whole(low: int, high: int | None = None) -> tuple:
    return (
        lambda v: float(v).is_integer() and v >= low and (high is None or v <= high),
        f"a whole number >= {low}" + (f" and <= {high}" if high is not None else ""),
    )


def _between(low: float, high: float, *, open_low: bool = False, open_high: bool = False) -> tuple:
    def test(v: float) -> bool:
        return math.isfinite(v) and (v > low if open_low else v >= low) and (v < high if open_high else v <= high)

    return test, f"a number {'>' if open_low else '>='} {low:g}" + (
        "" if high == math.inf else f" and {'<' if open_high else '<='} {high:g}"
    )


_SEED = ("--seed", *_whole(0))
_HOLDOUT = ("--holdout", *_between(0, 1, open_low=True, open_high=True))
_SET_SIZE = ("--size", *_whole(_MIN_SET))
#: command -> argument -> (option, test, what it accepts); None values are "not given" and pass.
#: ``load`` and ``embed`` check their options where the files are read.
_NUMBERS: dict[str, dict[str, tuple]] = {
    "generate": {
        "n": ("--n", *_whole(1)),
        "seed": _SEED,
        "noise": ("--noise", *_between(0, 1)),
        "temperature": ("--temperature", *_between(0, math.inf)),
        "top_p": ("--top-p", *_between(0, 1, open_low=True)),
        "max_tokens": ("--max-tokens", *_whole(1)),
        "k": ("--k", *_whole(1)),
    },
    "compare": {"size": _SET_SIZE, "seed": _SEED, "holdout": _HOLDOUT},
    "check": {"size": _SET_SIZE, "seed": _SEED, "holdout": _HOLDOUT},
    "report": {"size": _SET_SIZE, "seed": _SEED, "holdout": _HOLDOUT},
    "mix": {
        "size": ("--size", *_whole(1)),
        "real_share": ("--real-share", *_between(0, 1)),
        "seed": _SEED,
        "holdout": _HOLDOUT,
    },
    "ab": {
        "size": _SET_SIZE,
        "seed": _SEED,
        "holdout": _HOLDOUT,
        "rounds": ("--rounds", *_whole(1)),
        "permutations": ("--permutations", *_whole(0)),
        "alpha": ("--alpha", *_between(0, 1, open_low=True, open_high=True)),
    },
    "simulate": {
        "generations": ("--generations", *_whole(1)),
        "n": ("--n", *_whole(2)),
        "seed": _SEED,
        "real_share": ("--real-share", *_between(0, 1)),
        "temperature": ("--temperature", *_between(0, math.inf, open_low=True)),
        "top_k": ("--top-k", *_whole(1)),
        "top_p": ("--top-p", *_between(0, 1, open_low=True)),
        "order": ("--order", *_whole(2, 3)),
    },
}


def check_numbers(args: argparse.Namespace) -> None:
    """Refuse a number out of range before any work (a negative ``--size`` would fail minutes later).

    Raises
    ------
    ArgumentError
        Naming the option, the value given and what the option accepts.
    """
    for name, (option, test, accepts) in _NUMBERS.get(args.command, {}).items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if not test(value):
            raise ArgumentError(
                f"{option} {value}: expected {accepts}. Give a value in that range"
                + (" or leave the option out." if name in ("size", "seed", "holdout") else ".")
            )
    weights = getattr(args, "weights", None) or {}
    for name, weight in weights.items():
        if not (math.isfinite(weight) and weight >= 0):
            raise ArgumentError(f"--weights {name}={weight}: a weight must be a number >= 0.")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 3 with the message, never a traceback, on any :class:`CollapseLabError`."""
    args = build_parser().parse_args(argv)
    try:
        check_numbers(args)
        return args.run(args)
    except CollapseLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
