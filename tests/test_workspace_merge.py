"""Additions to a workspace are merges (issue 31, item 2), a replace that races an add is refused, and
the workspace keeps a few earlier states so the last change can be undone (issue 32, item 1)."""

import queue
import threading

import pandas as pd
import pytest

from analysis.corpus import samples_from_frame
from analysis.workspace import KEEP_VERSIONS, Workspace, WorkspaceError
from tests.test_workspace import part

ROUNDS = 30


def make_samples(texts, source="real", method=None):
    return samples_from_frame(pd.DataFrame({"text": texts}), source=source, method=method)[0]


def add(ws, texts, name, source="real", **options):
    new = make_samples(texts, source=source, method=None if source == "real" else "llm")
    return ws.add_samples(new, part(name, len(new), source), **options)


def texts_of(ws):
    return set(ws.load()[0]["text"])


def test_an_add_to_an_empty_workspace_is_the_new_part(ws):
    manifest = add(ws, ["one", "two"], "first.csv")
    assert manifest["name"] == "first.csv" and manifest["rows"] == 2
    assert texts_of(ws) == {"one", "two"}


def test_an_add_to_an_empty_workspace_adds_to_what_it_shows(ws):
    """The app's empty workspace shows the demo: an add keeps the demo's rows and parts."""
    shown = make_samples(["demo one", "demo two"])
    shown_manifest = {"name": "Demo", "parts": [part("demo", 2)], "sha256": "0" * 64}
    manifest = add(ws, ["mine"], "mine.csv", source="synthetic", empty=lambda: (shown, shown_manifest))
    assert manifest["name"] == "Demo + mine.csv" and [p["name"] for p in manifest["parts"]] == ["demo", "mine.csv"]
    assert texts_of(ws) == {"demo one", "demo two", "mine"}


def test_an_add_applies_to_the_dataset_as_it_is_at_write_time(ws):
    """Session A read the dataset, then session B added to it: A's add keeps B's rows."""
    add(ws, ["base"], "base.csv")
    seen_by_a = ws.manifest()
    add(Workspace(ws.root), ["from b"], "b.csv", source="synthetic")
    manifest = add(ws, ["from a"], "a.csv", source="synthetic")
    assert texts_of(ws) == {"base", "from a", "from b"}
    assert [p["name"] for p in manifest["parts"]] == ["base.csv", "b.csv", "a.csv"]
    assert manifest["sha256"] != seen_by_a["sha256"]


def test_clashing_ids_are_made_unique_and_noted(ws):
    add(ws, ["same"], "one.csv")
    manifest = add(ws, ["same"], "two.csv")  # the same text and source: the same hashed id
    assert manifest["rows"] == 2 and ws.load()[0]["id"].is_unique
    assert any("ids clashed" in note for note in manifest["parts"][-1]["report"]["notes"])


def _adder(root, writer, start, done, errors):
    """One Streamlit session (a thread of the server): one add per round, in step with the other session."""
    ws = Workspace(root)  # each session builds its own Workspace object for the shared folder
    for round_ in range(ROUNDS):
        start.wait(timeout=60)
        try:
            add(ws, [f"writer {writer} round {round_}"], f"w{writer}-r{round_}.csv", source="synthetic")
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.put(f"writer {writer}, round {round_}: {type(exc).__name__}: {exc}")
        done.wait(timeout=60)


def test_two_sessions_adding_to_one_shared_workspace_at_once_both_land_every_round(tmp_path):
    """Issue 31: two sessions on ?workspace=NAME add at the same moment; every round both additions are kept."""
    ws = Workspace(tmp_path / "shared" / "team")
    add(ws, ["the real data"], "real.csv")
    start, done, errors = threading.Barrier(3), threading.Barrier(3), queue.Queue()
    sessions = [threading.Thread(target=_adder, args=(ws.root, w, start, done, errors), daemon=True) for w in (0, 1)]
    for thread in sessions:
        thread.start()
    try:
        for round_ in range(ROUNDS):
            start.wait(timeout=60)
            done.wait(timeout=60)
            assert errors.empty(), errors.get()
            samples, manifest = Workspace(ws.root).load()  # a fresh reader, as another session
            texts = set(samples["text"])
            assert {f"writer 0 round {round_}", f"writer 1 round {round_}"} <= texts, f"round {round_}: one add lost"
            assert manifest["rows"] == len(samples) == 1 + 2 * (round_ + 1), f"round {round_}"
            assert sum(p["rows"] for p in manifest["parts"]) == manifest["rows"]
    finally:
        start.abort(), done.abort()
        for thread in sessions:
            thread.join(timeout=60)


