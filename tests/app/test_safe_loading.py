"""Loading that cannot lose data (issue 32, item 1), merges into a shared workspace (issue 31, item 2) and
path errors shown as messages (issue 31, item 3), through the real app script with AppTest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from analysis.corpus import LoadReport, samples_from_frame
from analysis.corpus import files as corpus_files
from analysis.workspace import Workspaces

APP = str(Path(__file__).resolve().parents[2] / "app.py")
ANALYSIS_PAGES = [
    "pages/embedding_map.py",
    "pages/tail_coverage.py",
    "pages/comparison.py",
    "pages/ab_test.py",
    "pages/monitor.py",
    "pages/mixture.py",
    "pages/simulator.py",
]


def run_app(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    at.run()
    ok(at)
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    """What the user reads (the app escapes markdown in user-given names with backslashes)."""
    return [element.value.replace("\\", "") for element in elements]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def csv(texts: list[str]) -> bytes:
    return pd.DataFrame({"text": texts}).to_csv(index=False).encode()


def choose_file(at: AppTest, name: str, texts: list[str]) -> AppTest:
    return ok(at.file_uploader(key="upload_file").set_value((name, csv(texts), "text/csv")).run())


REAL = [f"A real sample about rivers number {i}." for i in range(6)]
LLM = [f"An llm sample about mountains number {i}." for i in range(4)]
PARAPHRASE = [f"A paraphrased sample about lakes number {i}." for i in range(3)]


def test_replace_is_not_kept_for_the_next_upload_and_adding_is_the_default():
    """The issue's lost data: a real upload replaced the demo, then the next (synthetic) upload replaced that."""
    at = run_app()
    choose_file(at, "real.csv", REAL)
    assert at.radio(key="upload_mode").value == "Replace the current dataset"  # the demo: nothing to lose
    ok(at.button(key="upload_add").click().run())
    assert metrics(at)["samples"] == "6"

    for role_method, name, texts in (("llm", "llm.csv", LLM), ("paraphrase", "para.csv", PARAPHRASE)):
        ok(at.radio(key="upload_role").set_value("synthetic").run())
        ok(at.selectbox(key="upload_method").set_value(role_method).run())
        choose_file(at, name, texts)
        assert at.radio(key="upload_mode").value == "Add to the current dataset", name
        ok(at.button(key="upload_add").click().run())
    shown = metrics(at)
    assert shown["samples"] == "13" and shown["real"] == "6" and shown["synthetic"] == "7"


def test_replacing_your_own_data_must_be_confirmed_and_undo_brings_it_back():
    at = run_app()
    choose_file(at, "real.csv", REAL)
    ok(at.button(key="upload_add").click().run())
    ok(at.radio(key="upload_role").set_value("synthetic").run())
    choose_file(at, "llm.csv", LLM)
    ok(at.button(key="upload_add").click().run())
    assert metrics(at)["samples"] == "10"

    choose_file(at, "para.csv", PARAPHRASE)
    ok(at.radio(key="upload_mode").set_value("Replace the current dataset").run())
    assert any("Replacing removes the 10 samples now loaded" in w.value for w in at.warning)
    assert at.button(key="upload_add").disabled  # not without the confirmation
    ok(at.checkbox(key="upload_confirm_replace").check().run())
    assert not at.button(key="upload_add").disabled
    ok(at.button(key="upload_add").click().run())
    assert metrics(at)["samples"] == "3" and metrics(at)["real"] == "0"
    assert any("no real samples" in w.value for w in at.warning)  # the Data page says what to load
    assert any("para.csv is loaded" in i.value for i in at.info)  # no second Load of the file just loaded
    choose_file(at, "para.csv", PARAPHRASE)  # chosen again: a new upload, and the replace is not kept for it
    assert at.radio(key="upload_mode").value == "Add to the current dataset"

    ok(at.button(key="undo_last").click().run())
    shown = metrics(at)
    assert shown["samples"] == "10" and shown["real"] == "6"
    assert any("Undone" in s.value for s in at.success)
    ok(at.button(key="undo_last").click().run())  # one more: the real file alone
    assert metrics(at)["samples"] == "6"


