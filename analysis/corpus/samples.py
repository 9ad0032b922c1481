"""The sample table: loading real and synthetic text from files, validation, load reports.

Every loader returns one pandas DataFrame in the data model of the design guide (§3):

========== ==============================================================
column     meaning
========== ==============================================================
id         unique, stable: given, or a hash of source + text
text       the sample; never empty after validation
source     ``real`` or ``synthetic``
method     ``real``, ``rule-based``, ``paraphrase``, ``llm`` or a user name
generation 0 for real data, k for the k-th recursive generation
label      optional topic / category (``None`` where unknown)
parent_id  optional: the real sample a synthetic one came from
split      ``train`` or ``holdout`` (hash-based hold-out of the real data)
========== ==============================================================

Other columns of the file are kept as metadata. A bad file raises one :class:`CorpusError`
whose message says what is wrong, where, and how to fix it.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import math
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import pandas as pd

from analysis.errors import CollapseLabError
from analysis.io import atomic_write_bytes, parquet_bytes

__all__ = [
    "CorpusError",
    "LoadReport",
    "LoadedSamples",
    "FORMATS",
    "COLUMNS",
    "DEFAULT_MAX_BYTES",
    "MAX_JSON_DEPTH",
    "DUPLICATE_POLICIES",
    "load_samples",
    "read_samples",
    "read_table",
    "samples_from_frame",
    "check_load_options",
    "combine_samples",
    "metadata_columns",
    "assign_split",
    "sample_id",
    "detect_format",
    "write_samples",
    "guess_text_column",
    "guess_label_column",
]

#: The data-model columns, in display order.
COLUMNS = ["id", "text", "source", "method", "generation", "label", "parent_id", "split"]

#: File extension -> format name.
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "txt",
}

#: Default cap on the size of one input file (bytes). Raise it with ``max_bytes=``.
DEFAULT_MAX_BYTES = 500 * 1024 * 1024

#: JSON and JSONL values nested deeper than this (arrays and objects) are refused.
MAX_JSON_DEPTH = 100

#: What loading does with exact duplicates (same source, method, generation and text) inside a file:
#: ``auto`` keeps a synthetic row's repeats (they are the symptom of collapse) and drops a real row's,
#: ``keep`` keeps every row, ``drop`` keeps the first of each.
DUPLICATE_POLICIES = ("auto", "keep", "drop")

#: Bytes looked at to sniff a file (binary or text, separator): never the whole file.
_SNIFF_BYTES = 8192
_READ_CHUNK = 1 << 20

SOURCES = ("real", "synthetic")
_SOURCE_ALIASES = {
    "real": "real",
    "human": "real",
    "original": "real",
    "gold": "real",
    "synthetic": "synthetic",
    "synth": "synthetic",
    "generated": "synthetic",
    "fake": "synthetic",
}
_LABEL_NAMES = ("label", "labels", "topic", "category", "class")
_SUPPORTED = "CSV, TSV, JSONL, JSON, Parquet or TXT (one sample per line), or a folder of .txt files"


class CorpusError(CollapseLabError, ValueError):
    """A file cannot be loaded as samples. The message says what, where, and how to fix it."""


@dataclass
class LoadReport:
    """What a load did: where the samples came from, what was chosen, dropped and changed."""

    path: str
    format: str
    encoding: str | None = None
    text_column: str | None = None
    text_column_reason: str = ""
    label_column: str | None = None
    rows_read: int = 0
    rows_kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    ids_made_unique: int = 0
    notes: list[str] = field(default_factory=list)
    #: Non-empty rows that repeat an earlier row's source, method, generation and text, and their
    #: share of the non-empty rows: measured before any row is dropped, whatever the policy.
    duplicate_rows: int = 0
    duplicate_rate: float = 0.0
    #: The duplicate policy applied (one of :data:`DUPLICATE_POLICIES`; empty where the rows were not
    #: loaded from a table, e.g. generated) and how many repeats were kept.
    duplicates: str = ""
    duplicates_kept: int = 0

    def drop(self, reason: str, count: int) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(count)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One paragraph a person can read."""
        parts = [f"{self.path}: {self.rows_kept:,} of {self.rows_read:,} rows kept ({self.format}"]
        if self.encoding:
            parts[0] += f", {self.encoding}"
        parts[0] += ")."
        if self.text_column:
            parts.append(f"Text column: '{self.text_column}' ({self.text_column_reason}).")
        if self.label_column:
            parts.append(f"Label column: '{self.label_column}'.")
        for reason, count in self.dropped.items():
            parts.append(f"Dropped {count:,}: {reason}.")
        if self.duplicates:
            parts.append(self._duplicate_sentence())
        if self.ids_made_unique:
            parts.append(f"{self.ids_made_unique:,} duplicate ids were made unique.")
        parts.extend(self.notes)
        return " ".join(parts)

    def _duplicate_sentence(self) -> str:
        sentence = f"Raw duplicate rate {100 * self.duplicate_rate:.1f} %"
        if not self.duplicate_rows:
            return sentence + "."
        sentence += f" ({self.duplicate_rows:,} rows repeat an earlier row)"
        if self.duplicates_kept == self.duplicate_rows:
            return sentence + "; kept."
        if self.duplicates_kept:
            return sentence + f"; {self.duplicates_kept:,} synthetic repeats kept, the real ones dropped."
        return sentence + "; dropped."


