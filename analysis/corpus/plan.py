"""A load plan: several files, each with its role (real or synthetic), method and generation, checked before one load.

A file's name often says what it holds (``real.csv``, ``llm_g2.jsonl``, ``paraphrased.parquet``): :func:`guess_role`
reads it. What the name does not say stays empty, and :func:`check_plan` says, per file, what to choose; nothing
falls back to a method silently (a synthetic set loaded as "rule-based" by default was judged as the wrong method).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import pandas as pd

from analysis.corpus.schema import SOURCES, CorpusError

__all__ = [
    "METHOD_HINTS",
    "NO_LABEL",
    "PLAN_COLUMNS",
    "PlannedFile",
    "RoleGuess",
    "check_plan",
    "guess_role",
    "plan_row",
    "planned_files",
]

#: The columns of a plan, one row per file.
PLAN_COLUMNS = ["file", "role", "method", "generation", "text column", "label column"]
#: The label column's value for "this file has no label column".
NO_LABEL = "(no label)"
#: Words in a file name that say the method (a word is a run of letters or digits; ``rule-based`` is two words).
METHOD_HINTS: dict[str, tuple[str, ...]] = {
    "llm": ("llm", "llms", "gpt", "llama", "smollm"),
    "paraphrase": ("paraphrase", "paraphrased", "paraphrases", "para", "rephrased", "reworded"),
    "rule-based": ("rule", "rules", "rulebased", "eda"),
}
#: Words that say the samples are real (human-written), and words that say synthetic without naming a method.
REAL_HINTS = ("real", "human", "original", "originals", "gold", "reference")
SYNTHETIC_HINTS = ("synthetic", "synth", "fake", "generated", "augmented")
_GENERATION = re.compile(r"^(?:g|gen|generation)(\d{1,3})$")


@dataclass(frozen=True)
class RoleGuess:
    """What a file's name says: ``source`` (``real``/``synthetic``/None), ``method`` and ``generation`` (None: the
    name does not say), and ``reason``, the words it went by."""

    source: str | None
    method: str | None
    generation: int | None
    reason: str


def _words(name: str) -> list[str]:
    stem = PurePath(str(name)).name.lower()
    for suffix in (".gz", ".bz2", ".zip", ".xz"):
        stem = stem.removesuffix(suffix)
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    words = [w for w in re.split(r"[^a-z0-9]+", stem) if w]
    split: list[str] = []
    for word in words:  # "llm2", "g2" and "gen3" stay whole; "paraphrase2" -> "paraphrase", "2"
        match = re.fullmatch(r"([a-z]+?)(\d+)", word)
        split += [word] if match is None or _GENERATION.match(word) else [match.group(1), match.group(2)]
    return split


def guess_role(name: str) -> RoleGuess:
    """The role, method and generation a file's name says, word by word (``real``, ``llm``, ``paraphrase``/``para``,
    ``rule``/``eda``, ``synthetic``; ``g2``/``gen2``/``generation2`` for the generation). A name that says two
    methods, or real and synthetic at once, says neither: the user chooses."""
    words = _words(name)
    methods = sorted({method for method, hints in METHOD_HINTS.items() if any(w in hints for w in words)})
    says_real = any(w in REAL_HINTS for w in words)
    says_synthetic = bool(methods) or any(w in SYNTHETIC_HINTS for w in words)
    generations = sorted({int(m.group(1)) for w in words if (m := _GENERATION.match(w))})
    generation = generations[0] if len(generations) == 1 and generations[0] >= 1 else None
    if says_real and says_synthetic:
        return RoleGuess(None, None, None, f"'{name}' names real and synthetic data at once")
    if says_real:
        return RoleGuess("real", None, None, f"'{name}' says real")
    if len(methods) > 1:
        return RoleGuess("synthetic", None, generation, f"'{name}' names {' and '.join(methods)}: choose one")
    if methods:
        return RoleGuess("synthetic", methods[0], generation, f"'{name}' says {methods[0]}")
    if says_synthetic or generation is not None:
        return RoleGuess("synthetic", None, generation, f"'{name}' says synthetic but not the method")
    return RoleGuess(None, None, None, f"'{name}' says neither real nor synthetic")


def plan_row(name: str, text_column: str, label_column: str | None = None) -> dict[str, Any]:
    """A plan's row for one file, from its name's guess and its guessed columns. What the name does not say stays
    empty (None), role included: :func:`check_plan` asks for it."""
    guess = guess_role(name)
    source = guess.source
    return {
        "file": name,
        "role": source,
        "method": guess.method if source == "synthetic" else None,
        "generation": (guess.generation or 1) if source == "synthetic" else None,
        "text column": text_column,
        "label column": label_column or NO_LABEL,
    }


@dataclass(frozen=True)
class PlannedFile:
    """One checked row of a plan: the arguments of :func:`~analysis.corpus.samples_from_frame` for its file."""

    file: str
    source: str
    method: str | None  # None: real, or the file's own ``method`` column
    generation: int | None  # None: real, or the file's own ``generation`` column
    text_column: str
    label_column: str  # "": no label


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or not str(value).strip()


def _generation(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and number >= 1 else None


def _check_row(row: Mapping[str, Any], columns: Sequence[str]) -> tuple[PlannedFile | None, list[str]]:
    name = str(row.get("file") or "").strip() or "a file"
    problems = []
    source = str(row.get("role") or "").strip().lower()
    if source not in SOURCES:
        problems.append(f"{name}: choose its role, real or synthetic.")
    method = None if _blank(row.get("method")) else str(row.get("method")).strip()
    generation = None
    if source == "synthetic":
        if method is None and "method" not in columns:
            problems.append(
                f"{name}: choose its method (rule-based, paraphrase, llm or a name of your own); "
                f"{guess_role(name).reason}."
            )
        elif method is not None and method.lower() in ("real", "synthetic"):
            problems.append(f"{name}: '{method}' is not a method: name the method that made these samples.")
        if _blank(row.get("generation")):
            generation = None if "generation" in columns else 1
        else:
            generation = _generation(row.get("generation"))
            if generation is None:
                problems.append(f"{name}: the generation must be a whole number, 1 or more (got {row['generation']}).")
    text_column = "" if _blank(row.get("text column")) else str(row.get("text column"))
    if text_column not in columns:
        problems.append(
            f"{name}: choose its text column, one of {', '.join(map(repr, columns))}"
            + (f" ('{text_column}' is not one)." if text_column else ".")
        )
    label = "" if _blank(row.get("label column")) or row.get("label column") == NO_LABEL else str(row["label column"])
    if label and label not in columns:
        problems.append(f"{name}: it has no column '{label}' for labels; choose one of its columns or {NO_LABEL}.")
    if label and label == text_column:
        problems.append(f"{name}: the label column is its text column; choose another or {NO_LABEL}.")
    if problems:
        return None, problems
    return PlannedFile(name, source, method if source == "synthetic" else None, generation, text_column, label), []


def check_plan(plan: pd.DataFrame, columns: Mapping[str, Sequence[str]]) -> list[str]:
    """What is missing or wrong in a plan, one sentence per problem (empty: ready to load).

    ``plan`` has :data:`PLAN_COLUMNS`; ``columns`` maps each file to the columns its table has.
    """
    return _checked(plan, columns)[1]


def planned_files(plan: pd.DataFrame, columns: Mapping[str, Sequence[str]]) -> list[PlannedFile]:
    """The plan's rows, checked, in order; a :class:`CorpusError` lists every problem at once."""
    files, problems = _checked(plan, columns)
    if problems:
        raise CorpusError("The files cannot be loaded yet: " + " ".join(problems))
    return files


def _checked(plan: pd.DataFrame, columns: Mapping[str, Sequence[str]]) -> tuple[list[PlannedFile], list[str]]:
    missing = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if missing:
        raise ValueError(f"a load plan needs the column(s) {', '.join(missing)}")
    if plan.empty:
        return [], ["Choose at least one file."]
    files, problems = [], []
    for row in plan.to_dict("records"):
        planned, found = _check_row(row, [str(c) for c in columns.get(str(row.get("file")), ())])
        problems += found
        if planned is not None:
            files.append(planned)
    return files, problems
