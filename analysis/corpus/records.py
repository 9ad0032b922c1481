"""Parsing pieces shared by the whole-file readers (:mod:`~analysis.corpus.readers`) and the chunked ones
(:mod:`~analysis.corpus.stream`): the CSV separator from the header row, the depth of JSON nesting, and one
JSONL line to a record, and pandas' CSV errors as messages: the same checks and messages wherever a file
is read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from analysis.corpus.decode import split_lines
from analysis.corpus.files import SNIFF_BYTES
from analysis.corpus.schema import MAX_JSON_DEPTH, CorpusError, LoadReport

_QUOTED_FIELD = re.compile(r'"[^"]*"')


def separator(text: str, fmt: str, name: str, report: LoadReport) -> str:
    """The field separator: the extension's, unless the header row holds only the other one."""
    expected, other = ("\t", ",") if fmt == "tsv" else (",", "\t")
    header = next((line for line in split_lines(text[:SNIFF_BYTES]) if line.strip()), "")
    header = _QUOTED_FIELD.sub("", header)
    if header.count(expected) == 0 and header.count(other) > 0:
        actual = "TSV" if other == "\t" else "CSV"
        report.format = actual.lower()
        report.notes.append(
            f"{name} is named .{fmt} but its header row is {'tab' if other == chr(9) else 'comma'}-separated; "
            f"read as {actual}. Rename it to .{actual.lower()} to make this explicit."
        )
        return other
    return expected


@contextmanager
def csv_errors(name: str, report: LoadReport) -> Iterator[None]:
    """pandas' CSV parsing errors inside the block as the loaders' messages: no rows, or malformed rows."""
    try:
        yield
    except pd.errors.EmptyDataError:
        raise CorpusError(f"{name}: the file has no rows. Add samples below the header.") from None
    except pd.errors.ParserError as exc:
        raise CorpusError(
            f"{name}: malformed {report.format.upper()}: {exc}. Quote fields that contain the separator "
            f"or line breaks, and make every row have the header's number of fields."
        ) from None


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text (brackets inside strings do not count).

    A scan in C (regular expressions, then a cumulative sum), so a file nested 10,000 deep is
    refused at once instead of running the decoder into Python's recursion limit.
    """
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # too few brackets to nest too deep
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    steps = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    opening = (steps == ord("[")) | (steps == ord("{"))
    depth = np.cumsum(np.where(opening, 1, -1).astype(np.int32), dtype=np.int32)
    return int(depth.max(initial=0))


def too_deep(where: str) -> CorpusError:
    return CorpusError(
        f"{where}: arrays or objects nested more than {MAX_JSON_DEPTH} levels deep. A sample is a record "
        f"of plain fields; flatten the nesting, or keep only the fields you need."
    )


def jsonl_record(line: str, number: int, name: str) -> dict | None:
    """Line ``number`` of a JSONL file as a record (a string is ``{"text": ...}``); ``None`` for a blank line."""
    if not line.strip():
        return None
    if json_depth(line) > MAX_JSON_DEPTH:  # before decoding (a line with few brackets costs two counts)
        raise too_deep(f"{name}, line {number}")
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"{name}, line {number}: malformed JSON ({exc.msg} at column {exc.colno}). "
            f"Each line must be one JSON object or string; fix or remove that line."
        ) from None
    except RecursionError:
        raise too_deep(f"{name}, line {number}") from None
    if isinstance(value, str):
        value = {"text": value}
    if not isinstance(value, dict):
        raise CorpusError(
            f"{name}, line {number}: expected a JSON object or string, got "
            f'{type(value).__name__}. Write one object per line, like {{"text": "..."}}.'
        )
    return value
