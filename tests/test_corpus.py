"""Loading samples: every format, every bad input, the split, ids, and the load report."""

import json

import pandas as pd
import pytest

from analysis.corpus import (
    COLUMNS,
    CorpusError,
    LoadReport,
    assign_split,
    combine_samples,
    load_samples,
    read_samples,
    read_table,
    samples_from_frame,
    with_holdout,
)

ROWS = [
    {"id": "a", "text": "The cat sat on the mat.", "topic": "animals", "score": 1},
    {"id": "b", "text": "Stock markets fell sharply on Tuesday.", "topic": "finance", "score": 2},
    {"id": "c", "text": "Rain is expected over the weekend.", "topic": "weather", "score": 3},
]
TEXTS = [r["text"] for r in ROWS]


def write(path, content):
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


@pytest.fixture
def files(tmp_path):
    """The same three samples in every format."""
    frame = pd.DataFrame(ROWS)
    paths = {
        "csv": tmp_path / "s.csv",
        "tsv": tmp_path / "s.tsv",
        "jsonl": tmp_path / "s.jsonl",
        "json": tmp_path / "s.json",
        "parquet": tmp_path / "s.parquet",
    }
    frame.to_csv(paths["csv"], index=False)
    frame.to_csv(paths["tsv"], sep="\t", index=False)
    write(paths["jsonl"], "\n".join(json.dumps(r) for r in ROWS) + "\n")
    write(paths["json"], json.dumps(ROWS))
    frame.to_parquet(paths["parquet"])
    return paths


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "json", "parquet"])
def test_every_tabular_format_gives_the_data_model(files, fmt):
    samples, report = read_samples(files[fmt])
    assert list(samples.columns[: len(COLUMNS)]) == COLUMNS
    assert samples["text"].tolist() == TEXTS
    assert samples["id"].tolist() == ["a", "b", "c"]
    assert samples["label"].tolist() == ["animals", "finance", "weather"]
    assert set(samples["source"]) == {"real"} and set(samples["method"]) == {"real"}
    assert set(samples["generation"]) == {0}
    assert "score" in samples.columns  # other columns are kept as metadata
    assert report.format == fmt and report.text_column == "text" and report.label_column == "topic"
    assert report.rows_read == report.rows_kept == 3


def test_json_list_of_strings(tmp_path):
    samples = load_samples(write(tmp_path / "s.json", json.dumps(TEXTS)), method="llm")
    assert samples["text"].tolist() == TEXTS
    assert set(samples["source"]) == {"synthetic"} and set(samples["method"]) == {"llm"}
    assert set(samples["generation"]) == {1}
    assert set(samples["split"]) == {"train"}  # only real data is held out


def test_jsonl_lines_may_be_strings(tmp_path):
    samples = load_samples(write(tmp_path / "s.jsonl", "\n".join(json.dumps(t) for t in TEXTS)))
    assert samples["text"].tolist() == TEXTS


def test_txt_one_sample_per_line(tmp_path):
    samples, report = read_samples(write(tmp_path / "s.txt", "\n".join(TEXTS) + "\n\n"))
    assert samples["text"].tolist() == TEXTS
    assert samples["line"].tolist() == [1, 2, 3]
    assert report.dropped == {"empty text": 1}


def test_folder_of_txt_files_with_subfolder_labels(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "animals").mkdir(parents=True)
    (folder / "finance").mkdir()
    write(folder / "animals" / "1.txt", TEXTS[0] + "\n")
    write(folder / "finance" / "2.txt", TEXTS[1])
    write(folder / "notes.md", "not a sample")
    samples, report = read_samples(folder, source="synthetic", method="paraphrase")
    assert sorted(samples["text"]) == sorted(TEXTS[:2])
    assert dict(zip(samples["text"], samples["label"])) == {TEXTS[0]: "animals", TEXTS[1]: "finance"}
    assert report.format == "folder"
    assert any("not .txt" in note for note in report.notes)


