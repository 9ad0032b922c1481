"""The smaller items of issue 31, item 4: the app and the command line say the same about an empty file and an
unknown ``source`` value, and a list column chosen as text is its items joined, not numpy's repr."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.corpus import CorpusError, guess_text_column, read_samples, samples_from_frame


def test_a_list_column_chosen_as_text_joins_its_items():
    frame = pd.DataFrame({"words": [np.array(["hello", "world"]), ["a", " b "], (), None], "n": [1, 2, 3, 4]})
    samples, _ = samples_from_frame(frame, text_column="words")
    assert samples["text"].tolist() == ["hello world", "a b"]  # the two empty rows are dropped as empty texts


def test_a_parquet_list_column_loads_as_joined_text(tmp_path):
    path = tmp_path / "tokens.parquet"
    pd.DataFrame({"tokens": [["hello", "world"], ["collapse", "lab", "rocks"]]}).to_parquet(path)
    samples, _ = read_samples(path, text_column="tokens")
    assert samples["text"].tolist() == ["hello world", "collapse lab rocks"]
    assert not any("[" in text or "'" in text for text in samples["text"])


def test_an_empty_table_says_it_has_no_rows_before_looking_for_a_text_column():
    with pytest.raises(CorpusError, match="empty.csv: the file has no rows"):
        guess_text_column(pd.DataFrame({"a": [], "b": []}), "empty.csv")


def test_the_command_line_says_the_same_for_a_header_only_file(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("text,label\n", encoding="utf-8")
    assert main(["load", str(path)]) == 3
    assert "the file has no rows" in capsys.readouterr().err


def test_an_unknown_source_value_is_refused_even_when_the_role_is_given():
    """The app always gives the role (real or synthetic); the file's own column is still checked, as on the CLI."""
    frame = pd.DataFrame({"text": ["one", "two", "three"], "source": ["real", "bogus", "synthetic"]})
    for source in (None, "real", "synthetic"):
        with pytest.raises(CorpusError, match=r"f.csv, column 'source': unknown value\(s\) 'bogus' \(first at row 2\)"):
            samples_from_frame(frame, name="f.csv", source=source)


def test_a_known_source_column_under_another_role_is_loaded_with_a_note():
    frame = pd.DataFrame({"text": ["one", "two"], "source": ["real", "synthetic"]})
    samples, report = samples_from_frame(frame, source="real")
    assert samples["source"].tolist() == ["real", "real"]
    assert any("1 row(s) whose 'source' column says otherwise were loaded as real" in n for n in report.notes)
