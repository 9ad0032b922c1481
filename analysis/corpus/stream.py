"""Reading big files a chunk at a time, with progress and bounded memory: CSV/TSV through pandas' chunked parser,
JSONL a block of lines at a time, Parquet a record batch at a time.

The rules are those of reading a file at once (:mod:`~analysis.corpus.readers`, :mod:`~analysis.corpus.decode`):
the same size cap, the same decoding (a given encoding, a byte-order mark, else UTF-8, then Windows-1252, then
Latin-1; a file that turns out not to be UTF-8 part-way is read again from the start with the fallback), the same
refusals and the same messages, with line, row and byte numbers counted from the start of the file. The file is
never held whole in memory as bytes or as decoded text: only one block of about a megabyte and the rows parsed
so far, so a load peaks at a small multiple of the table it returns.

``progress(rows, fraction)`` is called after each chunk with the rows read so far and the share of the file
read (bytes for text files, rows for Parquet), never decreasing, ending with ``fraction == 1.0``. ``check(chunk,
first_row)`` runs on each chunk as it is read (``first_row``: the 0-based table row of its first row), so a bad
value far into a file is reported when its chunk is read, with its row number in the file.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from analysis.corpus.decode import _BOMS, binary_message, split_lines
from analysis.corpus.files import SNIFF_BYTES, _open_regular, _over_cap
from analysis.corpus.records import csv_errors, jsonl_record, separator
from analysis.corpus.schema import CorpusError, LoadReport

#: Rows per chunk (a CSV chunk, a JSONL chunk, a Parquet record batch).
CHUNK_ROWS = 100_000
#: Bytes read and decoded at a time.
BLOCK_BYTES = 1 << 20
#: The formats read a chunk at a time (JSON and TXT are read at once).
STREAMED_FORMATS = ("csv", "tsv", "jsonl", "parquet")

#: ``progress(rows_read, fraction_of_the_file)``.
LoadProgress = Callable[[int, float], object]
#: ``check(chunk, first_row)``: raises a CorpusError for a bad row of the chunk.
ChunkCheck = Callable[[pd.DataFrame, int], object]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class _Redecode(Exception):
    """The file is not valid UTF-8 (or not Windows-1252): read it again from the start with the next fallback."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


class _Monotonic:
    """Passes progress on only when it moves forward (a re-read from the start does not move the bar back)."""

    def __init__(self, progress: LoadProgress | None) -> None:
        self.progress, self.fraction, self.rows = progress, -1.0, -1

    def __call__(self, rows: int, fraction: float) -> None:
        if self.progress is None:
            return
        fraction = min(1.0, max(0.0, fraction))
        if fraction > self.fraction or (fraction == self.fraction and rows > self.rows):
            self.fraction, self.rows = fraction, max(rows, self.rows)
            self.progress(self.rows, fraction)


def _decode_error_text(exc: UnicodeDecodeError, shift: int) -> str:
    """``str(exc)`` as a whole-file decode would have said it: positions counted from the start of the file."""
    start, end = exc.start + shift, exc.end + shift
    if exc.end - exc.start == 1:
        return (
            f"'{exc.encoding}' codec can't decode byte 0x{exc.object[exc.start]:02x} in position {start}: {exc.reason}"
        )
    return f"'{exc.encoding}' codec can't decode bytes in position {start}-{end - 1}: {exc.reason}"