def test_the_report_is_a_typed_value_not_frame_attrs(files):
    loaded = read_samples(files["csv"])
    assert isinstance(loaded.report, LoadReport) and loaded.report.rows_kept == 3
    samples, report = loaded  # still unpacks as a pair
    assert samples is loaded.samples and report is loaded.report
    plain = load_samples(files["csv"])
    assert plain.attrs == {} and plain.equals(loaded.samples)


# --------------------------------------------------------------------------- columns


def test_guesses_the_longest_string_column_and_says_so(tmp_path):
    path = write(tmp_path / "s.csv", "title,body,n\nA,a much longer body text here,1\nB,another longer body text,2\n")
    samples, report = read_samples(path)
    assert report.text_column == "body"
    assert "longest mean length" in report.text_column_reason
    assert samples["title"].tolist() == ["A", "B"]


def test_explicit_text_and_label_columns(tmp_path):
    path = write(tmp_path / "s.csv", "title,body,kind\nshort one,a much longer body text,x\nsecond,more body,y\n")
    samples, report = read_samples(path, text_column="title", label_column="kind")
    assert samples["text"].tolist() == ["short one", "second"]
    assert samples["label"].tolist() == ["x", "y"]
    assert report.text_column_reason == "chosen by the user"


def test_unknown_text_column_lists_the_columns(tmp_path):
    path = write(tmp_path / "s.csv", "title,body\na,b\n")
    with pytest.raises(CorpusError, match=r"no column 'content'.*title, body"):
        read_samples(path, text_column="content")


def test_source_and_method_columns_are_used(tmp_path):
    path = write(
        tmp_path / "s.csv",
        "text,source,method,generation\nreal one,real,real,0\nfake one,synthetic,llm,2\nfake two,Generated,rules,1\n",
    )
    samples = load_samples(path)
    assert samples["source"].tolist() == ["real", "synthetic", "synthetic"]
    assert samples["method"].tolist() == ["real", "llm", "rules"]
    assert samples["generation"].tolist() == [0, 2, 1]


def test_bad_source_value_is_named(tmp_path):
    path = write(tmp_path / "s.csv", "text,source\nhello,robot\n")
    with pytest.raises(CorpusError, match=r"column 'source'.*'robot'.*'real' or 'synthetic'"):
        read_samples(path)


def test_bad_generation_value_names_the_row(tmp_path):
    path = write(tmp_path / "s.csv", "text,source,generation\nhello,synthetic,1\nworld,synthetic,two\n")
    with pytest.raises(CorpusError, match=r"'generation', row 2: 'two'"):
        read_samples(path)


# --------------------------------------------------------------------------- drops, ids, split


def test_empty_texts_and_exact_duplicates_are_dropped_and_counted(tmp_path):
    path = write(tmp_path / "s.csv", 'text\nhello world\n"   "\nhello world\nsecond\n""\n')
    samples, report = read_samples(path)
    assert samples["text"].tolist() == ["hello world", "second"]
    assert report.dropped == {"empty text": 2, "exact duplicate of an earlier row": 1}
    assert report.rows_read == 5 and report.rows_kept == 2
    assert "Dropped 2: empty text" in report.summary()


def test_duplicate_ids_are_made_unique_and_reported(tmp_path):
    path = write(tmp_path / "s.csv", "id,text\n7,first\n7,second\n7,third\n")
    samples, report = read_samples(path)
    assert samples["id"].tolist() == ["7", "7-2", "7-3"]
    assert report.ids_made_unique == 2


def test_generated_ids_are_stable_hashes(tmp_path):
    path = write(tmp_path / "s.txt", "one\ntwo\n")
    first = load_samples(path)["id"].tolist()
    second = load_samples(path)["id"].tolist()
    assert first == second and len(set(first)) == 2
    assert load_samples(path, method="llm")["id"].tolist() != first  # the source is part of the hash


def test_split_is_deterministic_and_independent_of_row_order():
    texts = [f"sample number {i}" for i in range(2000)]
    split = assign_split(texts, 0.1)
    shuffled = list(reversed(texts))
    split_shuffled = assign_split(shuffled, 0.1)
    assert dict(zip(texts, split)) == dict(zip(shuffled, split_shuffled))
    share = (split == "holdout").mean()
    assert 0.08 < share < 0.12  # 2000 draws of a 10 % hash: well inside 4 standard deviations
    assert (assign_split(texts, 0.0) == "train").all()