class LoadedSamples(NamedTuple):
    """What :func:`read_samples` returns: the sample table and its load report (unpacks as a pair)."""

    samples: pd.DataFrame
    report: LoadReport


# --------------------------------------------------------------------------- ids and splits


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode("utf-8")).hexdigest()


def sample_id(source: str, text: str) -> str:
    """The stable id of a sample that has none: a hash of its source and text."""
    return f"{source[:1]}-{_digest(source, text)[:16]}"


def assign_split(texts: pd.Series | list[str], holdout_fraction: float = 0.1) -> pd.Series:
    """Deterministic hash-based hold-out: ``holdout`` where the text's hash falls below the fraction.

    The split depends on the text alone, so it is the same across runs, machines and row orders.
    """
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    texts = pd.Series(texts, dtype=object)
    threshold = holdout_fraction * 2**32
    buckets = texts.map(lambda t: int(_digest("split", t)[:8], 16))
    return pd.Series(["holdout" if b < threshold else "train" for b in buckets], index=texts.index, dtype=object)


# --------------------------------------------------------------------------- reading files

_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: Path, name: str, mode: int) -> CorpusError:
    kind = next((text for test, text in _SPECIAL_KINDS if test(mode)), "a special file")
    via = " (through a symbolic link)" if path.is_symlink() else ""
    return CorpusError(
        f"{name}: {kind}{via}, not a regular file, so it is not read (it could block or never end). "
        f"Save the samples to an ordinary file or folder and load that."
    )


def _stat_input(path: Path, name: str) -> os.stat_result:
    """The status of a file or folder to read (symbolic links followed); special files are refused."""
    try:
        info = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise CorpusError(f"{name}: a symbolic link to {os.readlink(path)}, which does not exist.") from None
        raise CorpusError(f"{path}: no such file or folder. Check the path.") from None
    except OSError as exc:
        raise CorpusError(
            f"{name}: cannot read it ({exc.strerror or exc}). Check the path and its permissions."
        ) from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise _not_regular(path, name, info.st_mode)
    return info


def _open_regular(path: Path, name: str) -> BinaryIO:
    """Open a regular file for reading, refusing anything else before a byte is read.

    The status is checked first, so a pipe or a device is never opened; the open itself does not
    block (``O_NONBLOCK``) and is checked again, in case the path changed in between.
    """
    info = _stat_input(path, name)
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, name, info.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CorpusError(f"{name}: cannot open it ({exc.strerror or exc}). Check its permissions.") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, name, mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _over_cap(name: str, max_bytes: int, size: int | None) -> CorpusError:
    held = f"is {size / 1e6:,.1f} MB" if size is not None else f"holds more than {max_bytes / 1e6:,.1f} MB"
    return CorpusError(
        f"{name}: the file {held}, over the {max_bytes / 1e6:,.1f} MB cap. Split it into smaller files, "
        f"sample it, or raise the cap (max_bytes=, or --max-mb on the command line)."
    )


class _OverCap(Exception):
    """A file holds more bytes than allowed; ``size`` is its size where the file system tells it."""

    def __init__(self, size: int | None):
        super().__init__(size)
        self.size = size


