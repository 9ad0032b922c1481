"""Writing a sample table to a file: CSV, JSONL or Parquet by extension, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.corpus.schema import CorpusError, metadata_columns
from analysis.io import atomic_write_bytes, parquet_bytes

#: Output formats of :func:`write_samples`, by extension.
WRITE_FORMATS = (".csv", ".jsonl", ".parquet")


def samples_bytes(samples: pd.DataFrame, suffix: str) -> bytes:
    """A sample table as the bytes of a ``.csv``, ``.jsonl`` or ``.parquet`` file (what :func:`write_samples` writes).

    CSV is for spreadsheets: formula-leading cells get a leading ``'`` (:mod:`analysis.export`). In
    Parquet, metadata columns of mixed types are stored as text.
    """
    suffix = suffix.lower()
    if suffix == ".csv":
        from analysis.export import csv_bytes

        return csv_bytes(samples)
    if suffix == ".jsonl":
        return samples.to_json(orient="records", lines=True, force_ascii=False).encode("utf-8")
    if suffix == ".parquet":
        return parquet_bytes(samples, as_text=metadata_columns(samples))
    raise CorpusError(f"cannot write '{suffix}'; use one of {', '.join(WRITE_FORMATS)}.")


def write_samples(samples: pd.DataFrame, path: str | Path) -> Path:
    """Write a sample table as CSV, JSONL or Parquet (by extension, :func:`samples_bytes`), atomically."""
    path = Path(path)
    if path.suffix.lower() not in WRITE_FORMATS:
        raise CorpusError(f"{path.name}: cannot write '{path.suffix.lower()}'; use one of {', '.join(WRITE_FORMATS)}.")
    atomic_write_bytes(path, samples_bytes(samples, path.suffix))
    return path