def test_split_of_a_file_does_not_depend_on_row_order(tmp_path):
    texts = [f"line {i} of the corpus" for i in range(300)]
    one = load_samples(write(tmp_path / "a.txt", "\n".join(texts)))
    two = load_samples(write(tmp_path / "b.txt", "\n".join(reversed(texts))))
    assert dict(zip(one["text"], one["split"])) == dict(zip(two["text"], two["split"]))
    assert set(one["split"]) == {"train", "holdout"}


def test_combine_keeps_ids_unique():
    a = pd.DataFrame({c: ["x"] if c != "generation" else [0] for c in COLUMNS})
    combined, changed = combine_samples(a, a.copy())
    assert combined["id"].tolist() == ["x", "x-2"] and changed == 1


# --------------------------------------------------------------------------- bad input


def test_unknown_format(tmp_path):
    with pytest.raises(CorpusError, match=r"unknown format.*Accepted: CSV"):
        read_samples(write(tmp_path / "s.docx2", "plain words"))


def test_binary_file_with_an_unknown_extension(tmp_path):
    with pytest.raises(CorpusError, match="binary"):
        read_samples(write(tmp_path / "s.bin", b"\x00\x01\x02\x03"))


def test_binary_content_in_a_text_format(tmp_path):
    with pytest.raises(CorpusError, match=r"s\.csv: looks binary"):
        read_samples(write(tmp_path / "s.csv", b"text\n\x00\x00\x89PNG"))


def test_broken_parquet(tmp_path):
    with pytest.raises(CorpusError, match="not a Parquet file"):
        read_samples(write(tmp_path / "s.parquet", "text\nhello\n"))
    with pytest.raises(CorpusError, match="damaged"):
        read_samples(write(tmp_path / "t.parquet", b"PAR1" + b"garbage" * 10 + b"PAR1"))


@pytest.mark.parametrize("name", ["s.csv", "s.txt", "s.jsonl", "s.json"])
def test_empty_file(tmp_path, name):
    with pytest.raises(CorpusError, match="the file is empty"):
        read_samples(write(tmp_path / name, "  \n"))


def test_header_only_csv(tmp_path):
    with pytest.raises(CorpusError, match="no rows"):
        read_samples(write(tmp_path / "s.csv", "text,label\n"))


def test_no_text_like_column_lists_the_columns(tmp_path):
    path = write(tmp_path / "s.jsonl", '{"a": 1, "b": 2.5}\n{"a": 3, "b": 4.0}\n')
    with pytest.raises(CorpusError, match=r"no text-like column.*Columns: a, b"):
        read_samples(path)


def test_all_texts_empty(tmp_path):
    path = write(tmp_path / "s.csv", "text,label\n,x\n  ,y\n")
    with pytest.raises(CorpusError, match=r"all 2 texts in column 'text' are empty"):
        read_samples(path, text_column="text")


def test_malformed_jsonl_line_number(tmp_path):
    path = write(tmp_path / "s.jsonl", '{"text": "one"}\n\n{"text": "two"}\n{"text": oops}\n')
    with pytest.raises(CorpusError, match=r"s\.jsonl, line 4: malformed JSON"):
        read_samples(path)


def test_malformed_json_line_and_column(tmp_path):
    path = write(tmp_path / "s.json", '[\n  {"text": "one"},\n  {"text": }\n]')
    with pytest.raises(CorpusError, match=r"line 3, column 12: malformed JSON"):
        read_samples(path)


def test_malformed_csv(tmp_path):
    path = write(tmp_path / "s.csv", 'text,label\n"unterminated,x\n')
    with pytest.raises(CorpusError, match="malformed CSV"):
        read_samples(path)


def test_utf8_with_bom(tmp_path):
    samples, report = read_samples(write(tmp_path / "s.csv", b"\xef\xbb\xbftext\ncaf\xc3\xa9\n"))
    assert report.encoding == "utf-8-sig"
    assert samples["text"].tolist() == ["café"]
    assert report.text_column == "text"  # the BOM is not part of the header


