"""The Data page loading a file read in many chunks (issue 18, part 4): a progress bar fed while it is read, the
file read once per session (not on every rerun), and a bad row far into the file shown as an error with its row."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import analysis.corpus
from analysis.corpus import stream

APP = str(Path(__file__).resolve().parents[2] / "app.py")
ROWS = 3000


@pytest.fixture()
def reads(monkeypatch):
    """Small chunks, and every read_table call of the page recorded with the progress it reported."""
    monkeypatch.setattr(stream, "CHUNK_ROWS", 250)
    monkeypatch.setattr(stream, "BLOCK_BYTES", 4096)
    calls: list[list[tuple[int, float]]] = []
    real = analysis.corpus.read_table

    def recording(path, **options):
        seen: list[tuple[int, float]] = []
        calls.append(seen)
        shown = options.get("progress")
        assert shown is not None, "the page reads without a progress bar"

        def progress(rows: int, fraction: float) -> None:
            seen.append((rows, fraction))
            shown(rows, fraction)

        return real(path, **{**options, "progress": progress})

    monkeypatch.setattr(analysis.corpus, "read_table", recording)
    return calls


def csv(rows: int = ROWS, bad_row: int | None = None) -> bytes:
    lines = ["text,label,generation"]
    lines += [f"sample number {i} about a topic,{'ab'[i % 2]},{'x' if i == bad_row else 0}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def upload(data: bytes) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.file_uploader(key="upload_file").set_value(("big.csv", data, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_file_read_in_chunks_feeds_the_progress_bar_and_is_read_once(reads):
    at = upload(csv())
    assert len(reads) == 1
    progress = reads[0]
    assert len(progress) >= 5 and progress == sorted(progress) and progress[-1] == (ROWS, 1.0)
    assert f"Load {ROWS:,} samples" in [button.label for button in at.button]
    at.checkbox(key="upload_real_keep_duplicates").check().run()  # a rerun: the file is not read again
    at.radio(key="upload_mode").set_value("Replace the current dataset").run()
    at.button(key="upload_add").click().run()
    assert not at.exception and len(reads) == 1
    assert {m.label: m.value for m in at.metric}["samples"] == f"{ROWS:,}"


def test_a_bad_row_far_into_the_file_is_an_error_with_its_row(reads):
    at = upload(csv(bad_row=2800))
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "big.csv, column 'generation', row 2801: 'x'" in errors[0]
