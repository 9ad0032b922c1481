"""The sample table: loading real and synthetic text from files, validation, load reports.

One job per module: :mod:`~analysis.corpus.schema` (the columns, :class:`CorpusError`, :class:`LoadReport`,
the load options and their checks, ids and the hash-based hold-out split); :mod:`~analysis.corpus.files`
(regular files only, the size cap, the format from the extension); :mod:`~analysis.corpus.decode` (bytes to
text: encodings, binary files refused, line breaks); :mod:`~analysis.corpus.readers` (one reader per format,
:func:`read_table`); :mod:`~analysis.corpus.records` (what both kinds of reader share: the CSV separator, one
JSONL line to a record); :mod:`~analysis.corpus.stream` (CSV/TSV, JSONL and Parquet read a chunk at a time, with
progress and bounded memory); :mod:`~analysis.corpus.samples` (any table to the sample table, :func:`read_samples`,
:func:`combine_samples`); :mod:`~analysis.corpus.writers` (:func:`write_samples`);
:mod:`~analysis.corpus.measures` (words and equality codes of a whole text column, vectorised);
:mod:`~analysis.corpus.plan` (a load of several files: the role and method a file's name says, the plan checked).
``from analysis.corpus import …`` gives the public API of all of them.
"""

from analysis.corpus.files import detect_format
from analysis.corpus.measures import text_codes, word_counts
from analysis.corpus.readers import read_table
from analysis.corpus.samples import (
    combine_samples,
    guess_label_column,
    guess_text_column,
    load_samples,
    read_samples,
    samples_from_frame,
)
from analysis.corpus.schema import (
    COLUMNS,
    DEFAULT_MAX_BYTES,
    DUPLICATE_POLICIES,
    FORMATS,
    MAX_JSON_DEPTH,
    SOURCES,
    CorpusError,
    LoadedSamples,
    LoadReport,
    assign_split,
    check_load_options,
    metadata_columns,
    sample_id,
    with_holdout,
)
from analysis.corpus.writers import WRITE_FORMATS, samples_bytes, write_samples

__all__ = [
    "CorpusError",
    "LoadReport",
    "LoadedSamples",
    "FORMATS",
    "COLUMNS",
    "SOURCES",
    "DEFAULT_MAX_BYTES",
    "MAX_JSON_DEPTH",
    "DUPLICATE_POLICIES",
    "WRITE_FORMATS",
    "load_samples",
    "read_samples",
    "read_table",
    "samples_from_frame",
    "check_load_options",
    "combine_samples",
    "metadata_columns",
    "assign_split",
    "with_holdout",
    "sample_id",
    "detect_format",
    "write_samples",
    "samples_bytes",
    "guess_text_column",
    "guess_label_column",
    "word_counts",
    "text_codes",
]
