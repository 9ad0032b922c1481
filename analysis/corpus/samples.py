"""Any table of texts to the sample table (columns picked, validated, duplicates handled, ids made unique, the
hold-out split assigned), and the public entry points that load files into it (:func:`read_samples`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.corpus.readers import read_table
from analysis.corpus.schema import (
    COLUMNS,
    DEFAULT_MAX_BYTES,
    SOURCES,
    CorpusError,
    LoadedSamples,
    LoadReport,
    check_load_options,
    holdout_rows,
    ids_from_digests,
    metadata_columns,
    source_text_digests,
)
from analysis.corpus.stream import ChunkCheck, LoadProgress

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


# --------------------------------------------------------------------------- columns


#: A character that no number pandas.to_numeric reads can hold (anything but digits, spaces, signs, points and
#: the letters of e, inf, infinity, nan, true, false, 0x): a string with one is text, without parsing it.
_NEVER_NUMERIC = r"[^\p{N}\p{Z}\s+\-._eEiInNfFtTyYaArRuUlLsSxX]"


def _all_strings(series: pd.Series) -> bool:
    """Whether every non-missing value is a ``str`` by the column's type (a CSV column, Arrow strings)."""
    return isinstance(series.dtype, pd.StringDtype)


def _is_text_like(series: pd.Series) -> bool:
    values = series.dropna()
    if values.empty:
        return False
    strings = values if _all_strings(values) else values[values.map(lambda v: isinstance(v, str))]
    if len(strings) < 0.9 * len(values):
        return False
    # CSV cells are read as strings: a column of numbers written as text is not text
    if _all_strings(strings) and strings.dtype.storage == "pyarrow":
        maybe_numbers = strings[~strings.str.contains(_NEVER_NUMERIC, regex=True)]  # in C++: most texts stop here
        not_numbers = (
            len(strings) - len(maybe_numbers) + int(pd.to_numeric(maybe_numbers, errors="coerce").isna().sum())
        )
        return bool(not_numbers / len(strings) >= 0.5)
    return bool(pd.to_numeric(strings, errors="coerce").isna().mean() >= 0.5)


def _mean_length(series: pd.Series) -> float:
    values = series.dropna()
    if _all_strings(values):
        return values.str.len().astype("int64").mean()
    return values.map(lambda v: len(v) if isinstance(v, str) else 0).mean()


