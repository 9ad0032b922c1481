"""The workspace loses nothing: atomic saves survive exceptions and killed processes."""

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from analysis.corpus import samples_from_frame
from analysis.workspace import Workspace, WorkspaceError, atomic_write_bytes


def make_samples(texts, **options):
    return samples_from_frame(pd.DataFrame({"text": texts}), **options)[0]


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws")


def test_empty_workspace_loads_nothing(ws):
    assert ws.load() is None and ws.manifest() is None


def test_save_then_load_round_trip(ws):
    samples = make_samples(["one", "two", "three"], method="llm")
    samples["extra"] = [1, "mixed", None]  # metadata of mixed types is stored as text
    manifest = ws.save(samples, name="mine", parts=[{"name": "f.csv", "rows": 3}])
    loaded, loaded_manifest = ws.load()
    assert loaded_manifest == manifest
    assert loaded["text"].tolist() == ["one", "two", "three"]
    assert loaded["id"].tolist() == samples["id"].tolist()
    assert loaded["extra"].tolist()[:2] == ["1", "mixed"] and pd.isna(loaded["extra"][2])
    assert loaded["label"].tolist() == [None, None, None]
    assert manifest["rows"] == 3 and manifest["name"] == "mine"


def test_a_new_workspace_object_reads_the_same_state(ws):
    """What a browser refresh or a restart of the app does: read the folder afresh."""
    ws.save(make_samples(["kept"]), name="before restart", parts=[])
    loaded, manifest = Workspace(ws.root).load()
    assert loaded["text"].tolist() == ["kept"] and manifest["name"] == "before restart"


def test_old_sample_files_are_removed_after_a_save(ws):
    ws.save(make_samples(["a"]), name="1", parts=[])
    ws.save(make_samples(["b"]), name="2", parts=[])
    assert len(list(ws.root.glob("samples-*.parquet"))) == 1


def test_exception_during_a_save_keeps_the_previous_state(ws, monkeypatch):
    ws.save(make_samples(["old"]), name="old", parts=[])

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        ws.save(make_samples(["new"]), name="new", parts=[])
    monkeypatch.undo()
    loaded, manifest = ws.load()
    assert loaded["text"].tolist() == ["old"] and manifest["name"] == "old"
    assert not list(ws.root.glob(".tmp-*"))  # the partial file was cleaned up


def test_atomic_write_failure_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"old")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"


KILLED_SAVE = textwrap.dedent(
    """
    import os, signal, sys
    import pandas as pd
    from analysis.corpus import samples_from_frame
    from analysis.workspace import Workspace

    root, when = sys.argv[1], sys.argv[2]
    real_replace, real_write = os.replace, os.write

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    if when == "before-manifest":      # the new Parquet file is complete, the manifest is not
        def replace(src, dst):
            if str(dst).endswith("manifest.json"):
                kill()
            return real_replace(src, dst)
        os.replace = replace
    elif when == "mid-parquet":        # half of the new Parquet file is on disk
        import analysis.workspace as workspace
        def fdopen(fd, mode):
            class Half:
                def __enter__(self): return self
                def __exit__(self, *exc): return False
                def write(self, data):
                    real_write(fd, data[: len(data) // 2]); os.fsync(fd); kill()
            return Half()
        workspace.os.fdopen = fdopen
    texts = [f"new sample {i}" for i in range(5000)]
    samples = samples_from_frame(pd.DataFrame({"text": texts}))[0]
    Workspace(root).save(samples, name="new", parts=[])
    """
)


@pytest.mark.parametrize("when", ["mid-parquet", "before-manifest"])
def test_a_killed_save_leaves_the_previous_workspace_readable(ws, when):
    ws.save(make_samples(["old one", "old two"]), name="old", parts=[])
    result = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(ws.root), when], capture_output=True)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    loaded, manifest = Workspace(ws.root).load()
    assert manifest["name"] == "old"
    assert loaded["text"].tolist() == ["old one", "old two"]
    # and the next save works and cleans up after the crash
    ws.save(make_samples(["after"]), name="after", parts=[])
    assert Workspace(ws.root).load()[0]["text"].tolist() == ["after"]


def test_a_damaged_sample_file_is_reported_not_loaded(ws):
    manifest = ws.save(make_samples(["x"]), name="x", parts=[])
    (ws.root / manifest["samples_file"]).write_bytes(b"garbage")
    with pytest.raises(WorkspaceError, match="checksum"):
        ws.load()


def test_a_hand_edited_manifest_is_reported(ws):
    ws.save(make_samples(["x"]), name="x", parts=[])
    ws.manifest_path.write_text("{not json")
    with pytest.raises(WorkspaceError, match="not valid JSON"):
        ws.load()


def test_uploads_are_kept_under_safe_names(ws):
    path = ws.store_upload("../../etc/my data?.csv", b"text\nhello\n")
    assert path.parent == ws.root / "uploads"
    assert path.name.endswith("my_data_.csv") and path.read_bytes() == b"text\nhello\n"


def test_clear_forgets_the_dataset(ws):
    ws.save(make_samples(["x"]), name="x", parts=[])
    ws.clear()
    assert ws.load() is None
    ws.save(make_samples(["y"]), name="y", parts=[])
    assert ws.load()[1]["name"] == "y"
