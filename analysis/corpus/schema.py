"""The sample table's schema: its columns, the load options and their checks, the load report, ids and splits.

Every loader of :mod:`analysis.corpus` returns one pandas DataFrame in the data model of the design guide (§3):

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
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from analysis.errors import CollapseLabError

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

#: The two sources of a sample.
SOURCES = ("real", "synthetic")
#: The accepted input formats, as a sentence for messages.
ACCEPTED_FORMATS = "CSV, TSV, JSONL, JSON, Parquet or TXT (one sample per line), or a folder of .txt files"


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


#: Values turned into Python strings at a time when a column is hashed row by row.
_HASH_BLOCK = 1 << 16


def _strings(values: pd.Series | Iterable[str]) -> Iterator[str]:
    """The values one at a time; a Series is turned into Python strings a block at a time (a column of Arrow
    strings is never copied whole into Python strings)."""
    if not isinstance(values, pd.Series):
        yield from values
        return
    for start in range(0, len(values), _HASH_BLOCK):
        yield from values.iloc[start : start + _HASH_BLOCK].tolist()


def source_text_digests(sources: pd.Series | Iterable[str], texts: pd.Series | Iterable[str]) -> list[bytes]:
    """The SHA-1 digest of each (source, text) pair, the hash :func:`sample_id` is made of: one SHA-1 per row
    (no vectorised SHA-1 exists), the columns read a block at a time."""
    sha1 = hashlib.sha1
    return [sha1((s + "\x00" + t).encode()).digest() for s, t in zip(_strings(sources), _strings(texts))]


def ids_from_digests(sources: pd.Series | Iterable[str], digests: Iterable[bytes]) -> list[str]:
    """:func:`sample_id` of each row from its :func:`source_text_digests` digest."""
    return [s[:1] + "-" + digest[:8].hex() for s, digest in zip(_strings(sources), digests)]


def assign_split(texts: pd.Series | list[str], holdout_fraction: float = 0.1) -> pd.Series:
    """Deterministic hash-based hold-out: ``holdout`` where the text's hash falls below the fraction.

    The split depends on the text alone, so it is the same across runs, machines and row orders.
    """
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    index = texts.index if isinstance(texts, pd.Series) else pd.RangeIndex(len(texts))
    sha1 = hashlib.sha1  # one text at a time: a column of Arrow strings is never copied whole into Python strings
    buckets = np.fromiter(
        (int(sha1(("split\x00" + t).encode()).hexdigest()[:8], 16) for t in _strings(texts)),
        dtype=np.int64,
        count=len(texts),
    )
    split = np.where(buckets < holdout_fraction * 2**32, "holdout", "train").astype(object)
    return pd.Series(split, index=index, dtype=object)


def holdout_rows(texts: pd.Series, rows: np.ndarray, holdout_fraction: float = 0.1) -> np.ndarray:
    """Which of ``texts`` are in the hold-out: :func:`assign_split` of the texts where ``rows`` (a boolean mask)
    is true, ``False`` elsewhere; the column is read a block at a time, never copied."""
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    sha1, threshold = hashlib.sha1, holdout_fraction * 2**32
    held = np.zeros(len(texts), dtype=bool)
    for start in range(0, len(texts), _HASH_BLOCK):
        chosen = np.flatnonzero(rows[start : start + _HASH_BLOCK])
        if len(chosen):  # a slice, not a take: Arrow's take on a chunked column would join all its chunks first
            strings = texts.iloc[start : start + _HASH_BLOCK].tolist()
            block = [strings[i] for i in chosen]
            held[start + chosen] = [
                int(sha1(("split\x00" + t).encode()).hexdigest()[:8], 16) < threshold for t in block
            ]
    return held


def with_holdout(samples: pd.DataFrame, holdout_fraction: float) -> pd.DataFrame:
    """``samples`` with the real rows' hold-out drawn again at ``holdout_fraction`` (:func:`holdout_rows`, as a load
    with that fraction draws it); every other row stays ``train``. The hold-outs are nested: a larger fraction
    keeps every sample a smaller one held out, so raising the share only adds to the reference."""
    real = (samples["source"] == "real").to_numpy()
    held = holdout_rows(samples["text"], real, holdout_fraction)
    kind = samples["split"].dtype if "split" in samples else object
    return samples.assign(split=pd.Series(np.where(held, "holdout", "train"), index=samples.index).astype(kind))


# --------------------------------------------------------------------------- load options


def check_max_bytes(max_bytes: int) -> None:
    """Refuse a size cap that is not a positive whole number of bytes, with a :class:`CorpusError`."""
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
    check_max_bytes(max_bytes)
    check_encoding(encoding)


def check_encoding(encoding: str | None) -> None:
    """Refuse an encoding name Python does not know (``None`` or empty: detect it), with a :class:`CorpusError`."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise CorpusError(
                f"Unknown encoding {encoding!r}. Use a name Python knows (utf-8, utf-16, cp1252, latin-1, ...), "
                f"or leave it unset to try UTF-8, then Windows-1252, then Latin-1."
            ) from None


def metadata_columns(samples: pd.DataFrame) -> list[str]:
    """The columns of a sample table beyond the data model's :data:`COLUMNS`, in table order."""
    return [c for c in samples.columns if c not in COLUMNS]
