"""The file readers, one per format (CSV/TSV, JSONL, JSON, Parquet, TXT, a folder of .txt files), each turning
a file into a raw table with the file's own columns (:func:`read_table`), before any mapping to the sample table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from analysis.corpus.decode import decode_text, split_lines
from analysis.corpus.files import detect_format, folder_files, read_at_most, read_file_bytes, stat_input
from analysis.corpus.records import csv_errors, json_depth, jsonl_record, separator, too_deep
from analysis.corpus.schema import (
    DEFAULT_MAX_BYTES,
    MAX_JSON_DEPTH,
    CorpusError,
    LoadReport,
    check_encoding,
    check_max_bytes,
)
from analysis.corpus.stream import STREAMED_FORMATS, ChunkCheck, LoadProgress, read_streamed


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
    text = decode_text(raw, name, encoding, report, fmt)
    if fmt in ("csv", "tsv"):
        sep = separator(text, fmt, name, report)
        with csv_errors(name, report):
            return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True)
    if fmt == "jsonl":
        return _read_jsonl(text, name)
    if fmt == "json":
        return _read_json(text, name)
    if fmt == "txt":
        return split_lines(text)
    raise AssertionError(fmt)


def _read_jsonl(text: str, name: str) -> pd.DataFrame:
    records = [jsonl_record(line, number, name) for number, line in enumerate(split_lines(text), start=1)]
    return pd.DataFrame.from_records([record for record in records if record is not None])


def _read_json(text: str, name: str) -> pd.DataFrame:
    if json_depth(text) > MAX_JSON_DEPTH:
        raise too_deep(name)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"{name}, line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg}). "
            f"Fix the file; if it holds one object per line, name it .jsonl."
        ) from None
    except RecursionError:
        raise too_deep(name) from None
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
    files, others = folder_files(path)
    texts = [p for p in files if p.suffix.lower() == ".txt"]
    if not texts:
        raise CorpusError(
            f"{path}: the folder holds no .txt files ({len(files)} other files). Put one sample per "
            f".txt file in it, or load a CSV/JSONL/Parquet file instead."
        )
    if len(files) > len(texts):
        report.notes.append(f"Skipped {len(files) - len(texts)} file(s) in the folder that are not .txt.")
    if others:
        report.notes.append(
            f"Skipped {others} entries in the folder that are not regular files "
            f"(pipes, devices, sockets or broken links)."
        )
    rows, encodings, read = [], set(), 0
    for file in texts:
        file_report = LoadReport(path=str(file), format="txt")
        raw = read_at_most(file, str(file), max_bytes - read)
        if raw is None:
            raise CorpusError(
                f"{path}: its .txt files hold more than the {max_bytes / 1e6:,.1f} MB cap together (reached at "
                f"{file.relative_to(path)}). Split the folder, or raise the cap (max_bytes=, or --max-mb)."
            )
        read += len(raw)
        text = decode_text(raw, str(file), encoding, file_report, "txt")
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


def read_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    display_name: str | None = None,
    progress: LoadProgress | None = None,
    check: ChunkCheck | None = None,
    streaming: bool = True,
) -> tuple[pd.DataFrame, LoadReport]:
    """Parse a file or folder into a raw table with the file's own columns, before any mapping.

    TXT files become a ``text`` and a ``line`` column; a folder of .txt files a ``text``, a
    ``file`` and (with subfolders) a ``label`` column. Used to offer the columns for mapping.

    CSV, TSV, JSONL and Parquet files are read a chunk at a time (:mod:`~analysis.corpus.stream`):
    ``progress(rows, fraction)`` after each chunk, ``check(chunk, first_row)`` on each chunk as it is
    read, memory bounded by the table itself. ``streaming=False`` reads the whole file at once (the
    path before streaming, kept as the benchmark's baseline); the table and the errors are the same.
    """
    path = Path(path)
    name = display_name or path.name
    check_max_bytes(max_bytes)
    check_encoding(encoding)
    stat_input(path, name)  # a missing path, a pipe, a device or a socket stops here, unread
    fmt = detect_format(path)
    report = LoadReport(path=name, format=fmt)
    if fmt == "folder":
        return _read_folder(path, max_bytes, encoding, report), report
    if streaming and fmt in STREAMED_FORMATS:
        table = read_streamed(
            path, name, fmt, encoding=encoding, max_bytes=max_bytes, report=report, progress=progress, check=check
        )
        return table, report
    table = _read_table(name, fmt, read_file_bytes(path, name, max_bytes), encoding, report)
    if fmt == "txt":
        table = pd.DataFrame({"text": table, "line": range(1, len(table) + 1)})
    elif check is not None and len(table):
        check(table, 0)
    if progress is not None:
        progress(len(table), 1.0)
    return table, report