class _DecodedReader(io.TextIOBase):
    """A text file's characters, decoded a block at a time with the rules of ``decode_text``; ``read(n)`` gives
    text (pandas' parser reads through it). ``fallback`` is the encoding of a second reading after UTF-8 failed."""

    def __init__(
        self,
        handle: BinaryIO,
        name: str,
        fmt: str,
        encoding: str | None,
        fallback: str | None,
        report: LoadReport,
        max_bytes: int,
    ) -> None:
        self.handle, self.name, self.fmt, self.max_bytes = handle, name, fmt, max_bytes
        self.size = os.fstat(handle.fileno()).st_size
        if self.size > max_bytes:
            raise _over_cap(name, max_bytes, self.size)
        self.bytes_read, self.chars, self.pending, self.eof, self.content = 0, 0, "", False, False
        self.head = handle.read(SNIFF_BYTES)  # the first bytes: the byte-order mark, the binary check's sample
        self.handle.seek(0)
        self.skip, self.check_nul, self.strip_mark, self.retry = 0, False, False, False
        bom = next((codec for mark, codec in _BOMS if self.head.startswith(mark)), None)
        if encoding:
            codec, self.how, self.strip_mark = encoding, "the encoding given", True
            report.encoding = encoding
        elif bom and bom != "utf-8-sig":
            codec, self.how, self.strip_mark = bom, "its byte-order mark says so", True
            report.encoding = bom
            report.notes.append(f"{name} starts with a {bom.upper()} byte-order mark; decoded as {bom.upper()}.")
        else:
            self.check_nul = True
            self.skip = len(codecs.BOM_UTF8) if bom else 0
            codec = fallback or "utf-8"
            self.retry = codec != "latin-1"  # UTF-8, then Windows-1252, then Latin-1 (which decodes any byte)
            report.encoding = fallback or bom or "utf-8"
        self.codec = codec
        self.report = report
        self.decoder = codecs.getincrementaldecoder(codec)(errors="strict")

    def readable(self) -> bool:
        return True

    def fraction(self) -> float:
        return self.bytes_read / self.size if self.size else 1.0

    def _fill(self) -> None:
        start = self.bytes_read
        block = self.handle.read(min(BLOCK_BYTES, self.max_bytes + 1 - start))
        self.bytes_read += len(block)
        if self.bytes_read > self.max_bytes:
            raise _over_cap(self.name, self.max_bytes, None)
        if not block:
            self.eof = True
            if not self.content:
                raise CorpusError(f"{self.name}: the file is empty. Choose a file that holds samples.")
        elif not self.content and block.strip():
            self.content = True
        if self.check_nul and b"\x00" in block:
            raise CorpusError(binary_message(self.head, start + block.find(b"\x00"), self.name, self.fmt))
        if start < self.skip:  # the UTF-8 byte-order mark is not text
            block, start = block[self.skip - start :], self.skip
        buffered = len(self.decoder.getstate()[0])
        try:
            text = self.decoder.decode(block, final=self.eof)
        except UnicodeDecodeError as exc:
            shift = start - buffered
            if self.retry:
                raise _Redecode(exc.start + shift - self.skip) from None
            raise CorpusError(
                f"{self.name}: cannot decode as {self.codec} ({self.how}): {_decode_error_text(exc, shift)}. Pick "
                f"the file's real encoding, or leave the encoding unset to try UTF-8, Windows-1252 and Latin-1."
            ) from None
        if self.strip_mark and text:
            self.strip_mark = False
            text = text[1:] if text.startswith("\ufeff") else text
        nul = text.find("\x00")
        if nul >= 0:
            raise CorpusError(
                f"{self.name}: holds a NUL character (at character {self.chars + nul:,} after decoding as "
                f"{self.report.encoding}), so it is not {self.fmt.upper()} text. Give the file's real encoding, or "
                f"export the samples as text."
            )
        self.chars += len(text)
        self.pending += text

    def read(self, size: int | None = -1) -> str:
        """At most ``size`` characters (all with -1), and at most a block's worth at a time with a size (a short
        read, which pandas' parser handles), so progress moves a block at a time."""
        size = -1 if size is None or size < 0 else min(size, BLOCK_BYTES)
        while not self.eof and (size < 0 or len(self.pending) < size):
            self._fill()
        if size < 0 or size >= len(self.pending):
            text, self.pending = self.pending, ""
        else:
            text, self.pending = self.pending[:size], self.pending[size:]
        return text

    def head_text(self) -> str:
        """The first SNIFF_BYTES characters (the separator is sniffed from them), left to be read."""
        while not self.eof and len(self.pending) < SNIFF_BYTES:
            self._fill()
        return self.pending[:SNIFF_BYTES]


def _csv_chunks(reader: _DecodedReader, name: str, fmt: str, report: LoadReport) -> Iterator[pd.DataFrame]:
    sep = separator(reader.head_text(), fmt, name, report)
    with (
        csv_errors(name, report),
        pd.read_csv(
            reader, sep=sep, dtype=str, keep_default_na=False, skip_blank_lines=True, chunksize=CHUNK_ROWS
        ) as chunks,
    ):
        yield from chunks


def _lines(reader: _DecodedReader) -> Iterator[str]:
    """The lines of the text, split as ``split_lines`` splits them (\\n, \\r\\n, \\r only), a block at a time."""
    tail = ""
    while block := reader.read(BLOCK_BYTES):
        text = tail + block
        carry = ""
        if text.endswith("\r"):  # it may be the first half of a \r\n in the next block
            text, carry = text[:-1], "\r"
        lines = _LINE_BREAK.split(text)
        tail = lines.pop() + carry
        yield from lines
    yield from split_lines(tail)


