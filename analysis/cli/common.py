"""What the commands share: exit codes, the command parser, the options that read files, progress
bars, and the range checks that refuse a bad number before any work."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.corpus import (
    DEFAULT_MAX_BYTES,
    DUPLICATE_POLICIES,
    CorpusError,
    check_load_options,
    combine_samples,
    read_samples,
)
from analysis.errors import CollapseLabError
from analysis.io import file_sha256

if TYPE_CHECKING:
    from tqdm import tqdm

EXIT_BAD_INPUT = 3


#: argparse's exit status for wrong usage.
EXIT_USAGE = 2


class CommandParser(argparse.ArgumentParser):
    """The parser of one command: a usage error prints the usage and exits :data:`EXIT_USAGE` (2), for every
    command alike (``check`` included: its alarm is also 2, and the usage line on stderr tells them apart)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:  # reported here, with this command's usage, rather than by the top-level parser
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


def add_load_options(parser: argparse.ArgumentParser) -> None:
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


def max_bytes(args: argparse.Namespace) -> int:
    """``--max-mb`` in bytes, or a CorpusError for a cap that is not a positive number."""
    if not math.isfinite(args.max_mb) or args.max_mb <= 0:
        raise CorpusError(f"--max-mb must be a positive number of megabytes, got {args.max_mb!r}.")
    return max(1, int(args.max_mb * 1e6))


#: Files from this size on show a progress bar on stderr while they are read (smaller ones load in a second).
READ_BAR_BYTES = 20_000_000


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[Callable[[int, float], None] | None]:
    """A ``progress(rows, fraction)`` for :func:`read_samples` that draws a bar on stderr (rows read, share of
    the file, time left) while a big file is read; ``None`` for a small one."""
    try:
        size = Path(path).stat().st_size if Path(path).is_file() else 0
    except OSError:
        size = 0
    if size < READ_BAR_BYTES:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(
        total=1000,
        desc=f"reading {Path(path).name}",
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]",
    )

    def progress(rows: int, fraction: float) -> None:
        bar.set_postfix_str(f"{rows:,} rows", refresh=False)
        bar.update(round(fraction * 1000) - bar.n)

    try:
        yield progress
    finally:
        bar.close()


def load_files(args: argparse.Namespace) -> tuple[pd.DataFrame, list]:
    duplicates = getattr(args, "duplicates", "auto")
    # every option is checked before the first file is read (exit 3 with the message, never a traceback)
    check_load_options(
        holdout_fraction=args.holdout,
        generation=args.generation,
        duplicates=duplicates,
        max_bytes=max_bytes(args),
        encoding=args.encoding,
    )
    tables, reports = [], []
    for file in args.files:
        with reading(file) as progress:
            samples, report = read_samples(
                file,
                progress=progress,
                text_column=args.text_column,
                source=args.source,
                method=args.method,
                generation=args.generation,
                label_column=args.label_column,
                holdout_fraction=args.holdout,
                encoding=args.encoding,
                max_bytes=max_bytes(args),
                duplicates=duplicates,
            )
        tables.append(samples)
        reports.append(report)
    return combine_samples(*tables)[0], reports


def progress_bar(total: int, desc: str, initial: int = 0) -> tqdm:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="sample", desc=desc, file=sys.stderr)


