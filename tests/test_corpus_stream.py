"""Loading at scale (issue 18, part 4): CSV, TSV, JSONL and Parquet read a chunk at a time give the same table,
report and errors as the whole-file path, name the row of a bad value in a later chunk, and report progress.

The chunk and block sizes are made small here so a few thousand rows are read in many chunks."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis.corpus import CorpusError, read_samples, read_table, stream
from analysis.corpus.schema import LoadReport

ROWS = 3000


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 250)
    monkeypatch.setattr(stream, "BLOCK_BYTES", 4096)


def table(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    words = ["alpha", "beta", "gamma", "délta", "ünïcode ✓", "", "12", "3.5"]
    return pd.DataFrame(
        {
            "id": [f"x{i % (rows - 100)}" if i % 11 else "" for i in range(rows)],
            "text": [
                f"{words[i % len(words)]} sample {i % (rows - 400)}" + (" " if i % 7 == 0 else "") for i in range(rows)
            ],
            "label": [["a", " b ", "", "c"][i % 4] for i in range(rows)],
            "source": [["real", "Synthetic", " human"][int(rng.integers(3))] for _ in range(rows)],
            "method": [["llm", "", "real"][i % 3] for i in range(rows)],
            "generation": [int(rng.integers(0, 3)) for _ in range(rows)],
            "parent_id": [["", "p1", "p2"][i % 3] for i in range(rows)],
            "score": rng.normal(size=rows).round(3),
        }
    )


@pytest.fixture()
def files(tmp_path):
    frame = table()
    paths = {
        "csv": tmp_path / "s.csv",
        "tsv": tmp_path / "s.tsv",
        "jsonl": tmp_path / "s.jsonl",
        "parquet": tmp_path / "s.parquet",
        "crlf": tmp_path / "crlf.jsonl",
    }
    frame.to_csv(paths["csv"], index=False)
    frame.to_csv(paths["tsv"], index=False, sep="\t")
    frame.to_json(paths["jsonl"], orient="records", lines=True, force_ascii=False)
    frame.to_parquet(paths["parquet"], index=False)
    # \r\n line ends, blank lines and strings: a \r\n split across two blocks is one line break
    lines = (
        frame.drop(columns=["source", "generation"])
        .to_json(orient="records", lines=True, force_ascii=False)
        .splitlines()
    )
    lines[10:10] = ["", '"a bare string line"']
    paths["crlf"].write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return paths


def same(path, **options):
    streamed, streamed_report = read_samples(path, **options)
    at_once, at_once_report = read_samples(path, streaming=False, **options)
    pd.testing.assert_frame_equal(streamed, at_once)
    assert streamed_report == at_once_report
    return streamed, streamed_report


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet", "crlf"])
@pytest.mark.parametrize(
    "options", [{}, {"duplicates": "keep"}, {"source": "synthetic", "method": "m", "generation": 2}]
)
def test_a_file_read_in_chunks_gives_the_table_and_report_of_a_whole_read(files, fmt, options):
    samples, report = same(files[fmt], **options)
    assert report.rows_read == ROWS + (1 if fmt == "crlf" else 0)
    assert len(samples) > 2000


def test_the_raw_table_is_the_same_whatever_the_chunk_size(files, monkeypatch):
    for fmt in ("csv", "jsonl", "parquet"):
        streamed, _ = read_table(files[fmt])
        at_once, _ = read_table(files[fmt], streaming=False)
        pd.testing.assert_frame_equal(streamed, at_once)
        monkeypatch.setattr(stream, "CHUNK_ROWS", 7)
        pd.testing.assert_frame_equal(read_table(files[fmt])[0], at_once)
        monkeypatch.setattr(stream, "CHUNK_ROWS", 250)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_progress_rises_to_one_and_counts_the_rows(files, fmt):
    calls: list[tuple[int, float]] = []
    samples, report = read_samples(files[fmt], progress=lambda rows, fraction: calls.append((rows, fraction)))
    assert len(calls) >= 5  # a call per chunk of 250 rows
    fractions = [fraction for _, fraction in calls]
    rows = [count for count, _ in calls]
    assert fractions == sorted(fractions) and rows == sorted(rows)
    assert all(0 <= fraction <= 1 for fraction in fractions)
    assert calls[-1] == (report.rows_read, 1.0)
    assert 0 < fractions[0] < 0.5


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_bad_generation_in_a_later_chunk_names_its_row_and_stops_there(tmp_path, fmt):
    frame = table()
    frame["generation"] = frame["generation"].astype(object)
    frame.loc[2345, "generation"] = "two"
    path = tmp_path / f"late.{fmt}"
    {"csv": frame.to_csv, "jsonl": lambda p, **_: frame.to_json(p, orient="records", lines=True)}.get(
        fmt, lambda p, **_: frame.astype({"generation": str}).to_parquet(p)
    )(path, index=False)
    calls: list[float] = []
    message = r"late\.\w+, column 'generation', row 2346: 'two' is not a whole number >= 0"
    with pytest.raises(CorpusError, match=message):
        read_samples(path, progress=lambda rows, fraction: calls.append(fraction))
    assert calls and calls[-1] < 1.0  # refused when its chunk was read, before the rest of the file
    with pytest.raises(CorpusError, match=message):
        read_samples(path, streaming=False)


def test_an_unknown_source_in_a_later_chunk_names_its_first_row(tmp_path):
    frame = table()
    frame.loc[[2101, 2900], "source"] = "robot"
    frame.to_csv(tmp_path / "late.csv", index=False)
    for streaming in (True, False):
        with pytest.raises(
            CorpusError, match=r"late\.csv, column 'source': unknown value\(s\) 'robot' \(first at row 2102\)"
        ):
            read_samples(tmp_path / "late.csv", streaming=streaming)


def test_a_malformed_csv_row_in_a_later_chunk_names_its_line(tmp_path):
    lines = ["text,label"] + [f"sample {i},a" for i in range(ROWS)]
    lines[2718] = "a,b,c"
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    for streaming in (True, False):
        with pytest.raises(CorpusError, match=r"bad\.csv: malformed CSV: .*Expected 2 fields in line 2719, saw 3"):
            read_table(tmp_path / "bad.csv", streaming=streaming)


def test_a_malformed_jsonl_line_in_a_later_chunk_names_its_line(tmp_path):
    lines = [f'{{"text": "sample {i}"}}' for i in range(ROWS)]
    lines[2500] = '{"text": oops}'
    (tmp_path / "bad.jsonl").write_text("\n".join(lines))
    for streaming in (True, False):
        with pytest.raises(CorpusError, match=r"bad\.jsonl, line 2501: malformed JSON"):
            read_table(tmp_path / "bad.jsonl", streaming=streaming)


def test_a_file_that_stops_being_utf8_late_is_read_again_as_windows_1252(tmp_path):
    rows = [f"caf{'é' if i == 2400 else 'e'} {i},a" for i in range(ROWS)]
    path = tmp_path / "late.csv"
    path.write_bytes(("text,label\n" + "\n".join(rows) + "\n").encode("cp1252"))
    calls: list[float] = []
    samples, report = read_samples(path, progress=lambda rows, fraction: calls.append(fraction))
    assert report.encoding == "cp1252" and "first bad byte at offset" in report.notes[0]
    assert samples["text"].str.contains("café 2400").any()
    assert calls == sorted(calls) and calls[-1] == 1.0  # the second reading does not move the bar back
    same(path)
    # a byte Windows-1252 leaves undefined: Latin-1
    path.write_bytes(path.read_bytes().replace(b"caf\xe9 2400", b"caf\x81 2400"))
    assert same(path)[1].encoding == "latin-1"


def test_encodings_byte_order_marks_and_refusals_match_the_whole_file_path(tmp_path):
    text = "text,label\n" + "\n".join(f"sample ✓ {i},a" for i in range(ROWS)) + "\n"
    for name, data, options in [
        ("bom8.csv", b"\xef\xbb\xbf" + text.encode("utf-8"), {}),
        ("bom16.csv", text.encode("utf-16"), {}),
        ("given.csv", text.encode("utf-16-le"), {"encoding": "utf-16-le"}),
    ]:
        (tmp_path / name).write_bytes(data)
        assert same(tmp_path / name, **options)[1].encoding
    refusals = [
        ("nul.csv", text.encode("utf-8")[:30000] + b"\x00" + text.encode("utf-8")[30000:], {}),
        ("ascii.csv", text.encode("utf-8"), {"encoding": "ascii"}),
        ("blank.csv", b"   \n\n  ", {}),
        ("big.csv", text.encode("utf-8"), {"max_bytes": 20000}),
    ]
    for name, data, options in refusals:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CorpusError) as streamed:
            read_table(tmp_path / name, **options)
        with pytest.raises(CorpusError) as at_once:
            read_table(tmp_path / name, streaming=False, **options)
        assert str(streamed.value) == str(at_once.value), name
    assert re.search(r"position \d{5}", str(streamed.value)) is None  # the cap is reported, not a decode error


def test_an_ascii_decode_error_late_in_the_file_gives_its_position_in_the_file(tmp_path):
    text = "text\n" + "\n".join(f"sample {i}" for i in range(ROWS)) + "\nnaïve\n"
    (tmp_path / "late.csv").write_text(text, encoding="utf-8")
    messages = []
    for streaming in (True, False):
        with pytest.raises(CorpusError, match="cannot decode as ascii") as error:
            read_table(tmp_path / "late.csv", encoding="ascii", streaming=streaming)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


def test_the_cli_draws_a_reading_bar_on_stderr_for_a_big_file(files, monkeypatch, capsys):
    from analysis.cli import common, main

    monkeypatch.setattr(common, "READ_BAR_BYTES", 1)
    assert main(["load", str(files["csv"])]) == 0
    err = capsys.readouterr().err
    assert "reading s.csv" in err and f"{ROWS:,} rows" in err and "100%" in err


def test_the_load_report_is_unchanged_by_a_progress_callback(files):
    report = read_samples(files["csv"], progress=lambda rows, fraction: None).report
    assert isinstance(report, LoadReport) and report.rows_read == ROWS


def test_compare_reads_a_big_real_file_with_a_bar_and_stops_at_its_bad_row(tmp_path, monkeypatch, capsys):
    from analysis.cli import common, main

    monkeypatch.setattr(common, "READ_BAR_BYTES", 1)
    frame = table().drop(columns="source")
    frame["generation"] = frame["generation"].astype(object)
    frame.loc[2345, "generation"] = "two"
    frame.to_csv(tmp_path / "late.csv", index=False)
    (tmp_path / "gen.csv").write_text("text\na generated sample\n")
    assert main(["compare", "--real", str(tmp_path / "late.csv"), "--synthetic", f"llm={tmp_path / 'gen.csv'}"]) == 3
    err = capsys.readouterr().err
    assert "reading late.csv" in err and "rows" in err
    assert "error: late.csv, column 'generation', row 2346: 'two'" in err and "Traceback" not in err


def test_word_counts_and_text_codes_match_python_on_every_kind_of_whitespace():
    from analysis.corpus import text_codes, word_counts
    from analysis.corpus.measures import _SPACES

    rng = np.random.default_rng(3)
    alphabet = list("ab cdé中😀–’Â") + _SPACES + ["\u200b", "\u2029x", "\xa0"]
    texts = ["".join(rng.choice(alphabet, size=int(rng.integers(0, 30)))) for _ in range(5000)]
    texts += texts[:500]  # repeats, for the codes
    column = pd.Series(texts, dtype="str")
    chunked = pd.concat([column.iloc[:2000], column.iloc[2000:]], ignore_index=True)  # two Arrow chunks
    expected = [len(text.split()) for text in texts]
    for series in (column, chunked, column.astype(object)):
        assert word_counts(series).tolist() == expected
    assert word_counts(column.iloc[777:]).tolist() == expected[777:]
    codes = text_codes(column)
    reference = pd.factorize(pd.Series(texts, dtype=object))[0]
    assert len(set(zip(codes, reference))) == len(set(reference)) == len(set(codes))  # the same partition
