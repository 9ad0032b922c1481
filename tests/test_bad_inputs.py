"""A corpus of bad and unusual input files, generated here (nothing binary is committed).

Each case either loads correctly, with its texts exactly as written, or raises one
:class:`CorpusError` whose message names the problem; never another exception, never a hang
(each case runs under a pytest-timeout bound). A few go through ``python -m analysis load`` too:
exit 3, the message on stderr, no traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import resource
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.corpus import MAX_JSON_DEPTH, CorpusError, read_samples

REPO = Path(__file__).resolve().parent.parent
PAYLOADS = [
    "<script>alert('x')</script>",
    "**bold** [a link](http://example.com) :red[red] $$x^2$$ <img src=x onerror=alert(1)>",
    '=HYPERLINK("http://example.com","click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A2)",
]
FUNNY_NAME = "<b onmouseover=alert(1)>[x](javascript:alert(1)) $$y$$ :red[z]"  # no '/' in a file name


@dataclass
class Case:
    """One input: how to make it, how to load it, and what must come out."""

    make: Callable[[Path], Path]
    error: str | None = None  # a regular expression the CorpusError's message must match
    texts: list[str] | None = None  # or the texts the load must give, exactly
    options: dict = field(default_factory=dict)
    check: Callable | None = None  # more assertions on (samples, report)


def _file(name: str, content: bytes | str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    return make


def _sparse(name: str, size: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        with open(path, "wb") as handle:
            handle.truncate(size)  # takes no disk space, reads as zeros
        return path

    return make


def _fifo(name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        os.mkfifo(folder / name)
        return folder / name

    return make


def _socket(name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(folder / name))
        server.close()  # the socket file stays
        return folder / name

    return make


def _link(name: str, target: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).symlink_to(target)
        return folder / name

    return make


def _folder_with_special_files(folder: Path) -> Path:
    root = folder / "with-specials"
    root.mkdir()
    (root / "one.txt").write_text("the only real sample\n", encoding="utf-8")
    os.mkfifo(root / "pipe.txt")
    (root / "zero.txt").symlink_to("/dev/zero")
    return root


def _csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *rows])
    return buffer.getvalue()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _deep_jsonl() -> str:
    deep = '{"a": ' * 10_000 + "1" + "}" * 10_000
    return '{"text": "fine"}\n' + deep + "\n"


def _unicode_lines() -> str:
    return "one\u2028still one\npara\u2029graph\x85next\x0cform\x0bfeed\nthird\n"


CP1252 = "Wait\u2026 then go\nnext line\n".encode("cp1252")  # \u2026 is 0x85: NEL if read as Latin-1
UTF16_CSV = "text,label\ncafé au lait,drink\nthé,drink\n"
HUGE = "word " * 1_000_000  # a 5 MB cell

CASES = {
    # binary, empty, NUL bytes
    "binary.csv": Case(
        _file("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
        error=r"binary\.csv: looks binary \(a NUL byte at offset 8\)",
    ),
    "binary.bin": Case(_file("binary.bin", bytes(range(256)) * 4), error=r"a binary file \('\.bin'\)"),
    "empty.csv": Case(_file("empty.csv", b""), error="the file is empty"),
    "blank.txt": Case(_file("blank.txt", " \n\t\r\n"), error="the file is empty"),
    "nul-late.csv": Case(
        _file("nul-late.csv", "text\n" + "fine line\n" * 2000 + "bad\x00line\n"), error=r"NUL byte at offset 20,008"
    ),
    "header-only.csv": Case(_file("header-only.csv", "text,label\n"), error="no rows"),
    # encodings
    "cp1252.txt": Case(_file("cp1252.txt", CP1252), texts=["Wait\u2026 then go", "next line"]),
    "cp1252-as-latin1.txt": Case(
        _file("cp1252-as-latin1.txt", CP1252), options={"encoding": "latin-1"}, texts=["Wait\x85 then go", "next line"]
    ),
    "latin1-forced-utf8.txt": Case(
        _file("latin1-forced-utf8.txt", CP1252), options={"encoding": "utf-8"}, error="cannot decode as utf-8"
    ),
    "unknown-encoding.txt": Case(
        _file("unknown-encoding.txt", "x\n"), options={"encoding": "klingon"}, error="Unknown encoding 'klingon'"
    ),
    "utf16-bom.csv": Case(_file("utf16-bom.csv", UTF16_CSV.encode("utf-16")), texts=["café au lait", "thé"]),
    "utf16-given.csv": Case(
        _file("utf16-given.csv", UTF16_CSV.encode("utf-16")),
        options={"encoding": "utf-16"},
        texts=["café au lait", "thé"],
    ),
    "utf16le-given.csv": Case(
        _file("utf16le-given.csv", UTF16_CSV.encode("utf-16-le")),
        options={"encoding": "utf-16-le"},
        texts=["café au lait", "thé"],
    ),
    "utf16le-unmarked.csv": Case(
        _file("utf16le-unmarked.csv", UTF16_CSV.encode("utf-16-le")), error=r"looks like UTF-16.*--encoding utf-16-le"
    ),
    # line breaks
    "unicode-breaks.txt": Case(
        _file("unicode-breaks.txt", _unicode_lines()),
        texts=["one\u2028still one", "para\u2029graph\x85next\x0cform\x0bfeed", "third"],
    ),
    "raw-u2028.jsonl": Case(
        _file("raw-u2028.jsonl", '{"text": "a\u2028b"}\n{"text": "c\u2029d\x85e"}\n'),
        texts=["a\u2028b", "c\u2029d\x85e"],
    ),
    "crlf-and-cr.txt": Case(_file("crlf-and-cr.txt", b"one\r\ntwo\rthree\n"), texts=["one", "two", "three"]),
    # CSV shapes
    "ragged.csv": Case(
        _file("ragged.csv", "text,label\nfine,a\ntoo,many,fields\n"),
        error=r"malformed CSV.*Expected 2 fields in line 3, saw 3",
    ),
    "unterminated.csv": Case(_file("unterminated.csv", 'text,label\n"never closed,a\n'), error="malformed CSV"),
    "tsv-as.csv": Case(
        _file("tsv-as.csv", "text\tlabel\nhello, world\tgreeting\nbye\tfarewell\n"),
        texts=["hello, world", "bye"],
        check=lambda s, r: (
            s["label"].tolist() == ["greeting", "farewell"] and any("tab-separated" in n for n in r.notes)
        ),
    ),
    "huge-cell.csv": Case(_file("huge-cell.csv", f'text\n"{HUGE}"\nsmall\n'), texts=[HUGE.strip(), "small"]),
    # size cap
    "over-cap.txt": Case(
        _file("over-cap.txt", "x" * 5000), options={"max_bytes": 1000}, error=r"over the 0\.0 MB cap.*--max-mb"
    ),
    "sparse-2gb.csv": Case(_sparse("sparse-2gb.csv", 2 * 10**9), error=r"is 2,000\.0 MB, over the 524\.3 MB cap"),
    "proc-maps.txt": Case(
        _link("proc-maps.txt", "/proc/self/maps"),
        options={"max_bytes": 1000},
        error=r"holds more than 0\.0 MB, over the 0\.0 MB cap",
    ),  # st_size says 0
    # JSON
    "malformed.json": Case(
        _file("malformed.json", '[{"text": "a"}, {"text": }]'), error=r"line 1, column 26: malformed JSON"
    ),
    "malformed.jsonl": Case(
        _file("malformed.jsonl", '{"text": "a"}\n{"text": oops}\n'), error=r"line 2: malformed JSON"
    ),
    "scalar.json": Case(_file("scalar.json", "42"), error="expected a JSON list of records or of strings, got int"),
    "deep.json": Case(_file("deep.json", _nested(10_000)), error=rf"nested more than {MAX_JSON_DEPTH} levels"),
    "deep-records.json": Case(
        _file("deep-records.json", json.dumps([{"text": "a", "m": json.loads(_nested(150))}])),
        error=rf"deep-records\.json: arrays or objects nested more than {MAX_JSON_DEPTH}",
    ),
    "deep.jsonl": Case(_file("deep.jsonl", _deep_jsonl()), error=r"deep\.jsonl, line 2: .*nested more than"),
    "nested-ok.json": Case(
        _file("nested-ok.json", json.dumps([{"text": "kept", "meta": json.loads(_nested(50))}])), texts=["kept"]
    ),
    "brackets-in-text.json": Case(
        _file("brackets-in-text.json", json.dumps(["[" * 500 + '"{' * 300, "plain"])),
        texts=["[" * 500 + '"{' * 300, "plain"],
    ),
    "not-parquet.parquet": Case(_file("not-parquet.parquet", "text\nhello\n"), error="not a Parquet file"),
    # special files
    "fifo.csv": Case(_fifo("fifo.csv"), error=r"fifo\.csv: a named pipe \(FIFO\), not a regular file"),
    "fifo.dat": Case(_fifo("fifo.dat"), error=r"fifo\.dat: a named pipe \(FIFO\)"),
    "socket.csv": Case(_socket("socket.csv"), error=r"socket\.csv: a socket, not a regular file"),
    "zero.csv": Case(
        _link("zero.csv", "/dev/zero"),
        error=r"zero\.csv: a character device \(through a symbolic link\), not a regular file",
    ),
    "zero.dat": Case(_link("zero.dat", "/dev/zero"), error=r"a character device \(through a symbolic link\)"),
    "dangling.csv": Case(_link("dangling.csv", "/nonexistent/nowhere.csv"), error="which does not exist"),
    "with-specials": Case(
        _folder_with_special_files,
        texts=["the only real sample"],
        check=lambda s, r: any("not regular files" in n for n in r.notes),
    ),
    # payloads: in texts, in column names, in file names; formula cells load as written
    "payloads.jsonl": Case(
        _file("payloads.jsonl", "".join(json.dumps({"text": p}) + "\n" for p in PAYLOADS)), texts=PAYLOADS
    ),
    "formulas.csv": Case(_file("formulas.csv", _csv(["text"], [[p] for p in PAYLOADS])), texts=PAYLOADS),
    "payload-columns.csv": Case(
        _file("payload-columns.csv", _csv([PAYLOADS[0], ":red[label]"], [["hello there", "x"]])),
        texts=["hello there"],
        check=lambda s, r: r.text_column == PAYLOADS[0],
    ),
    FUNNY_NAME + ".txt": Case(
        _file(FUNNY_NAME + ".txt", "a sample\n"), texts=["a sample"], check=lambda s, r: r.path == FUNNY_NAME + ".txt"
    ),
    FUNNY_NAME + ".json": Case(_file(FUNNY_NAME + ".json", "{"), error=re.escape(FUNNY_NAME + ".json, line 1")),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """Every case's file, made once per run in a temporary folder."""
    folder = tmp_path_factory.mktemp("bad")
    return {name: case.make(folder) for name, case in CASES.items()}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("name", list(CASES))