def _jsonl_chunks(reader: _DecodedReader, name: str) -> Iterator[pd.DataFrame]:
    records: list[dict] = []
    yielded = False
    for number, line in enumerate(_lines(reader), start=1):
        record = jsonl_record(line, number, name)
        if record is not None:
            records.append(record)
        if len(records) >= CHUNK_ROWS:
            yield pd.DataFrame.from_records(records)
            records, yielded = [], True
    if records or not yielded:
        yield pd.DataFrame.from_records(records)


def _text_table(
    path: Path,
    name: str,
    fmt: str,
    encoding: str | None,
    max_bytes: int,
    report: LoadReport,
    progress: _Monotonic,
    check: ChunkCheck | None,
) -> pd.DataFrame:
    """A CSV, TSV or JSONL file as a raw table, read and checked a chunk at a time."""
    fallback, first_bad, notes, fmt_before = None, 0, len(report.notes), report.format
    while True:
        chunks: list[pd.DataFrame] = []
        rows = 0
        try:
            with _open_regular(path, name) as handle:
                reader = _DecodedReader(handle, name, fmt, encoding, fallback, report, max_bytes)
                parsed = (
                    _csv_chunks(reader, name, fmt, report) if fmt in ("csv", "tsv") else _jsonl_chunks(reader, name)
                )
                for chunk in parsed:
                    chunk.index = pd.RangeIndex(rows, rows + len(chunk))
                    if check is not None and len(chunk):
                        check(chunk, rows)
                    chunks.append(chunk)
                    rows += len(chunk)
                    progress(rows, reader.fraction())
        except _Redecode as redecode:  # not UTF-8 (or not cp1252) part-way: read it all again with the fallback
            del report.notes[notes:]
            report.format = fmt_before
            if fallback is None:
                first_bad = redecode.offset
            fallback = "cp1252" if fallback is None else "latin-1"
            report.notes.append(_fallback_note(name, first_bad, fallback))
            continue
        progress(rows, 1.0)
        return _concat(chunks)


def _fallback_note(name: str, offset: int, fallback: str) -> str:
    return (
        f"{name} is not valid UTF-8 (first bad byte at offset {offset}); decoded as "
        f"{'Windows-1252 (cp1252)' if fallback == 'cp1252' else 'Latin-1'} instead. If characters "
        f"look wrong, re-save the file as UTF-8 or give its encoding (encoding=, --encoding)."
    )


def _concat(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    if len(chunks) == 1:
        return chunks[0].reset_index(drop=True)
    return pd.concat(chunks, ignore_index=True, sort=False)


def _parquet_table(
    path: Path, name: str, max_bytes: int, progress: _Monotonic, check: ChunkCheck | None
) -> pd.DataFrame:
    """A Parquet file as a raw table, a record batch at a time, converted to pandas once (as pd.read_parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _open_regular(path, name) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise _over_cap(name, max_bytes, size)
        head = handle.read(SNIFF_BYTES)
        if not head.strip() and size <= len(head):
            raise CorpusError(f"{name}: the file is empty. Choose a file that holds samples.")
        if not head.startswith(b"PAR1"):
            raise CorpusError(
                f"{name}: not a Parquet file (no PAR1 magic bytes). Check that it was written as "
                f"Parquet, or rename it to its real format."
            )
        handle.seek(0)
        batches, rows = [], 0
        try:
            parquet = pq.ParquetFile(handle)
            total = parquet.metadata.num_rows
            checked = [c for c in ("source", "generation") if c in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
                if check is not None and checked and batch.num_rows:
                    part = pa.Table.from_batches([batch]).select(checked).to_pandas()
                    part.index = pd.RangeIndex(rows, rows + len(part))
                    check(part, rows)
                batches.append(batch)
                rows += batch.num_rows
                progress(rows, rows / total if total else 1.0)
            table = pa.Table.from_batches(batches, schema=parquet.schema_arrow) if batches else parquet.read()
            del batches
            frame = table.to_pandas()
        except CorpusError:
            raise
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise CorpusError(f"{name}: the Parquet file is damaged or unreadable ({exc}). Re-export it.") from None
    progress(rows, 1.0)
    return frame


def read_streamed(
    path: Path,
    name: str,
    fmt: str,
    *,
    encoding: str | None,
    max_bytes: int,
    report: LoadReport,
    progress: LoadProgress | None = None,
    check: ChunkCheck | None = None,
) -> pd.DataFrame:
    """A CSV, TSV, JSONL or Parquet file as a raw table with the file's own columns, read a chunk at a time."""
    meter = _Monotonic(progress)
    if fmt == "parquet":
        return _parquet_table(path, name, max_bytes, meter, check)
    return _text_table(path, name, fmt, encoding, max_bytes, report, meter, check)