def named_file(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {value!r}")
    return name, path


def weights_option(value: str) -> dict[str, float]:
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


def load_named_files(args: argparse.Namespace) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The ``--real`` and ``--synthetic NAME=FILE`` files as one sample table (as ``compare`` and
    ``mix`` read them), and a record per file with its SHA-256."""
    tables: list[pd.DataFrame] = []
    inputs: list[dict[str, Any]] = []
    for path in args.real:
        with reading(path) as progress:
            tables.append(read_samples(path, source="real", holdout_fraction=args.holdout, progress=progress)[0])
        inputs.append({"file": str(path), "source": "real", "rows": len(tables[-1])})
    for name, path in args.synthetic:
        with reading(path) as progress:
            tables.append(read_samples(path, source="synthetic", method=name, progress=progress)[0])
        inputs.append({"file": str(path), "source": "synthetic", "method": name, "rows": len(tables[-1])})
    for entry in inputs:
        entry["sha256"] = file_sha256(entry["file"]) if Path(entry["file"]).is_file() else None
    return combine_samples(*tables)[0], inputs


def embedded(samples: pd.DataFrame):
    from analysis.vectors.embed import embed

    with progress_bar(len(samples), "embedding") as bar:
        return embed(samples["text"], progress=lambda done, total: bar.update(done - bar.n))


#: ``--coverage``'s values and default: :data:`analysis.judge.reference.COVERAGE_REFERENCES` and
#: ``DEFAULT_COVERAGE``, spelled here so that building the parser imports no metric (numba, scipy): ``load``
#: stays within its memory bound (tests/test_path_guards.py); tests/test_cli.py checks they agree.
COVERAGE_CHOICES, COVERAGE_DEFAULT = ("holdout", "crossfit"), "crossfit"


def add_coverage_option(parser: argparse.ArgumentParser) -> None:
    """``--coverage``: whose k-NN balls coverage is judged by (:data:`COVERAGE_CHOICES`)."""
    parser.add_argument(
        "--coverage",
        choices=COVERAGE_CHOICES,
        default=COVERAGE_DEFAULT,
        help="coverage's reference: every real sample in folds, each judged by the others (crossfit, the default), "
        "or the real holdout (holdout)",
    )


def compared(samples: pd.DataFrame, vectors, args: argparse.Namespace) -> pd.DataFrame:
    """:func:`analysis.judge.compare.compare` with the command's --size, --seed, --no-mauve and --coverage."""
    from analysis.judge.compare import compare

    return compare(
        samples,
        embeddings=vectors,
        size=args.size,
        seed=args.seed,
        with_mauve=not args.no_mauve,
        coverage=args.coverage,
    )


def add_named_file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--real", nargs="+", required=True, metavar="FILE", help="real samples (10 %% held out by hash)"
    )
    parser.add_argument(
        "--synthetic",
        nargs="+",
        required=True,
        type=named_file,
        metavar="NAME=FILE",
        help="synthetic sets; files named alike with a generation column form one method's generations",
    )
    parser.add_argument("--size", type=int, help="samples per set (default: the smallest set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--holdout", type=float, default=0.1)
    add_coverage_option(parser)
    parser.add_argument(
        "--rules", help="a rules TOML file with [[rule]] and [[trend]] tables (default: analysis/judge/risk_rules.toml)"
    )
    parser.add_argument("--no-mauve", action="store_true", help="skip MAUVE (k-means; a few seconds a set)")


class ArgumentError(CollapseLabError, ValueError):
    """A command-line number is out of its range; the message names the option and what it accepts."""


#: Samples per set that compare, check, report and ab accept at least: k + 1 with k = 5 neighbours.
MIN_SET = 6


def whole(low: int, high: int | None = None) -> tuple:
    return (
        lambda v: float(v).is_integer() and v >= low and (high is None or v <= high),
        f"a whole number >= {low}" + (f" and <= {high}" if high is not None else ""),
    )


def between(low: float, high: float, *, open_low: bool = False, open_high: bool = False) -> tuple:
    def test(v: float) -> bool:
        return math.isfinite(v) and (v > low if open_low else v >= low) and (v < high if open_high else v <= high)

    return test, f"a number {'>' if open_low else '>='} {low:g}" + (
        "" if high == math.inf else f" and {'<' if open_high else '<='} {high:g}"
    )


SEED = ("--seed", *whole(0))
HOLDOUT = ("--holdout", *between(0, 1, open_low=True, open_high=True))
SET_SIZE = ("--size", *whole(MIN_SET))


def check_numbers(args: argparse.Namespace, numbers: dict[str, dict[str, tuple]]) -> None:
    """Refuse a number out of range before any work (a negative ``--size`` would fail minutes later).

    Raises
    ------
    ArgumentError
        Naming the option, the value given and what the option accepts.
    """
    for name, (option, test, accepts) in numbers.get(args.command, {}).items():
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