def test_a_replace_of_the_version_read_replaces(ws):
    first = add(ws, ["old"], "old.csv")
    manifest = add(ws, ["new"], "new.csv", replace=True, expected=first["sha256"])
    assert manifest["name"] == "new.csv" and texts_of(ws) == {"new"}


def test_a_replace_of_an_empty_workspace_read_as_empty(ws):
    add(ws, ["new"], "new.csv", replace=True, expected=None)
    assert texts_of(ws) == {"new"}


def test_a_replace_that_races_an_add_is_refused_and_keeps_the_add(ws):
    seen = add(ws, ["real"], "real.csv")
    add(Workspace(ws.root), ["added meanwhile"], "other.csv", source="synthetic")  # another session
    with pytest.raises(WorkspaceError, match="changed since this page read it.*Nothing was replaced"):
        add(ws, ["replacement"], "replacement.csv", replace=True, expected=seen["sha256"])
    assert texts_of(ws) == {"real", "added meanwhile"}


def test_a_replace_read_as_empty_is_refused_after_someone_added(ws):
    add(Workspace(ws.root), ["added meanwhile"], "other.csv")
    with pytest.raises(WorkspaceError, match="Nothing was replaced"):
        add(ws, ["replacement"], "replacement.csv", replace=True, expected=None)


def test_undo_restores_each_earlier_state_then_says_there_is_nothing_left(ws):
    add(ws, ["real"], "real.csv")
    add(ws, ["llm"], "llm.csv", source="synthetic")
    add(ws, ["only paraphrase"], "para.csv", source="synthetic", replace=True)  # the lost data
    assert texts_of(ws) == {"only paraphrase"}
    restored = ws.undo()
    assert restored["name"] == "real.csv + llm.csv" and texts_of(ws) == {"real", "llm"}
    assert ws.undo()["name"] == "real.csv" and texts_of(ws) == {"real"}
    assert ws.undo() is None and ws.load() is None  # before the first load: empty (the app shows the demo)
    with pytest.raises(WorkspaceError, match="Nothing to undo"):
        ws.undo()


def test_undo_after_a_reset_brings_the_dataset_back(ws):
    add(ws, ["mine"], "mine.csv")
    ws.clear()  # "Load the demo corpus"
    assert ws.load() is None
    ws.undo()
    assert texts_of(ws) == {"mine"}


def test_undo_is_refused_when_the_dataset_changed_since_it_was_read(ws):
    add(ws, ["a"], "a.csv")
    seen = add(ws, ["b"], "b.csv")
    add(Workspace(ws.root), ["c"], "c.csv")  # another session
    with pytest.raises(WorkspaceError, match="Nothing was undone"):
        ws.undo(expected=seen["sha256"])
    assert texts_of(ws) == {"a", "b", "c"}


def test_the_history_keeps_a_few_versions_and_their_files(ws):
    for i in range(KEEP_VERSIONS + 4):
        add(ws, [f"text {i}"], f"{i}.csv")
    history = ws.history()
    assert len(history) == KEEP_VERSIONS and history[0]["rows"] == KEEP_VERSIONS + 3
    for _ in range(KEEP_VERSIONS):
        ws.undo()  # every kept version's samples file is still there
    assert ws.load()[1]["rows"] == 4
    with pytest.raises(WorkspaceError, match="Nothing to undo"):
        ws.undo()


def test_a_damaged_history_only_loses_the_undo(ws):
    add(ws, ["a"], "a.csv")
    add(ws, ["b"], "b.csv")
    (ws.root / "history.json").write_text("{not json")
    assert ws.history() == [] and texts_of(ws) == {"a", "b"}
    with pytest.raises(WorkspaceError, match="Nothing to undo"):
        ws.undo()
    add(ws, ["c"], "c.csv")  # a later save starts a new history
    ws.undo()
    assert texts_of(ws) == {"a", "b"}