def test_a_dataset_without_real_samples_says_what_to_load_on_every_page():
    synthetic = samples_from_frame(pd.DataFrame({"text": LLM}), source="synthetic", method="llm")[0]
    report = LoadReport(path="llm.csv", format="csv", rows_read=4, rows_kept=4).to_dict()
    part = {"name": "llm.csv", "source": "synthetic", "method": "llm", "rows": 4, "report": report}
    Workspaces().shared("only-synthetic").add_samples(synthetic, part)

    at = run_app(workspace="only-synthetic")
    assert any("no real samples" in w.value for w in at.warning)  # the Data page itself still works
    for page in ANALYSIS_PAGES:
        ok(at.switch_page(page).run())
        assert not at.error, (page, texts(at.error))
        warnings = [w for w in texts(at.warning) if "no real samples" in w]
        assert len(warnings) == 1 and "load your real samples" in warnings[0] and "llm: 4" in warnings[0], page


def test_two_sessions_adding_to_one_shared_workspace_both_land():
    alice, bob = run_app(workspace="team"), run_app(workspace="team")
    choose_file(alice, "real.csv", REAL)
    ok(alice.button(key="upload_add").click().run())  # alice replaces the demo with her real file
    bob.run()  # bob's page now shows it
    for at, method, name, texts in ((alice, "llm", "llm.csv", LLM), (bob, "paraphrase", "para.csv", PARAPHRASE)):
        ok(at.radio(key="upload_role").set_value("synthetic").run())
        ok(at.selectbox(key="upload_method").set_value(method).run())
        choose_file(at, name, texts)
    ok(alice.button(key="upload_add").click().run())
    ok(bob.button(key="upload_add").click().run())  # bob's page read the dataset before alice's add
    assert metrics(bob)["samples"] == "13"
    samples, manifest = Workspaces().shared("team").load()
    assert set(samples["method"]) == {"real", "llm", "paraphrase"} and len(manifest["parts"]) == 3


def test_a_replace_that_races_an_add_is_refused_with_a_message():
    alice, bob = run_app(workspace="race"), run_app(workspace="race")
    choose_file(alice, "real.csv", REAL)
    ok(alice.button(key="upload_add").click().run())
    bob.run()
    choose_file(bob, "other.csv", PARAPHRASE)
    ok(bob.radio(key="upload_mode").set_value("Replace the current dataset").run())
    ok(bob.checkbox(key="upload_confirm_replace").check().run())
    ok(alice.radio(key="upload_role").set_value("synthetic").run())
    choose_file(alice, "llm.csv", LLM)
    ok(alice.button(key="upload_add").click().run())  # alice adds after bob's page read the dataset
    ok(bob.button(key="upload_add").click().run())
    assert any("changed since this page read it" in e and "Nothing was replaced" in e for e in texts(bob.error))
    assert len(Workspaces().shared("race").load()[0]) == 10  # alice's add is kept


def test_a_folder_that_is_a_whole_file_system_is_a_clear_message(monkeypatch):
    monkeypatch.setattr(corpus_files, "MAX_FOLDER_ENTRIES", 1000)  # /proc holds more; found in a moment
    at = run_app()
    ok(at.text_input(key="folder_path").set_value("/proc").run())
    errors = texts(at.error)
    assert len(errors) == 1 and ("not a folder of samples" in errors[0] or "cannot be read" in errors[0]), errors
    assert "failed" not in errors[0] and "Error" not in errors[0]


def test_a_path_that_cannot_be_read_is_a_clear_message(monkeypatch, tmp_path):
    secret = tmp_path / "secret.csv"
    real_stat = Path.stat

    def stat(self, *args, **kwargs):
        if self.name == "secret.csv":  # as root, permissions do not stop a read: simulate one that does
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    at = run_app()
    monkeypatch.setattr(Path, "stat", stat)
    ok(at.text_input(key="folder_path").set_value(str(secret)).run())
    errors = texts(at.error)
    assert len(errors) == 1 and "cannot read it (Permission denied)" in errors[0], errors
    assert "failed: PermissionError" not in errors[0]


def test_an_empty_file_says_it_has_no_rows_as_on_the_command_line():
    at = run_app()
    at.file_uploader(key="upload_file").set_value(("empty.csv", b"text,label\n", "text/csv")).run()
    ok(at)
    errors = texts(at.error)
    assert len(errors) == 1 and "the file has no rows" in errors[0] and "text-like" not in errors[0], errors


def test_an_unknown_source_value_is_refused_naming_its_row():
    at = run_app()
    data = b"text,source\nA first sample.,real\nA second sample.,bogus\n"
    at.file_uploader(key="upload_file").set_value(("sources.csv", data, "text/csv")).run()
    ok(at)
    errors = texts(at.error)
    assert len(errors) == 1 and "column 'source': unknown value(s) 'bogus' (first at row 2)" in errors[0], errors
    assert not [b for b in at.button if b.key == "upload_add"]  # nothing to load
