"""The workspace loses nothing: atomic saves survive exceptions, killed processes and concurrent
writers; a damaged workspace is moved aside, never deleted; sessions and shared workspaces are apart."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pandas as pd
import pytest

from analysis.corpus import LoadReport, samples_from_frame
from analysis.io import atomic_write_bytes
from analysis.workspace import (
    KEEP_VERSIONS,
    Workspace,
    WorkspaceDamaged,
    WorkspaceError,
    Workspaces,
    new_session_token,
    valid_session_token,
    validate_workspace_name,
)


def make_samples(texts, **options):
    return samples_from_frame(pd.DataFrame({"text": texts}), **options)[0]


def part(name, rows, source="real"):
    """A part record as the app writes it."""
    return {
        "name": name,
        "source": source,
        "method": "real" if source == "real" else "llm",
        "rows": rows,
        "report": LoadReport(path=name, format="csv", rows_read=rows, rows_kept=rows).to_dict(),
    }


def save(ws, texts, name):
    return ws.save(make_samples(texts), name=name, parts=[part(f"{name}.csv", len(texts))])


def test_empty_workspace_loads_nothing(ws):
    assert ws.load() is None and ws.manifest() is None


def test_save_then_load_round_trip(ws):
    samples = make_samples(["one", "two", "three"], method="llm")
    samples["extra"] = [1, "mixed", None]  # metadata of mixed types is stored as text
    manifest = ws.save(samples, name="mine", parts=[part("f.csv", 3, "synthetic")])
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
    """The current state and the last KEEP_VERSIONS earlier ones (for undo and recovery) stay; older ones go."""
    saved = [save(ws, [f"text {i}"], str(i)) for i in range(KEEP_VERSIONS + 3)]
    kept = sorted(p.name for p in ws.root.glob("samples-*.parquet"))
    assert kept == sorted(m["samples_file"] for m in saved[-(KEEP_VERSIONS + 1) :])
    assert json.loads((ws.root / "manifest.previous.json").read_text())["name"] == str(KEEP_VERSIONS + 1)


def test_save_refuses_parts_that_do_not_add_up(ws):
    with pytest.raises(ValueError, match="add up to 2 rows, not the 3"):
        ws.save(make_samples(["a", "b", "c"]), name="x", parts=[part("f.csv", 2)])
    assert ws.load() is None


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


def test_a_failed_upload_leaves_no_copy_on_disk_and_a_good_one_is_kept(ws):
    """Issue 31: a file that does not load was left in uploads/ (a full disk stayed full)."""
    from analysis.corpus import read_table
    from analysis.errors import CollapseLabError

    with pytest.raises(CollapseLabError), ws.upload("empty.csv", b"") as path:
        assert path.is_file()  # stored for the reader
        read_table(path, display_name="empty.csv")
    assert not path.exists() and list((ws.root / "uploads").iterdir()) == []
    with ws.upload("good.csv", b"text\nhello\n") as good:
        table, _ = read_table(good, display_name="good.csv")
    assert good.read_bytes() == b"text\nhello\n" and len(table) == 1
    # the same bytes again, failing this time (say a column the user chose): the earlier copy stays
    with pytest.raises(CollapseLabError), ws.upload("good.csv", b"text\nhello\n") as again:
        raise CollapseLabError("no such column")
    assert again == good and good.is_file()
    # an interruption, not an error (the app's rerun or a stop of the script run), keeps the copy to read next time

    class Rerun(BaseException):
        pass

    with pytest.raises(Rerun), ws.upload("other.csv", b"text\nbye\n") as other:
        raise Rerun
    assert other.is_file()
    assert sorted(p.name for p in (ws.root / "uploads").iterdir()) == sorted([good.name, other.name])


def test_clear_forgets_the_dataset(ws):
    ws.save(make_samples(["x"]), name="x", parts=[])
    ws.clear()
    assert ws.load() is None
    ws.save(make_samples(["y"]), name="y", parts=[])
    assert ws.load()[1]["name"] == "y"


# --- concurrent writers ------------------------------------------------------------------------

ROUNDS, SAVES_PER_ROUND = 30, 2


def _frames(writer):
    """Small, distinct datasets for one writer: one per save."""
    return [
        [f"writer {writer} round {r} save {k} sample {i}" for i in range(3)]
        for r in range(ROUNDS)
        for k in range(SAVES_PER_ROUND)
    ]


def _writer(root, writer, start, done, errors):
    """Save SAVES_PER_ROUND datasets per round, in step with the other writer; report any error."""
    ws = Workspace(root)
    frames = iter([make_samples(texts) for texts in _frames(writer)])
    for _ in range(ROUNDS):
        start.wait(timeout=60)
        try:
            for _ in range(SAVES_PER_ROUND):
                frame = next(frames)
                ws.save(frame, name=f"writer {writer}", parts=[part("f.csv", len(frame))])
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.put(f"writer {writer}: {type(exc).__name__}: {exc}")
        done.wait(timeout=60)


def _assert_loadable_every_round(root, start, done, errors):
    everything = {text for writer in (0, 1) for texts in _frames(writer) for text in texts}
    for round_ in range(ROUNDS):
        start.wait(timeout=60)
        done.wait(timeout=60)
        assert errors.empty(), f"round {round_}: {errors.get()}"
        loaded = Workspace(root).load()  # a fresh reader, as after a restart
        assert loaded is not None, f"round {round_}: the workspace is empty"
        samples, manifest = loaded
        assert manifest["rows"] == len(samples) == 3 and set(samples["text"]) <= everything, f"round {round_}"


@pytest.mark.slow  # no model, but tens of seconds of CPU on 2 cores
def test_two_threads_saving_at_once_leave_a_loadable_workspace_every_round(ws):
    """Streamlit sessions are threads of one server: two of them save the same (shared) workspace."""
    import queue

    start, done, errors = threading.Barrier(3), threading.Barrier(3), queue.Queue()
    writers = [threading.Thread(target=_writer, args=(ws.root, w, start, done, errors), daemon=True) for w in (0, 1)]
    for thread in writers:
        thread.start()
    try:
        _assert_loadable_every_round(ws.root, start, done, errors)
    finally:
        start.abort(), done.abort()
        for thread in writers:
            thread.join(timeout=60)


@pytest.mark.slow  # no model, but tens of seconds of CPU on 2 cores
def test_two_processes_saving_at_once_leave_a_loadable_workspace_every_round(ws):
    """Two servers (or the CLI and a server) on one workspace folder."""
    context = multiprocessing.get_context("fork")
    start, done, errors = context.Barrier(3), context.Barrier(3), context.SimpleQueue()
    writers = [context.Process(target=_writer, args=(ws.root, w, start, done, errors), daemon=True) for w in (0, 1)]
    for process in writers:
        process.start()
    try:
        _assert_loadable_every_round(ws.root, start, done, errors)
    finally:
        start.abort(), done.abort()
        for process in writers:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()


def test_clean_up_keeps_what_a_committed_manifest_names_and_tolerates_vanishing_files(ws, monkeypatch):
    """A clean-up never trusts what it was told to keep: it reads the committed manifests."""
    manifest = save(ws, ["a"], "a")
    stale = ws.root / ".tmp-gone.parquet"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    real_stat = type(stale).stat

    def vanishing_stat(path, *args, **kwargs):  # another writer renamed it after the glob
        if path.name == stale.name:
            path.unlink(missing_ok=True)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(type(stale), "stat", vanishing_stat)
    ws.clear()  # runs the clean-up: the temporary file vanishes under it
    monkeypatch.undo()
    assert (ws.root / manifest["samples_file"]).exists()  # the previous state's file is kept


def test_subsets_saved_at_once_are_all_kept(ws):
    def keep(prefix):
        for i in range(15):
            ws.save_subset(f"{prefix}{i}", [f"id-{prefix}-{i}"])

    threads = [threading.Thread(target=keep, args=(prefix,)) for prefix in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(Workspace(ws.root).subsets()) == 30


# --- damaged workspaces ------------------------------------------------------------------------


def _drop_parts(ws, manifest):
    data = json.loads(ws.manifest_path.read_text())
    del data["parts"]
    ws.manifest_path.write_text(json.dumps(data))


def _manifest_list(ws, manifest):
    ws.manifest_path.write_text(json.dumps([json.loads(ws.manifest_path.read_text())]))


def _garbage_parquet(ws, manifest):
    (ws.root / manifest["samples_file"]).write_bytes(b"this is no parquet file")


def _garbage_parquet_with_its_checksum(ws, manifest):
    """Garbage whose checksum the manifest carries (a sync tool that rewrote both): unreadable Parquet."""
    import hashlib

    garbage = b"PAR1 but not really"
    (ws.root / manifest["samples_file"]).write_bytes(garbage)
    data = json.loads(ws.manifest_path.read_text())
    data["sha256"] = hashlib.sha256(garbage).hexdigest()
    ws.manifest_path.write_text(json.dumps(data))


def _counts_do_not_add_up(ws, manifest):
    data = json.loads(ws.manifest_path.read_text())
    data["parts"][0]["rows"] += 5
    ws.manifest_path.write_text(json.dumps(data))


def _missing_samples(ws, manifest):
    (ws.root / manifest["samples_file"]).unlink()


def _not_json(ws, manifest):
    ws.manifest_path.write_text("{not json")


def _escaping_samples_file(ws, manifest):
    data = json.loads(ws.manifest_path.read_text())
    data["samples_file"] = "../../etc/passwd"
    ws.manifest_path.write_text(json.dumps(data))


DAMAGE = {
    "parts removed": (_drop_parts, "has no 'parts'"),
    "manifest is a list": (_manifest_list, "holds a JSON list"),
    "parquet is garbage": (_garbage_parquet, "checksum"),
    "parquet is garbage, checksum matches": (_garbage_parquet_with_its_checksum, "not a readable Parquet file"),
    "counts do not add up": (_counts_do_not_add_up, "add up to"),
    "samples file missing": (_missing_samples, "is missing"),
    "manifest not JSON": (_not_json, "not valid JSON"),
    "samples file outside": (_escaping_samples_file, "not the name of a samples file"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_workspace_is_moved_aside_and_its_last_complete_state_opens(ws, damage):
    damage_it, says = DAMAGE[damage]
    save(ws, ["old one", "old two"], "old")
    current = save(ws, ["new one", "new two", "new three"], "new")
    ws.store_upload("mine.csv", b"text\nhello\n")
    ws.save_subset("picked", ["a", "b"])
    damage_it(ws, current)
    damaged_manifest = ws.manifest_path.read_bytes()

    with pytest.raises(WorkspaceDamaged, match=says):
        Workspace(ws.root).check()
    loaded, recovery = Workspace(ws.root).open()

    assert recovery is not None and says in recovery.reason
    copy = ws.root.parent / os.path.basename(recovery.damaged_copy)
    assert copy.is_dir() and copy.name.startswith(f"{ws.root.name}.damaged-")
    assert (copy / "manifest.json").read_bytes() == damaged_manifest  # kept as it was
    assert [p.name for p in (copy / "uploads").iterdir()] == [p.name for p in (ws.root / "uploads").iterdir()]
    # the newest complete state: the damaged one's predecessor (or, if only the manifest is hurt
    # and its own file is fine, still the predecessor: a damaged manifest cannot be trusted)
    samples, manifest = loaded
    assert manifest["name"] == "old" and samples["text"].tolist() == ["old one", "old two"]
    assert Workspace(ws.root).subsets() == {"picked": ["a", "b"]}
    note = Workspace(ws.root).recovery_note()
    assert note == recovery and str(copy) in note.message() and "moved aside" in note.message()
    again, second = Workspace(ws.root).open()  # healthy now: nothing more moves
    assert second is None and again[1] == manifest
    assert len(list(ws.root.parent.glob(f"{ws.root.name}.damaged-*"))) == 1


def test_a_damaged_workspace_without_an_earlier_state_opens_empty(ws):
    save(ws, ["only"], "only")
    _manifest_list(ws, None)
    loaded, recovery = ws.open()
    assert loaded is None and recovery.restored is None and "demo corpus" in recovery.message()
    assert (ws.root.parent / os.path.basename(recovery.damaged_copy) / "manifest.json").exists()


def test_damaged_subsets_are_moved_aside_with_the_rest(ws):
    save(ws, ["x"], "x")
    (ws.root / "subsets.json").write_text('["not", "a", "map"]')
    loaded, recovery = ws.open()
    assert "subsets.json" in recovery.reason and loaded[1]["name"] == "x"
    assert ws.subsets() == {}
    assert (ws.root.parent / os.path.basename(recovery.damaged_copy) / "subsets.json").exists()


def test_a_save_over_a_damaged_manifest_keeps_the_damaged_copy(ws):
    save(ws, ["x"], "x")
    ws.manifest_path.write_text("[]")
    save(ws, ["y"], "y")
    assert ws.load()[1]["name"] == "y"
    copies = list(ws.root.parent.glob(f"{ws.root.name}.damaged-*"))
    assert len(copies) == 1 and (copies[0] / "manifest.json").read_text() == "[]"


def test_recovery_when_another_session_already_recovered_does_nothing(ws):
    save(ws, ["x"], "x")
    save(ws, ["y"], "y")
    _drop_parts(ws, None)
    first = Workspace(ws.root).recover("parts removed")
    assert first is not None
    assert Workspace(ws.root).recover("parts removed") is None
    assert len(list(ws.root.parent.glob(f"{ws.root.name}.damaged-*"))) == 1


# --- sessions and shared workspaces ------------------------------------------------------------


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", ".", "", " ", "x" * 65, ".hidden", "a b", "é", "a\\b", None])
def test_workspace_names_cannot_leave_their_folder(tmp_path, name):
    with pytest.raises(WorkspaceError, match="not a workspace name"):
        Workspaces(tmp_path).shared(name)


def test_shared_names_and_session_tokens(tmp_path):
    store = Workspaces(tmp_path)
    assert validate_workspace_name(" team-review ") == "team-review"
    assert store.shared("team_1").root == tmp_path / "shared" / "team_1"
    tokens = {new_session_token() for _ in range(100)}
    assert len(tokens) == 100 and all(valid_session_token(t) for t in tokens)
    assert not valid_session_token("short") and not valid_session_token("../" + "a" * 40)
    with pytest.raises(WorkspaceError):
        store.session("abc")


def test_two_sessions_do_not_see_each_other(tmp_path):
    store = Workspaces(tmp_path)
    alice, bob = store.session(new_session_token()), store.session(new_session_token())
    save(alice, ["alice's private text"], "tenant_A_private")
    assert bob.load() is None and bob.subsets() == {}
    bob.clear()
    assert alice.load()[1]["name"] == "tenant_A_private"
    assert not bob.root.exists() or not (bob.root / "manifest.json").exists()


def test_an_old_single_folder_workspace_becomes_the_shared_default(tmp_path):
    old = Workspace(tmp_path)  # the layout before sessions: the dataset directly in the folder
    save(old, ["from before"], "before")
    old.store_upload("mine.csv", b"text\nhello\n")
    store = Workspaces(tmp_path)
    assert store.migrate_legacy() == tmp_path / "shared" / "default"
    samples, manifest = store.shared("default").load()
    assert manifest["name"] == "before" and samples["text"].tolist() == ["from before"]
    assert list((tmp_path / "shared" / "default" / "uploads").iterdir())
    assert not (tmp_path / "manifest.json").exists()
    assert store.migrate_legacy() is None  # once


def test_an_interrupted_migration_finishes(tmp_path):
    old = Workspace(tmp_path)
    save(old, ["from before"], "before")
    staging = tmp_path / "shared" / ".default-migrating"
    staging.mkdir(parents=True)
    for samples_file in tmp_path.glob("samples-*.parquet"):  # killed after moving the samples file
        os.rename(samples_file, staging / samples_file.name)
    Workspaces(tmp_path).migrate_legacy()
    assert Workspaces(tmp_path).shared("default").load()[1]["name"] == "before"
    assert not staging.exists()


def test_change_rewrites_the_dataset_as_one_version_and_refuses_a_stale_one(ws):
    """The Data page's holdout share: a change of the rows, under the lock, keeping the name and the parts."""
    first = save(ws, ["a", "b", "c"], "mine")
    changed = ws.change(lambda t: t.assign(label="x"), action="relabelled", expected=first["sha256"])
    assert changed["name"] == "mine" and changed["parts"] == first["parts"] and changed["sha256"] != first["sha256"]
    assert (ws.load()[0]["label"] == "x").all()
    with pytest.raises(WorkspaceError, match="Nothing was relabelled"):
        ws.change(lambda t: t, action="relabelled", expected=first["sha256"])  # the page showed the old version
    assert ws.undo()["sha256"] == first["sha256"]  # one version: one undo takes it back
    with pytest.raises(WorkspaceError, match="no dataset to change"):
        Workspace(ws.root.parent / "empty").change(lambda t: t, action="changed")


def test_settings_default_persist_and_refuse_what_they_do_not_take(ws):
    from analysis.workspace_settings import SETTINGS, change_setting, read_settings

    assert read_settings(ws) == {"coverage": "crossfit"}
    change_setting(ws, "coverage", "holdout")
    assert read_settings(Workspace(ws.root)) == {"coverage": "holdout"}  # on disk: a restart keeps it
    with pytest.raises(WorkspaceError, match="one of holdout, crossfit"):
        change_setting(ws, "coverage", "train")
    with pytest.raises(WorkspaceError, match="No setting called 'colour'"):
        change_setting(ws, "colour", "red")
    for damaged in (b"{not json", b"[1, 2]", json.dumps({"coverage": "bogus"}).encode()):
        (ws.root / SETTINGS).write_bytes(damaged)
        assert read_settings(ws) == {"coverage": "crossfit"}  # never a reason to fail: the default
