"""Every path a command reads is guarded like a data file (issue 31, item 3): the rules file of ``check`` and
``compare`` (a pipe, ``/dev/zero``, a folder, a huge file), and ``load`` of a folder that cannot be read or is
a whole file system (``/proc``, ``/``): exit 3 with one clear message, quickly, in bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.corpus import CorpusError, read_table
from analysis.corpus import files as corpus_files
from analysis.judge.risks import RulesError, load_rules, load_trend_rules

REPO = Path(__file__).resolve().parents[1]
MEMORY_BOUND = 200 * 1024 * 1024

#: Runs ``python -m analysis ARGS`` with its data segment capped at MEMORY_BOUND: a command that reads
#: /dev/zero into memory dies (MemoryError) instead of exiting 3 with the message.
BOUNDED = f"""
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_DATA, ({MEMORY_BOUND}, {MEMORY_BOUND}))
sys.argv = ["python -m analysis", *sys.argv[1:]]
runpy.run_module("analysis", run_name="__main__")
"""


def run_bounded(*args: str, timeout: float = 10) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", BOUNDED, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env
    )
    return result, time.monotonic() - started


def one_message(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture
def named_files(tmp_path):
    """A real and a synthetic file that exist (the rules file is read before them)."""
    real = tmp_path / "real.txt"
    real.write_text("\n".join(f"Sample {i} about rivers and hills" for i in range(40)), encoding="utf-8")
    return ["--real", str(real), "--synthetic", f"same={real}"]


def test_check_with_a_fifo_as_rules_exits_3_at_once(tmp_path, named_files):
    fifo = tmp_path / "rules.toml"
    os.mkfifo(fifo)
    result, seconds = run_bounded("check", *named_files, "--rules", str(fifo))  # 10 s: a hang fails here
    assert result.returncode == 3, result.stderr
    assert "a named pipe (FIFO), not a regular file" in one_message(result.stderr)
    print(f"check --rules FIFO: exit 3 in {seconds:.2f} s, interpreter start included")


def test_check_with_dev_zero_as_rules_exits_3_in_bounded_memory(named_files):
    result, seconds = run_bounded("check", *named_files, "--rules", "/dev/zero")
    assert result.returncode == 3, result.stderr
    assert "/dev/zero: a character device, not a regular file" in one_message(result.stderr)
    print(f"check --rules /dev/zero: exit 3 in {seconds:.2f} s under a {MEMORY_BOUND >> 20} MB data limit")


def test_the_memory_bound_is_real():
    """The bound the two tests above run under stops a command that reads /dev/zero into memory."""
    reader = BOUNDED.replace(
        'runpy.run_module("analysis", run_name="__main__")', 'open("/dev/zero", "rb").read(1 << 30)'
    )
    result = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "MemoryError" in result.stderr


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda folder: folder, "a folder, not a file. Give the path of a rules TOML file"),
        (lambda folder: folder / "missing.toml", "no such file or folder"),
        (lambda folder: _write(folder / "huge.toml", b"# " + b"x" * 2_000_000), "holds more than 1.0 MB"),
        (lambda folder: _write(folder / "binary.toml", b"\xff\xfe\x00rule"), "not UTF-8 text"),
    ],
)
def test_a_rules_path_that_is_not_a_rules_file_is_a_clear_error(tmp_path, make, message, capsys, named_files):
    path = make(tmp_path)
    for load in (load_rules, load_trend_rules):
        with pytest.raises(RulesError, match=message.replace(".", r"\.").replace("(", r"\(")):
            load(path)
    assert main(["check", *named_files, "--rules", str(path)]) == 3
    assert message in capsys.readouterr().err


def test_an_empty_rules_file_is_an_empty_rule_set(tmp_path):
    assert load_rules(_write(tmp_path / "empty.toml", b"")) == [] and load_trend_rules(tmp_path / "empty.toml") == []


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- load of folders that cannot be read -------------------------------------------------------


@pytest.mark.parametrize("path", ["/proc", "/"])
def test_load_of_a_whole_file_system_exits_3_with_one_message(path):
    result, seconds = run_bounded("load", path, timeout=120)
    assert result.returncode == 3, result.stderr[-2000:]
    message = one_message(result.stderr)
    assert "cannot be read" in message or "not a folder of samples" in message, message
    print(f"load {path}: exit 3 in {seconds:.1f} s: {message}")


def test_an_unreadable_subfolder_is_named_in_the_message(tmp_path, monkeypatch, capsys):
    root = tmp_path / "samples"
    (root / "locked").mkdir(parents=True)
    (root / "one.txt").write_text("a sample", encoding="utf-8")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "locked":  # as root, chmod 000 does not stop a read: simulate it
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(corpus_files.os, "scandir", scandir)
    with pytest.raises(CorpusError, match=r"locked \(inside .*samples\): the folder cannot be read \(permission"):
        read_table(root)
    assert main(["load", str(root)]) == 3
    assert "the folder cannot be read (permission denied)" in one_message(capsys.readouterr().err)


def test_a_path_whose_status_cannot_be_read_exits_3(tmp_path, monkeypatch, capsys):
    target = tmp_path / "secret.csv"
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if self.name == "secret.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    assert main(["load", str(target)]) == 3
    assert "cannot read it (Permission denied)" in one_message(capsys.readouterr().err)


def test_a_folder_with_too_many_entries_is_refused(tmp_path, monkeypatch):
    for i in range(12):
        (tmp_path / f"{i}.txt").write_text(f"sample {i}", encoding="utf-8")
    monkeypatch.setattr(corpus_files, "MAX_FOLDER_ENTRIES", 10)
    with pytest.raises(CorpusError, match="holds more than 10 files and folders, which is not a folder of samples"):
        read_table(tmp_path)
    monkeypatch.setattr(corpus_files, "MAX_FOLDER_ENTRIES", 12)
    assert len(read_table(tmp_path)[0]) == 12


def test_a_linked_folder_is_not_followed(tmp_path):
    root = tmp_path / "samples"
    (root / "topic").mkdir(parents=True)
    (root / "topic" / "a.txt").write_text("inside", encoding="utf-8")
    (root / "loop").symlink_to(root)  # would walk forever if followed
    table, _ = read_table(root)
    assert table["text"].tolist() == ["inside"] and table["label"].tolist() == ["topic"]