def _read_capped(path: Path, name: str, limit: int) -> bytes:
    """A regular file's bytes, reading at most ``limit + 1`` of them whatever its reported size;
    :class:`_OverCap` if it holds more than ``limit``."""
    with _open_regular(path, name) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise _OverCap(size)
        chunks, total = [], 0
        while total <= limit:
            chunk = handle.read(min(_READ_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > limit:
        raise _OverCap(None)
    return b"".join(chunks)


def _read_bytes(path: Path, name: str, max_bytes: int) -> bytes:
    """A file's bytes, the cap enforced while reading (a file that grows, or lies about its size, stops there)."""
    try:
        raw = _read_capped(path, name, max_bytes)
    except _OverCap as over:
        raise _over_cap(name, max_bytes, over.size) from None
    if not raw.strip():
        raise CorpusError(f"{name}: the file is empty. Choose a file that holds samples.")
    return raw


def _read_prefix(path: Path, name: str, size: int = _SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a regular file (to sniff it), never more."""
    with _open_regular(path, name) as handle:
        return handle.read(size)


def detect_format(path: Path) -> str:
    """The format of a file from its extension, or a CorpusError that lists the accepted ones."""
    if path.is_dir():
        return "folder"
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        kind = "a binary file" if _looks_binary(_read_prefix(path, path.name)) else "an unknown format"
        raise CorpusError(
            f"{path.name}: {kind} ('{path.suffix or 'no extension'}'). Accepted: {_SUPPORTED}. "
            f"Save the samples in one of these formats, or rename the file if its extension is wrong."
        )
    return fmt


def _check_max_bytes(max_bytes: int) -> None:
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes <= 0:
        raise CorpusError(f"The size cap must be a positive number of bytes, got {max_bytes!r}.")


def check_load_options(
    *,
    holdout_fraction: float = 0.1,
    generation: int | None = None,
    duplicates: str = "auto",
    max_bytes: int = DEFAULT_MAX_BYTES,
    encoding: str | None = None,
) -> None:
    """Refuse loading options that cannot work, before any file is read, with a :class:`CorpusError`
    that says which option is wrong and what it accepts."""
    try:
        fraction = float(holdout_fraction)
    except (TypeError, ValueError):
        fraction = math.nan
    if isinstance(holdout_fraction, bool) or not 0.0 <= fraction < 1.0:
        raise CorpusError(
            f"The holdout must be a fraction in [0, 1), got {holdout_fraction!r}: the share of real samples "
            f"held out for evaluation, e.g. 0.1 for 10 %."
        )
    if generation is not None:
        whole = isinstance(generation, (int, np.integer)) or (isinstance(generation, float) and generation.is_integer())
        if isinstance(generation, bool) or not whole or generation < 0:
            raise CorpusError(
                f"The generation must be a whole number >= 0, got {generation!r}: 0 for real data, k for the "
                f"k-th recursive generation."
            )
    if duplicates not in DUPLICATE_POLICIES:
        raise CorpusError(
            f"Unknown duplicates policy {duplicates!r}; use one of {', '.join(DUPLICATE_POLICIES)} (auto keeps "
            f"repeats in synthetic files and drops them in real files)."
        )
    _check_max_bytes(max_bytes)
    _check_encoding(encoding)


def _looks_binary(head: bytes) -> bool:
    return b"\x00" in head


#: Byte-order marks that say the encoding, longest first (a UTF-32 LE mark starts like UTF-16 LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _check_encoding(encoding: str | None) -> None:
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise CorpusError(
                f"Unknown encoding {encoding!r}. Use a name Python knows (utf-8, utf-16, cp1252, latin-1, ...), "
                f"or leave it unset to try UTF-8, then Windows-1252, then Latin-1."
            ) from None


def _decode_as(raw: bytes, name: str, encoding: str, how: str) -> str:
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise CorpusError(
            f"{name}: cannot decode as {encoding} ({how}): {exc}. Pick the file's real encoding, "
            f"or leave the encoding unset to try UTF-8, Windows-1252 and Latin-1."
        ) from None
    return text[1:] if text.startswith("\ufeff") else text  # a byte-order mark is not text


def _decode(raw: bytes, name: str, encoding: str | None, report: LoadReport, fmt: str = "text") -> str:
    """Decode a text file's bytes, keeping its text as written.

    A given encoding is applied first (so UTF-16 and UTF-32 load); else a byte-order mark names
    it; else UTF-8, then Windows-1252, then Latin-1 (both reported). Bytes that are not text (NUL
    bytes without an encoding that explains them, NUL characters after decoding) are refused.
    """
    if encoding:
        text = _decode_as(raw, name, encoding, "the encoding given")
        report.encoding = encoding
    else:
        bom = next((codec for mark, codec in _BOMS if raw.startswith(mark)), None)
        if bom and bom != "utf-8-sig":
            text = _decode_as(raw, name, bom, "its byte-order mark says so")
            report.encoding = bom
            report.notes.append(f"{name} starts with a {bom.upper()} byte-order mark; decoded as {bom.upper()}.")
        else:
            if b"\x00" in raw:
                raise CorpusError(_binary_message(raw, name, fmt))
            body = raw[len(codecs.BOM_UTF8) :] if bom else raw
            try:
                text = body.decode("utf-8")
                report.encoding = bom or "utf-8"
            except UnicodeDecodeError as exc:
                fallback = "cp1252"
                try:
                    text = body.decode(fallback)
                except UnicodeDecodeError:
                    fallback, text = "latin-1", body.decode("latin-1")
                report.encoding = fallback
                report.notes.append(
                    f"{name} is not valid UTF-8 (first bad byte at offset {exc.start}); decoded as "
                    f"{'Windows-1252 (cp1252)' if fallback == 'cp1252' else 'Latin-1'} instead. If characters "
                    f"look wrong, re-save the file as UTF-8 or give its encoding (encoding=, --encoding)."
                )
    nul = text.find("\x00")
    if nul >= 0:
        raise CorpusError(
            f"{name}: holds a NUL character (at character {nul:,} after decoding as {report.encoding}), so it "
            f"is not {fmt.upper()} text. Give the file's real encoding, or export the samples as text."
        )
    return text


def _binary_message(raw: bytes, name: str, fmt: str) -> str:
    offset = raw.find(b"\x00")
    head = raw[:_SNIFF_BYTES]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if len(head) >= 4 and max(even, odd) >= 0.3 * len(head) / 2 and min(even, odd) <= 0.05 * len(head) / 2:
        order = "le" if odd > even else "be"
        return (
            f"{name}: holds NUL bytes at every other position: it looks like UTF-16 text without a "
            f"byte-order mark. Load it with encoding='utf-16-{order}' (--encoding utf-16-{order}), or "
            f"re-save it as UTF-8."
        )
    return (
        f"{name}: looks binary (a NUL byte at offset {offset:,}), not {fmt.upper()} text. "
        f"Export the samples as text ({_SUPPORTED}), or give the file's encoding if it is UTF-16 or UTF-32."
    )


#: Line breaks of a text file: only these, never the other characters str.splitlines() splits on
#: (U+2028, U+2029, U+0085, form feed, vertical tab, ...), which are text inside a line.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split_lines(text: str) -> list[str]:
    """Lines split on \\n, \\r\\n and \\r only; a final line break ends the last line, it adds none."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


_QUOTED_FIELD = re.compile(r'"[^"]*"')


def _separator(text: str, fmt: str, name: str, report: LoadReport) -> str:
    """The field separator: the extension's, unless the header row holds only the other one."""
    expected, other = ("\t", ",") if fmt == "tsv" else (",", "\t")
    header = next((line for line in _split_lines(text[:_SNIFF_BYTES]) if line.strip()), "")
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


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _json_depth(text: str) -> int:
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


def _too_deep(where: str) -> CorpusError:
    return CorpusError(
        f"{where}: arrays or objects nested more than {MAX_JSON_DEPTH} levels deep. A sample is a record "
        f"of plain fields; flatten the nesting, or keep only the fields you need."
    )


def _read_table(name: str, fmt: str, raw: bytes, encoding: str | None, report: LoadReport):
    """Parse a file's bytes into a DataFrame (or a list of strings for TXT)."""
    if fmt == "parquet":
        if not raw.startswith(b"PAR1"):
            raise CorpusError(
                f"{name}: not a Parquet file (no PAR1 magic bytes). Check that it was written as "
                f"Parquet, or rename it to its real format."
            )
        try:
            return pd.read_parquet(io.BytesIO(raw))
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise CorpusError(f"{name}: the Parquet file is damaged or unreadable ({exc}). Re-export it.") from None
    text = _decode(raw, name, encoding, report, fmt)
    if fmt in ("csv", "tsv"):
        separator = _separator(text, fmt, name, report)
        try:
            return pd.read_csv(
                io.StringIO(text),
                sep=separator,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=True,
            )
        except pd.errors.EmptyDataError:
            raise CorpusError(f"{name}: the file has no rows. Add samples below the header.") from None
        except pd.errors.ParserError as exc:
            raise CorpusError(
                f"{name}: malformed {report.format.upper()}: {exc}. Quote fields that contain the separator "
                f"or line breaks, and make every row have the header's number of fields."
            ) from None
    if fmt == "jsonl":
        return _read_jsonl(text, name)
    if fmt == "json":
        return _read_json(text, name)
    if fmt == "txt":
        return _split_lines(text)
    raise AssertionError(fmt)


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    records = []
    for number, line in enumerate(_split_lines(text), start=1):
        if not line.strip():
            continue
        if _json_depth(line) > MAX_JSON_DEPTH:  # before decoding (a line with few brackets costs two counts)
            raise _too_deep(f"{name}, line {number}")
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(
                f"{name}, line {number}: malformed JSON ({exc.msg} at column {exc.colno}). "
                f"Each line must be one JSON object or string; fix or remove that line."
            ) from None
        except RecursionError:
            raise _too_deep(f"{name}, line {number}") from None
        if isinstance(value, str):
            value = {"text": value}
        if not isinstance(value, dict):
            raise CorpusError(
                f"{name}, line {number}: expected a JSON object or string, got "
                f'{type(value).__name__}. Write one object per line, like {{"text": "..."}}.'
            )
        records.append(value)
    return pd.DataFrame.from_records(records)


def _read_json(text: str, name: str) -> pd.DataFrame:
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise _too_deep(name)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"{name}, line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg}). "
            f"Fix the file; if it holds one object per line, name it .jsonl."
        ) from None
    except RecursionError:
        raise _too_deep(name) from None
    if isinstance(value, dict):
        # {"data": [...]} / {"samples": [...]}, a dict of records keyed by name, or columns
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(value) == 1 and lists:
            value = lists[0]
        elif value and all(isinstance(v, dict) for v in value.values()):
            value = [{"key": k, **v} for k, v in value.items()]
        elif value and all(isinstance(v, list) for v in value.values()):
            try:
                return pd.DataFrame(value)
            except ValueError as exc:
                raise CorpusError(f"{name}: the JSON columns have different lengths ({exc}).") from None
    if not isinstance(value, list):
        raise CorpusError(
            f"{name}: expected a JSON list of records or of strings, got {type(value).__name__}. "
            f'Write [{{"text": "..."}}, ...] or ["...", ...].'
        )
    if all(isinstance(v, str) for v in value):
        return pd.DataFrame({"text": value})
    bad = next((i for i, v in enumerate(value) if not isinstance(v, (dict, str))), None)
    if bad is not None:
        raise CorpusError(
            f"{name}: item {bad} of the JSON list is a {type(value[bad]).__name__}; every item must "
            f"be an object (a record) or a string."
        )
    return pd.DataFrame.from_records([{"text": v} if isinstance(v, str) else v for v in value])


def _read_folder(path: Path, max_bytes: int, encoding: str | None, report: LoadReport) -> pd.DataFrame:
    """A folder of .txt files: one sample per file; a subfolder's name becomes the label.

    Only regular files are read (pipes, devices and sockets in the folder are skipped and
    counted), and ``max_bytes`` bounds the bytes read from all of them together.
    """
    entries = sorted(p for p in path.rglob("*") if not p.name.startswith(".") and not p.is_dir())
    files = [p for p in entries if p.is_file()]
    texts = [p for p in files if p.suffix.lower() == ".txt"]
    if not texts:
        raise CorpusError(
            f"{path}: the folder holds no .txt files ({len(files)} other files). Put one sample per "
            f".txt file in it, or load a CSV/JSONL/Parquet file instead."
        )
    if len(files) > len(texts):
        report.notes.append(f"Skipped {len(files) - len(texts)} file(s) in the folder that are not .txt.")
    if len(entries) > len(files):
        report.notes.append(
            f"Skipped {len(entries) - len(files)} entries in the folder that are not regular files "
            f"(pipes, devices, sockets or broken links)."
        )
    rows, encodings, read = [], set(), 0
    for file in texts:
        file_report = LoadReport(path=str(file), format="txt")
        try:
            raw = _read_capped(file, str(file), max_bytes - read)
        except _OverCap:
            raise CorpusError(
                f"{path}: its .txt files hold more than the {max_bytes / 1e6:,.1f} MB cap together (reached at "
                f"{file.relative_to(path)}). Split the folder, or raise the cap (max_bytes=, or --max-mb)."
            ) from None
        read += len(raw)
        text = _decode(raw, str(file), encoding, file_report, "txt")
        encodings.add(file_report.encoding)
        report.notes.extend(file_report.notes)
        relative = file.relative_to(path)
        label = relative.parts[0] if len(relative.parts) > 1 else None
        rows.append({"text": text.strip(), "file": str(relative), "label": label})
    report.encoding = ", ".join(sorted(e for e in encodings if e))
    frame = pd.DataFrame(rows)
    if frame["label"].isna().all():
        frame = frame.drop(columns="label")
    return frame


# --------------------------------------------------------------------------- columns


def _is_text_like(series: pd.Series) -> bool:
    values = series.dropna()
    if values.empty:
        return False
    strings = values[values.map(lambda v: isinstance(v, str))]
    if len(strings) < 0.9 * len(values):
        return False
    # CSV cells are read as strings: a column of numbers written as text is not text
    return bool(pd.to_numeric(strings, errors="coerce").isna().mean() >= 0.5)


def guess_text_column(frame: pd.DataFrame, name: str) -> tuple[str, str]:
    """The string column with the longest mean length, and why it was chosen."""
    lengths = {
        column: frame[column].dropna().map(lambda v: len(v) if isinstance(v, str) else 0).mean()
        for column in frame.columns
        if column not in ("id", "source", "method", "split", "label", "parent_id") and _is_text_like(frame[column])
    }
    if not lengths:
        raise CorpusError(
            f"{name}: no text-like column found. Columns: {', '.join(map(str, frame.columns))}. "
            f"Add a column of sample texts, or name it with text_column= (--text-column)."
        )
    best = max(lengths, key=lengths.get)
    if len(lengths) == 1:
        return best, "the only text column"
    return best, f"longest mean length, {lengths[best]:.0f} characters, of {len(lengths)} text columns"


def guess_label_column(frame: pd.DataFrame, text_column: str | None = None) -> str | None:
    """A column named label, labels, topic, category or class (in that order), if there is one."""
    return next((c for c in _LABEL_NAMES if c in frame.columns and c != text_column), None)


def _require_column(frame: pd.DataFrame, column: str, role: str, name: str) -> None:
    if column not in frame.columns:
        raise CorpusError(
            f"{name}: no column '{column}' for the {role}. Columns: "
            f"{', '.join(map(str, frame.columns))}. Pick one of these."
        )


def _as_text(value: Any) -> str:
    """A cell as sample text: strings stripped, numbers written out, missing values empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return (value if isinstance(value, str) else str(value)).strip()


def _normalise_source(values: pd.Series, name: str) -> pd.Series:
    mapped = values.astype(str).str.strip().str.lower().map(_SOURCE_ALIASES)
    bad = sorted(set(values[mapped.isna()].astype(str)))
    if bad:
        raise CorpusError(
            f"{name}, column 'source': unknown value(s) {', '.join(repr(b) for b in bad[:5])}. "
            f"Use 'real' or 'synthetic'."
        )
    return mapped


def samples_from_frame(
    frame: pd.DataFrame,
    *,
    name: str = "<table>",
    text_column: str | None = None,
    source: str | None = None,
    method: str | None = None,
    generation: int | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    holdout_fraction: float = 0.1,
    duplicates: str = "auto",
    report: LoadReport | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """Turn any table of texts into the sample table: pick columns, validate, drop, split.

    Columns named like the data model (``id``, ``source``, ``method``, ``generation``,
    ``label``, ``parent_id``) are used as they are unless an argument overrides them.
    ``duplicates`` is one of :data:`DUPLICATE_POLICIES` (see :func:`read_samples`).
    """
    check_load_options(holdout_fraction=holdout_fraction, generation=generation, duplicates=duplicates)
    report = report or LoadReport(path=name, format="table")
    frame = frame.copy().reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    report.rows_read = len(frame)
    if frame.empty:
        raise CorpusError(f"{name}: the file has no rows. Add samples to it.")

    if text_column is None:
        text_column, report.text_column_reason = guess_text_column(frame, name)
    else:
        _require_column(frame, text_column, "text", name)
        report.text_column_reason = report.text_column_reason or "chosen by the user"
    report.text_column = text_column

    if label_column is None:
        label_column = guess_label_column(frame, text_column)
    elif label_column:
        _require_column(frame, label_column, "label", name)
    report.label_column = label_column or None
    if id_column:
        _require_column(frame, id_column, "id", name)
    elif "id" in frame.columns and text_column != "id":
        id_column = "id"

    out = pd.DataFrame(index=frame.index)
    out["text"] = frame[text_column].map(_as_text)

    # source and method: argument > column > default (real)
    if source is not None:
        if source not in SOURCES:
            raise CorpusError(f"source must be 'real' or 'synthetic', got {source!r}.")
        out["source"] = source
    elif "source" in frame.columns:
        out["source"] = _normalise_source(frame["source"], name)
    elif method not in (None, "real"):
        out["source"] = "synthetic"
    else:
        out["source"] = "real"
    if method is not None:
        out["method"] = method.strip() or "synthetic"
    elif "method" in frame.columns:
        out["method"] = frame["method"].astype(str).str.strip()
    else:
        out["method"] = out["source"].map({"real": "real", "synthetic": "synthetic"})
    out.loc[out["source"] == "real", "method"] = "real"
    out.loc[(out["source"] == "synthetic") & (out["method"].isin(["", "real"])), "method"] = "synthetic"

    if generation is not None:
        out["generation"] = int(generation)
    elif "generation" in frame.columns:
        numbers = pd.to_numeric(frame["generation"], errors="coerce")
        if numbers.isna().any() or (numbers < 0).any() or (numbers % 1 != 0).any():
            row = int(numbers.index[(numbers.isna()) | (numbers < 0) | (numbers % 1 != 0)][0])
            raise CorpusError(
                f"{name}, column 'generation', row {row + 1}: {frame['generation'].iloc[row]!r} is "
                f"not a whole number >= 0. Use 0 for real data and k for the k-th generation."
            )
        out["generation"] = numbers.astype(int)
    else:
        out["generation"] = (out["source"] == "synthetic").astype(int)
    real = out["source"] == "real"
    moved = int((out.loc[real, "generation"] != 0).sum())
    if moved:
        report.notes.append(f"{moved:,} real row(s) had a generation other than 0; set to 0.")
    out.loc[real, "generation"] = 0
    out["generation"] = out["generation"].astype("int64")

    if label_column:
        out["label"] = frame[label_column].map(
            lambda v: (
                None if v is None or (isinstance(v, float) and pd.isna(v)) or str(v).strip() == "" else str(v).strip()
            )
        )
    else:
        out["label"] = None
    if "parent_id" in frame.columns:
        out["parent_id"] = frame["parent_id"].map(lambda v: None if pd.isna(v) or v == "" else str(v))
    else:
        out["parent_id"] = None

    given_ids = frame[id_column].astype(str) if id_column else None
    metadata = [
        c
        for c in frame.columns
        if c not in {text_column, label_column, id_column, "source", "method", "generation", "parent_id", "split"}
    ]

    # drop what is not a sample, and say why; measure repeats before any is dropped
    empty = (out["text"] == "").to_numpy()
    report.drop("empty text", int(empty.sum()))
    if empty.all():
        raise CorpusError(
            f"{name}: all {len(out):,} texts in column '{text_column}' are empty. "
            f"Choose the column that holds the samples (text_column=, --text-column)."
        )
    repeat = np.zeros(len(out), dtype=bool)
    repeat[~empty] = out[~empty].duplicated(subset=["source", "method", "generation", "text"], keep="first").to_numpy()
    report.duplicates = duplicates
    report.duplicate_rows = int(repeat.sum())
    report.duplicate_rate = report.duplicate_rows / int((~empty).sum())
    if duplicates == "keep":
        dropped = np.zeros(len(out), dtype=bool)
    elif duplicates == "drop":
        dropped = repeat
    else:  # auto: repeated synthetic outputs are the symptom of collapse; repeated real rows are noise
        dropped = repeat & (out["source"] == "real").to_numpy()
    report.drop("exact duplicate of an earlier row", int(dropped.sum()))
    report.duplicates_kept = int((repeat & ~dropped).sum())
    keep = ~empty & ~dropped
    out = out[keep]
    generated = pd.Series([sample_id(s, t) for s, t in zip(out["source"], out["text"])], index=out.index, dtype=object)
    if given_ids is not None:
        ids = given_ids[keep]
        missing = ids.str.strip().isin(["", "nan", "None"])
        out["id"] = ids.where(~missing, generated)
    else:
        missing = pd.Series(True, index=out.index)
        out["id"] = generated
    out["id"], changed = _unique_ids(out["id"])
    # a kept repeat's hash id becomes id-2, id-3, ...: reported as a repeat, not as a clash of given ids
    report.ids_made_unique = int((changed & ~(missing.to_numpy() & repeat[keep])).sum())

    out["split"] = "train"
    if real.any():
        out.loc[out["source"] == "real", "split"] = assign_split(
            out.loc[out["source"] == "real", "text"], holdout_fraction
        )
    for column in metadata:
        out[column] = frame.loc[out.index, column]
    out = out[COLUMNS + metadata].reset_index(drop=True)
    report.rows_kept = len(out)
    return out, report


def _unique_ids(ids: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Suffix repeated ids with -2, -3, ...; returns the new ids and a mask of the changed ones."""
    seen: dict[str, int] = {}
    taken = set(ids)
    result, changed = [], np.zeros(len(ids), dtype=bool)
    for position, value in enumerate(ids):
        if value in seen:
            n = seen[value]
            while f"{value}-{n}" in taken:
                n += 1
            seen[value] = n + 1
            new = f"{value}-{n}"
            taken.add(new)
            result.append(new)
            changed[position] = True
        else:
            seen[value] = 2
            result.append(value)
    return pd.Series(result, index=ids.index, dtype=object), changed


def _make_unique(ids: pd.Series) -> tuple[pd.Series, int]:
    """Suffix repeated ids with -2, -3, ...; returns the new ids and how many changed."""
    unique, changed = _unique_ids(ids)
    return unique, int(changed.sum())


# --------------------------------------------------------------------------- public entry points


def read_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    display_name: str | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """Parse a file or folder into a raw table with the file's own columns, before any mapping.

    TXT files become a ``text`` and a ``line`` column; a folder of .txt files a ``text``, a
    ``file`` and (with subfolders) a ``label`` column. Used to offer the columns for mapping.
    """
    path = Path(path)
    name = display_name or path.name
    _check_max_bytes(max_bytes)
    _check_encoding(encoding)
    _stat_input(path, name)  # a missing path, a pipe, a device or a socket stops here, unread
    fmt = detect_format(path)
    report = LoadReport(path=name, format=fmt)
    if fmt == "folder":
        return _read_folder(path, max_bytes, encoding, report), report
    table = _read_table(name, fmt, _read_bytes(path, name, max_bytes), encoding, report)
    if fmt == "txt":
        table = pd.DataFrame({"text": table, "line": range(1, len(table) + 1)})
    return table, report


def read_samples(
    path: str | Path,
    *,
    text_column: str | None = None,
    source: str | None = None,
    method: str | None = None,
    generation: int | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    holdout_fraction: float = 0.1,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    display_name: str | None = None,
    duplicates: str = "auto",
) -> LoadedSamples:
    """Load samples from a file or folder; return the sample table and its :class:`LoadReport`.

    Parameters
    ----------
    path
        A CSV, TSV, JSONL, JSON (records, or a list of strings), Parquet or TXT file (one sample
        per line), or a folder of ``.txt`` files (one sample per file; a subfolder name is the
        label).
    text_column
        The column that holds the samples. Default: the string column with the longest mean
        length (the report says which one it chose).
    source, method, generation
        Override the file's ``source`` / ``method`` / ``generation`` columns. A file without them
        is real data unless a synthetic method is given.
    label_column
        The topic / category column. Default: a column named label, topic, category or class;
        ``""`` for none.
    id_column
        The id column. Default: ``id`` if present, else a hash of source + text.
    holdout_fraction
        Share of the real samples put in the ``holdout`` split, by a hash of the text.
    encoding
        Force an encoding (applied before any other check, so ``"utf-16"`` loads UTF-16). Default:
        the byte-order mark's (UTF-8, UTF-16, UTF-32), else UTF-8, then Windows-1252, then Latin-1
        (reported). Lines end at ``\n``, ``\r\n`` or ``\r`` only.
    max_bytes
        Refuse files (a folder: its files together) larger than this; never more is read.
        Pipes, devices and sockets are refused unread.
    display_name
        The name used in messages (for uploads stored under another file name).
    duplicates
        Exact duplicates (same source, method, generation and text) inside the file: ``"auto"``
        keeps a synthetic row's repeats (repeated outputs are the symptom of collapse) and drops a
        real row's; ``"keep"`` keeps all, ``"drop"`` the first of each. A kept repeat's generated id
        gets ``-2``, ``-3``, ... The report gives the raw duplicate rate either way.

    Raises
    ------
    CorpusError
        For every input that cannot be loaded, with what is wrong, where and how to fix it.
    """
    check_load_options(
        holdout_fraction=holdout_fraction,
        generation=generation,
        duplicates=duplicates,
        max_bytes=max_bytes,
        encoding=encoding,
    )
    frame, report = read_table(path, encoding=encoding, max_bytes=max_bytes, display_name=display_name)
    if text_column is None and report.format in ("txt", "folder"):
        text_column = "text"
        report.text_column_reason = "one sample per " + ("line" if report.format == "txt" else ".txt file")
    name = report.path
    return LoadedSamples(
        *samples_from_frame(
            frame,
            name=name,
            text_column=text_column,
            source=source,
            method=method,
            generation=generation,
            label_column=label_column,
            id_column=id_column,
            holdout_fraction=holdout_fraction,
            duplicates=duplicates,
            report=report,
        )
    )


def load_samples(path: str | Path, **options: Any) -> pd.DataFrame:
    """Load samples from a file or folder into the sample table.

    Same parameters as :func:`read_samples`, which also returns the :class:`LoadReport`
    (``read_samples(path).report``): what was kept, dropped and chosen.
    """
    return read_samples(path, **options).samples


def combine_samples(*tables: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Concatenate sample tables, keeping ids unique; returns the table and how many ids changed."""
    tables = [t for t in tables if t is not None and len(t)]
    if not tables:
        return pd.DataFrame(columns=COLUMNS), 0
    combined = pd.concat(tables, ignore_index=True, sort=False)
    combined["id"], changed = _make_unique(combined["id"].astype(str))
    return combined[COLUMNS + metadata_columns(combined)], changed


def metadata_columns(samples: pd.DataFrame) -> list[str]:
    """The columns of a sample table beyond the data model's :data:`COLUMNS`, in table order."""
    return [c for c in samples.columns if c not in COLUMNS]


#: Output formats of :func:`write_samples`, by extension.
WRITE_FORMATS = (".csv", ".jsonl", ".parquet")


def write_samples(samples: pd.DataFrame, path: str | Path) -> Path:
    """Write a sample table as CSV, JSONL or Parquet (by extension), atomically.

    In Parquet, metadata columns of mixed types are stored as text.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":  # for spreadsheets: formula-leading cells get a leading ' (analysis.export)
        from analysis.export import csv_bytes

        data = csv_bytes(samples)
    elif suffix == ".jsonl":
        data = samples.to_json(orient="records", lines=True, force_ascii=False).encode("utf-8")
    elif suffix == ".parquet":
        data = parquet_bytes(samples, as_text=metadata_columns(samples))
    else:
        raise CorpusError(f"{path.name}: cannot write '{suffix}'; use one of {', '.join(WRITE_FORMATS)}.")
    atomic_write_bytes(path, data)
    return path