def test_windows_1252_fallback_is_reported(tmp_path):
    samples, report = read_samples(write(tmp_path / "s.txt", b"caf\xe9 au lait\n"))
    assert samples["text"].tolist() == ["café au lait"]
    assert report.encoding == "cp1252"
    assert any("not valid UTF-8" in note and "offset 3" in note for note in report.notes)


def test_latin1_fallback_where_windows_1252_cannot_decode(tmp_path):
    samples, report = read_samples(write(tmp_path / "s.txt", b"caf\xe9 \x81 au lait\n"))  # 0x81: not cp1252
    assert samples["text"].tolist() == ["café \x81 au lait"]
    assert report.encoding == "latin-1"


def test_forced_encoding_that_fails(tmp_path):
    with pytest.raises(CorpusError, match="cannot decode as ascii"):
        read_samples(write(tmp_path / "s.txt", "café"), encoding="ascii")


def test_size_cap(tmp_path):
    path = write(tmp_path / "s.txt", "x" * 2000)
    with pytest.raises(CorpusError, match=r"over the 0\.0 MB cap.*max_bytes"):
        read_samples(path, max_bytes=1000)
    assert len(read_samples(path, max_bytes=5000)[0]) == 1


def test_missing_path(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_samples(tmp_path / "nope.csv")


def test_folder_without_txt_files(tmp_path):
    write(tmp_path / "a.csv", "text\nx\n")
    with pytest.raises(CorpusError, match="no .txt files"):
        read_samples(tmp_path)


def test_read_table_keeps_the_files_own_columns(files):
    table, report = read_table(files["csv"])
    assert list(table.columns) == ["id", "text", "topic", "score"]
    assert report.encoding == "utf-8"


def test_numbers_in_a_csv_are_not_text(tmp_path):
    path = write(tmp_path / "s.csv", "n,text\n12345678901234,hi\n98765432109876,yo\n")
    assert read_samples(path)[1].text_column == "text"
    with pytest.raises(CorpusError, match=r"no text-like column.*Columns: a, b"):
        read_samples(write(tmp_path / "t.csv", "a,b\n1,2.5\n3,4\n"))


def test_non_string_cells_in_the_text_column_are_written_out(tmp_path):
    path = write(tmp_path / "s.jsonl", '{"text": "a sample"}\n{"text": 12345}\n{"text": null}\n')
    samples, report = read_samples(path, text_column="text")
    assert samples["text"].tolist() == ["a sample", "12345"]
    assert report.dropped == {"empty text": 1}


# --------------------------------------------------------------------------- text as written


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e"])
def test_txt_lines_end_only_at_newlines(tmp_path, separator):
    lines = [f"first{separator}still first", "second", "third"]
    samples, report = read_samples(write(tmp_path / "s.txt", "\n".join(lines) + "\n"))
    assert samples["text"].tolist() == lines
    assert report.rows_read == 3


def test_txt_accepts_every_newline_convention(tmp_path):
    samples, _ = read_samples(write(tmp_path / "s.txt", b"one\r\ntwo\rthree\nfour"))
    assert samples["text"].tolist() == ["one", "two", "three", "four"]


def test_a_windows_1252_ellipsis_does_not_split_a_line(tmp_path):
    raw = "Wait\u2026 then go\nnext line\n".encode("cp1252")  # \u2026 is byte 0x85: NEL in Latin-1
    samples, _ = read_samples(write(tmp_path / "s.txt", raw))
    assert samples["text"].tolist() == ["Wait\u2026 then go", "next line"]
    forced, _ = read_samples(write(tmp_path / "t.txt", raw), encoding="latin-1")
    assert forced["text"].tolist() == ["Wait\x85 then go", "next line"]  # as the encoding says, one line


def test_jsonl_with_a_raw_line_separator_inside_a_string(tmp_path):
    texts = ["one\u2028two", "three\u2029four\x85five"]
    path = write(tmp_path / "s.jsonl", "\n".join(json.dumps(t, ensure_ascii=False) for t in texts) + "\n")
    assert "\u2028" in path.read_text(encoding="utf-8")  # raw, not escaped
    samples, _ = read_samples(path)
    assert samples["text"].tolist() == texts


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_load_with_the_encoding_given(tmp_path, encoding):
    path = write(tmp_path / "s.csv", "text,label\ncafé au lait,drink\nnaïve \u2028 text,word\n".encode(encoding))
    samples, report = read_samples(path, encoding=encoding)
    assert samples["text"].tolist() == ["café au lait", "naïve \u2028 text"]
    assert report.encoding == encoding and report.text_column == "text"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_byte_order_mark_names_the_encoding(tmp_path, encoding):
    samples, report = read_samples(write(tmp_path / "s.txt", "café\nthé\n".encode(encoding)))  # with a BOM
    assert samples["text"].tolist() == ["café", "thé"]
    assert report.encoding == encoding


def test_utf16_without_a_mark_or_encoding_says_how_to_load_it(tmp_path):
    with pytest.raises(CorpusError, match=r"looks like UTF-16.*encoding='utf-16-le'"):
        read_samples(write(tmp_path / "s.txt", "café\nthé\n".encode("utf-16-le")))


def test_a_tab_separated_file_named_csv_is_read_as_tsv(tmp_path):
    samples, report = read_samples(write(tmp_path / "s.csv", "text\tlabel\nhello, world\tgreeting\nbye\tfarewell\n"))
    assert samples["text"].tolist() == ["hello, world", "bye"]
    assert samples["label"].tolist() == ["greeting", "farewell"]
    assert report.format == "tsv" and any("tab-separated" in note for note in report.notes)


def test_a_comma_separated_file_named_tsv_is_read_as_csv(tmp_path):
    samples, report = read_samples(write(tmp_path / "s.tsv", "text,label\nhello,greeting\nbye,farewell\n"))
    assert samples["label"].tolist() == ["greeting", "farewell"]
    assert report.format == "csv" and any("comma-separated" in note for note in report.notes)


# --------------------------------------------------------------------------- duplicates


REPEATS = "text\n" + "\n".join(["the same output"] * 8 + ["another output"] * 2 + ["unique"]) + "\n"


def test_a_synthetic_file_keeps_its_repeats_with_unique_ids(tmp_path):
    samples, report = read_samples(write(tmp_path / "s.csv", REPEATS), method="llm")
    assert len(samples) == 11 and samples["text"].value_counts()["the same output"] == 8
    assert samples["id"].is_unique
    first = samples["id"].iloc[0]
    assert samples["id"].iloc[1:8].tolist() == [f"{first}-{n}" for n in range(2, 9)]
    assert report.dropped == {} and report.duplicate_rows == 8 and report.duplicates_kept == 8
    assert report.duplicate_rate == pytest.approx(8 / 11)
    assert report.ids_made_unique == 0  # the repeats are reported as repeats, not as clashing ids
    assert "Raw duplicate rate 72.7 % (8 rows repeat an earlier row); kept." in report.summary()


def test_a_real_file_drops_its_repeats_and_still_reports_the_raw_rate(tmp_path):
    samples, report = read_samples(write(tmp_path / "s.csv", REPEATS))
    assert samples["text"].tolist() == ["the same output", "another output", "unique"]
    assert report.dropped == {"exact duplicate of an earlier row": 8}
    assert report.duplicate_rate == pytest.approx(8 / 11) and report.duplicates_kept == 0
    assert "Raw duplicate rate 72.7 %" in report.summary() and "dropped" in report.summary()


def test_the_duplicate_policy_can_be_switched(tmp_path):
    path = write(tmp_path / "s.csv", REPEATS)
    assert len(read_samples(path, method="llm", duplicates="drop")[0]) == 3
    kept, report = read_samples(path, duplicates="keep")
    assert len(kept) == 11 and kept["id"].is_unique and set(kept["source"]) == {"real"}
    assert report.duplicate_rate == pytest.approx(8 / 11)
    with pytest.raises(CorpusError, match="Unknown duplicates policy 'some'.*auto, keep, drop"):
        read_samples(path, duplicates="some")


def test_auto_keeps_synthetic_repeats_and_drops_real_ones_in_one_file(tmp_path):
    path = write(tmp_path / "s.csv", "text,source\na,real\na,real\nb,synthetic\nb,synthetic\nb,synthetic\n")
    samples, report = read_samples(path)
    assert samples["text"].tolist() == ["a", "b", "b", "b"]
    assert report.duplicate_rows == 3 and report.duplicates_kept == 2
    assert report.dropped == {"exact duplicate of an earlier row": 1}


def test_kept_repeats_with_given_ids_stay_unique(tmp_path):
    path = write(tmp_path / "s.csv", "id,text\n7,same\n7,same\n8,other\n")
    samples, report = read_samples(path, method="llm")
    assert samples["id"].tolist() == ["7", "7-2", "8"] and report.ids_made_unique == 1


def test_a_synthetic_file_with_repeats_has_a_duplicate_rate_in_compare(tmp_path):
    """Through the normal load path, compare's duplicate rate measures the file's repeats (it read 0)."""
    import numpy as np

    from analysis.judge.compare import compare

    real_lines = [f"Real sample {i} about river {i % 7} and city {i % 11}." for i in range(200)]
    real = write(tmp_path / "real.txt", "\n".join(real_lines) + "\n")
    synthetic_lines = [f"Generated text number {i % 5}." for i in range(20)]  # 5 texts, each 4 times
    synthetic = write(tmp_path / "gen.txt", "\n".join(synthetic_lines) + "\n")
    samples = combine_samples(read_samples(real)[0], read_samples(synthetic, method="llm")[0])[0]
    assert (samples["method"] == "llm").sum() == 20
    vectors = np.random.default_rng(0).normal(size=(len(samples), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    table = compare(samples, embeddings=vectors, size=20, with_mauve=False, with_utility=False)
    rate = table[(table["set"] == "llm") & (table["metric"] == "duplicate rate")]["value"]
    assert rate.tolist() == [pytest.approx(15 / 20)]


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "options, message",
    [
        ({"holdout_fraction": 2}, r"holdout must be a fraction in \[0, 1\), got 2"),
        ({"holdout_fraction": -0.1}, r"holdout must be a fraction"),
        ({"holdout_fraction": float("nan")}, r"holdout must be a fraction"),
        ({"generation": -1}, r"generation must be a whole number >= 0, got -1"),
        ({"generation": 1.5}, r"generation must be a whole number"),
        ({"max_bytes": 0}, r"size cap must be a positive number"),
        ({"encoding": "no-such-codec"}, r"Unknown encoding 'no-such-codec'"),
    ],
)
def test_bad_options_are_refused_before_reading(tmp_path, options, message):
    synthetic_only = write(tmp_path / "s.txt", "a sample\n")  # no real rows: the holdout was never checked
    with pytest.raises(CorpusError, match=message):
        read_samples(synthetic_only, method="llm", **options)
    with pytest.raises(CorpusError, match=message):
        read_samples(tmp_path / "missing.csv", method="llm", **options)  # before the file is looked at


def test_with_holdout_draws_the_real_holdout_again_as_a_load_with_that_share_would():
    """Issue 30: the app's holdout share. A larger share only adds to the reference; synthetic rows stay train."""
    texts = [f"sample number {i} about things" for i in range(400)]
    real = samples_from_frame(pd.DataFrame({"text": texts}), source="real", holdout_fraction=0.1)[0]
    synthetic = samples_from_frame(pd.DataFrame({"text": texts[:50]}), source="synthetic", method="llm")[0]
    both = pd.concat([real, synthetic], ignore_index=True)
    loaded_at_03 = samples_from_frame(pd.DataFrame({"text": texts}), source="real", holdout_fraction=0.3)[0]

    raised = with_holdout(both, 0.3)
    assert raised["split"].iloc[:400].tolist() == loaded_at_03["split"].tolist()
    assert (raised["split"].iloc[400:] == "train").all()
    before, after = both["split"] == "holdout", raised["split"] == "holdout"
    assert (after | ~before).all() and after.sum() > before.sum()  # nested: every earlier holdout sample stays
    assert both["split"].equals(with_holdout(raised, 0.1)["split"])  # back to the share it was loaded with
    assert raised.drop(columns="split").equals(both.drop(columns="split"))