def guess_text_column(frame: pd.DataFrame, name: str) -> tuple[str, str]:
    """The string column with the longest mean length, and why it was chosen."""
    if frame.empty:  # before the columns: an empty file has no text-like column, but the news is that it is empty
        raise CorpusError(f"{name}: the file has no rows. Add samples to it.")
    lengths = {
        column: _mean_length(frame[column])
        for column in frame.columns
        if column not in ("id", "source", "method", "split", "label", "parent_id") and _is_text_like(frame[column])
    }
    if not lengths:
        raise CorpusError(
            f"{name}: no text-like column found. Columns: {', '.join(map(str, frame.columns))}. "
            f"Add a column of sample texts, or name it with text_column= (--text-column)."
        )
    best = max(lengths, key=lambda column: lengths[column])
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
    """A cell as sample text: strings stripped, numbers written out, missing values empty; a list (a
    Parquet or JSON list column) is its items joined by spaces, not Python's or numpy's repr."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple, np.ndarray)):
        return " ".join(text for text in map(_as_text, value) if text)
    return str(value).strip()


#: A string that starts or ends with a character ``str.strip`` removes (all of Python's whitespace).
_PADDED = "^[{0}]|[{0}]$".format("".join(f"\\x{{{ord(c):x}}}" for c in map(chr, range(0x3001)) if c.isspace()))


def _texts(series: pd.Series) -> pd.Series:
    """:func:`_as_text` of every cell; a column of strings is stripped in one vectorised call (the same
    characters as ``str.strip``), and not copied at all when no cell needs it."""
    if _all_strings(series):
        series = series.fillna("")
        if series.dtype.storage == "pyarrow" and not series.str.contains(_PADDED, regex=True).any():
            return series
        return series.str.strip()
    return series.map(_as_text)


def _labels(series: pd.Series) -> pd.Series:
    """Labels as stripped text, ``None`` where missing or blank."""
    if _all_strings(series):
        stripped = series.str.strip()
        return stripped.mask(stripped == "")  # as the cell-by-cell map gives: strings, missing where blank
    return series.map(
        lambda v: None if v is None or (isinstance(v, float) and pd.isna(v)) or str(v).strip() == "" else str(v).strip()
    )


def _parent_ids(series: pd.Series) -> pd.Series:
    if _all_strings(series):
        return series.mask(series == "")
    return series.map(lambda v: None if pd.isna(v) or v == "" else str(v))


def _normalise_source(values: pd.Series, name: str) -> pd.Series:
    """The ``source`` column as ``real`` / ``synthetic``; an unknown value names the first row that holds one
    (the series' index: the row in the file, counted from 0)."""
    mapped = values.astype(str).str.strip().str.lower().map(_SOURCE_ALIASES)
    unknown = mapped.isna()
    if unknown.any():
        bad = sorted(set(values[unknown].astype(str)))
        raise CorpusError(
            f"{name}, column 'source': unknown value(s) {', '.join(repr(b) for b in bad[:5])} (first at row "
            f"{int(unknown.idxmax()) + 1}). Use 'real' or 'synthetic'."
        )
    return mapped


def _generation_numbers(values: pd.Series, name: str) -> pd.Series:
    """The ``generation`` column as numbers; a value that is not a whole number >= 0 names its row
    (the series' index: the row in the file, counted from 0)."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | (numbers < 0) | (numbers % 1 != 0)
    if bad.any():
        row = bad.idxmax()
        raise CorpusError(
            f"{name}, column 'generation', row {int(row) + 1}: {values.loc[row]!r} is "
            f"not a whole number >= 0. Use 0 for real data and k for the k-th generation."
        )
    return numbers


def row_checks(name: str, *, source: str | None = None, generation: int | None = None) -> ChunkCheck:
    """The checks of single rows that :func:`samples_from_frame` makes (the ``source`` and ``generation``
    columns, where no argument overrides them), as a ``check(chunk, first_row)`` for a streamed read: a bad
    row far into a big file is reported when its chunk is read, with its row number in the file."""

    def check(chunk: pd.DataFrame, first_row: int) -> None:
        if source is None and "source" in chunk.columns:
            _normalise_source(chunk["source"], name)
        if generation is None and "generation" in chunk.columns:
            _generation_numbers(chunk["generation"], name)

    return check


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
    out["text"] = _texts(frame[text_column])

    # source and method: argument > column > default (real)
    if source is not None:
        if source not in SOURCES:
            raise CorpusError(f"source must be 'real' or 'synthetic', got {source!r}.")
        if "source" in frame.columns:  # overridden, but a value that is neither is a mistake in the file: named
            told = _normalise_source(frame["source"], name)
            if (differ := int((told != source).sum())) > 0:
                report.notes.append(f"{differ:,} row(s) whose 'source' column says otherwise were loaded as {source}.")
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
        numbers = _generation_numbers(frame["generation"], name)
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
        out["label"] = _labels(frame[label_column])
    else:
        out["label"] = None
    if "parent_id" in frame.columns:
        out["parent_id"] = _parent_ids(frame["parent_id"])
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
    digests = source_text_digests(out["source"], out["text"])  # the id hash of every row, also the repeat key
    repeat[~empty] = _repeats(out, digests)[~empty]
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
    if not keep.all():  # (a row selection copies every column: skipped when nothing is dropped)
        out = out[keep]
    kept_digests = digests if len(out) == len(digests) else [d for d, k in zip(digests, keep) if k]
    del digests
    generated = pd.Series(ids_from_digests(out["source"], kept_digests), index=out.index, dtype=object)
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

    held_out = holdout_rows(out["text"], (out["source"] == "real").to_numpy(), holdout_fraction)
    out["split"] = np.where(held_out, "holdout", "train").astype(object)
    for column in metadata:
        out[column] = frame[column] if len(out) == len(frame) else frame.loc[out.index, column]
    out = out[COLUMNS + metadata].reset_index(drop=True)
    report.rows_kept = len(out)
    return out, report


def _repeats(table: pd.DataFrame, digests: list[bytes]) -> np.ndarray:
    """Rows that repeat an earlier row's source, method, generation and text (``DataFrame.duplicated`` on those
    columns), found on integers: the SHA-1 of source and text (``digests``, one per row; two different texts
    share one only on a SHA-1 collision) and the codes of method and generation. No copy of the texts."""
    if not len(table):
        return np.zeros(0, dtype=bool)
    words = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 20)
    key = pd.DataFrame(
        {
            "head": words[:, :8].copy().view(np.uint64).ravel(),
            "middle": words[:, 8:16].copy().view(np.uint64).ravel(),
            "tail": words[:, 16:].copy().view(np.uint32).ravel(),
            "method": _codes(table["method"]),
            "generation": table["generation"].to_numpy(),
        }
    )
    return key.duplicated(keep="first").to_numpy()


def _codes(series: pd.Series) -> np.ndarray:
    """Integer codes, equal where the values are equal: Arrow's dictionary encoding for Arrow strings (in C++,
    without turning them into Python strings), else ``pandas.factorize``."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow" and len(series):
        import pyarrow as pa
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(pa.chunked_array(series.array.__arrow_array__()), null_encoding="encode")
        if len({len(chunk.dictionary) for chunk in encoded.chunks}) == 1:  # one dictionary for all chunks
            return np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks])
    return pd.factorize(series, use_na_sentinel=False)[0]


def _unique_ids(ids: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Suffix repeated ids with -2, -3, ...; returns the new ids and a mask of the changed ones."""
    if ids.is_unique:  # the usual case, checked in C: nothing to rename
        return ids.astype(object), np.zeros(len(ids), dtype=bool)
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
    progress: LoadProgress | None = None,
    streaming: bool = True,
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
    progress
        Called as ``progress(rows_read, fraction_of_the_file)`` while a CSV, TSV, JSONL or Parquet file is
        read a chunk at a time (:mod:`~analysis.corpus.stream`), never decreasing, ending at 1.0.
    streaming
        ``False`` reads the whole file at once (the path before streaming, kept as a baseline); the
        table and the errors are the same.

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
    frame, report = read_table(
        path,
        encoding=encoding,
        max_bytes=max_bytes,
        display_name=display_name,
        progress=progress,
        check=row_checks(display_name or Path(path).name, source=source, generation=generation) if streaming else None,
        streaming=streaming,
    )
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
    kept = [t for t in tables if t is not None and len(t)]
    if not kept:
        return pd.DataFrame(columns=COLUMNS), 0
    combined = pd.concat(kept, ignore_index=True, sort=False)
    combined["id"], changed = _make_unique(combined["id"].astype(str))
    return combined[COLUMNS + metadata_columns(combined)], changed
