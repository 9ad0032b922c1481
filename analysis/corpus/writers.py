"""Writing a sample table to a file: CSV, JSONL or Parquet by extension, atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.corpus.schema import CorpusError, metadata_columns
from analysis.io import atomic_write_bytes, parquet_bytes

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