def test_each_bad_input_gives_a_clear_error_or_loads_as_written(corpus, name):
    case = CASES[name]
    if case.error:
        with pytest.raises(CorpusError, match=case.error):
            read_samples(corpus[name], **case.options)
        return
    samples, report = read_samples(corpus[name], **case.options)
    assert samples["text"].tolist() == case.texts
    assert case.check is None or case.check(samples, report)


@pytest.mark.timeout(10)
def test_sniffing_an_unknown_extension_reads_a_bounded_prefix(tmp_path):
    path = tmp_path / "big.dat"
    with open(path, "wb") as handle:
        handle.truncate(3 * 10**9)  # sparse: 3 GB of zeros on no disk space
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CorpusError, match=r"big\.dat: a binary file"):
        read_samples(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # ru_maxrss is in KiB
    assert grown_mb < 100, f"peak memory grew {grown_mb:.0f} MB to sniff a file"


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--holdout", "2"], r"holdout must be a fraction in \[0, 1\), got 2\.0"),
        (["--holdout", "nan"], r"holdout must be a fraction"),
        (["--generation", "-1", "--method", "llm"], r"generation must be a whole number >= 0, got -1"),
        (["--max-mb", "-5"], r"--max-mb must be a positive number"),
        (["--max-mb", "inf"], r"--max-mb must be a positive number"),
        (["--encoding", "klingon"], r"Unknown encoding 'klingon'"),
    ],
)
def test_bad_load_arguments_exit_3_before_any_work(tmp_path, capsys, arguments, message):
    missing = tmp_path / "not-there.csv"  # the arguments are refused before any file is looked at
    assert main(["load", str(missing), *arguments]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no such file" not in err
    assert re.search(message, err), err


@pytest.mark.timeout(10)
def test_load_switches_the_duplicate_policy(tmp_path, capsys):
    path = tmp_path / "gen.txt"
    path.write_text("same\nsame\nsame\nother\n", encoding="utf-8")
    assert main(["load", str(path), "--method", "llm", "--format", "json"]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert kept["overview"]["synthetic"] == 4 and kept["files"][0]["duplicate_rate"] == pytest.approx(0.5)
    assert main(["load", str(path), "--method", "llm", "--duplicates", "drop"]) == 0
    out = capsys.readouterr().out
    assert "2 of 4 rows kept" in out and "Raw duplicate rate 50.0 % (2 rows repeat an earlier row); dropped." in out


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "name, arguments, message",
    [
        ("deep.json", [], "nested more than"),
        ("deep.jsonl", [], "line 2: arrays or objects nested more than"),
        ("fifo.csv", [], "a named pipe (FIFO)"),
        ("zero.csv", [], "a character device (through a symbolic link)"),
        ("crlf-and-cr.txt", ["--holdout", "2"], "holdout must be a fraction in [0, 1)"),
    ],
)
def test_the_cli_exits_3_with_one_message_and_no_traceback(corpus, name, arguments, message):
    result = subprocess.run(
        [sys.executable, "-m", "analysis", "load", str(corpus[name]), *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert result.returncode == 3, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
