"""The real app script, driven by Streamlit's AppTest: what a user sees on the Data page."""

import os
import secrets
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_app(**query: str) -> AppTest:
    """A new browser session; ``query`` is its URL's query (a refresh keeps the URL, hence the workspace)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    at.file_uploader(key="upload_file").set_value((name, data, mime)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_first_start_loads_the_demo_and_shows_its_counts():
    at = run_app()
    shown = metrics(at)
    assert shown["real"] == "10,033"
    assert shown["synthetic"] == "3,600"  # the committed demo sets: 3 x 1,000 + 2 x 300
    assert shown["samples"] == "13,633"
    assert shown["synthetic methods"] == "3"
    assert shown["labels"] == "12"
    assert 900 < int(shown["real holdout"].replace(",", "")) < 1100
    assert not at.error
    assert any("CC BY-SA 4.0" in c.value for c in at.caption)
    assert "Demo: Wikipedia vital articles" in [t.value for t in at.text]


def test_a_bad_upload_shows_an_error_and_no_exception():
    at = run_app()
    upload(at, "broken.jsonl", b'{"text": "fine"}\n{"text": oops}\n', "application/json")
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert "broken.jsonl, line 2: malformed JSON" in errors[0]
    assert metrics(at)["samples"] == "13,633"  # the dataset is unchanged


def test_an_upload_with_no_text_column_lists_the_columns():
    at = run_app()
    upload(at, "numbers.csv", b"a,b\n1,2\n3,4\n")
    assert "no text-like column" in at.error[0].value and "a, b" in at.error[0].value


def test_a_synthetic_upload_is_added_and_survives_a_restart():
    at = run_app()
    at.radio(key="upload_role").set_value("synthetic").run()
    at.selectbox(key="upload_method").set_value("llm").run()
    upload(at, "gen.csv", b"text,topic\nA generated sample about cats.,Biology\nAnother generated one.,Arts\n")
    before = metrics(at)
    at.button(key="upload_add").click().run()
    assert not at.exception
    shown = metrics(at)
    assert number(shown["samples"]) == number(before["samples"]) + 2
    assert number(shown["synthetic"]) == number(before["synthetic"]) + 2
    assert "Loaded 2 samples from gen.csv." in [s.value for s in at.success]

    # a refresh (or a restart of the server) is a new session with the same URL: it reads the workspace
    restarted = run_app(**at.query_params)
    assert metrics(restarted)["synthetic"] == shown["synthetic"]


def test_a_loaded_file_is_not_offered_for_a_second_load():
    """The uploader keeps the file after its load: the page says it is loaded and has no Load button for it, so one
    click too many does not add its samples twice; a file chosen next (even the same one again) gets its Load."""
    at = run_app()
    at.radio(key="upload_role").set_value("synthetic").run()
    at.selectbox(key="upload_method").set_value("llm").run()
    upload(at, "gen.csv", b"text\nA generated sample about cats.\nAnother generated one.\n")
    at.button(key="upload_add").click().run()
    loaded = metrics(at)["synthetic"]
    assert not at.exception and not [b for b in at.button if b.key == "upload_add"]
    assert any("gen.csv is loaded" in i.value for i in at.info)
    at.run()  # any rerun, as a click elsewhere makes
    assert not [b for b in at.button if b.key == "upload_add"] and metrics(at)["synthetic"] == loaded
    at.selectbox(key="upload_method").set_value("llm").run()
    upload(at, "gen.csv", b"text\nA third generated sample.\n")
    assert [b.label for b in at.button if b.key == "upload_add"] == ["Load 1 samples"]


def test_column_mapping_changes_the_text_column():
    at = run_app()
    upload(at, "two.csv", b"title,body\nshort,a much longer body text\nother,another longer body text\n")
    assert at.selectbox(key="upload_text_column").value == "body"
    at.selectbox(key="upload_text_column").set_value("title").run()
    at.radio(key="upload_mode").set_value("Replace the current dataset").run()
    at.button(key="upload_add").click().run()
    assert not at.exception
    assert metrics(at)["samples"] == "2"
    preview = at.dataframe[-1].value
    assert sorted(preview["text"]) == ["other", "short"]


def test_sample_text_is_shown_as_text_not_markup():
    at = run_app()
    payload = "<img src=x onerror=alert(1)> **not bold**"
    upload(at, "markup.txt", (payload + "\n").encode(), "text/plain")
    at.radio(key="upload_mode").set_value("Replace the current dataset").run()
    at.button(key="upload_add").click().run()
    assert not at.exception
    assert at.dataframe[-1].value["text"].tolist() == [payload]
    rendered = " ".join(m.value for m in at.markdown)
    assert "<img" not in rendered and "**not bold**" not in rendered


def test_the_demo_comes_back_after_a_replace():
    at = run_app()
    upload(at, "one.txt", b"just one sample\n", "text/plain")
    at.radio(key="upload_mode").set_value("Replace the current dataset").run()
    at.button(key="upload_add").click().run()
    assert metrics(at)["samples"] == "1"
    at.button(key="load_demo").click().run()
    assert metrics(at)["samples"] == "13,633"


@pytest.mark.parametrize("bad", ["nowhere/at/all", "."])
def test_a_bad_folder_path_shows_an_error(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "." is then an empty folder
    at = run_app()
    at.text_input(key="folder_path").set_value(bad).run()
    assert not at.exception
    assert at.error and ("no such file" in at.error[0].value or "no .txt files" in at.error[0].value)


def test_generate_page_runs_a_tiny_rule_based_set_that_the_data_page_shows():
    at = run_app()
    at.switch_page("pages/generate.py").run()
    assert not at.exception and not at.error
    at.selectbox(key="gen_method").set_value("rule-based").run()
    at.number_input(key="gen_n").set_value(12).run()
    assert at.text_input(key="gen_name_rule-based").value == "rule-based-2"  # the demo has rule-based already
    at.text_input(key="gen_name_rule-based").set_value("my-rules").run()
    at.button(key="gen_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any("Added 12 my-rules samples" in s.value for s in at.success)
    assert len(at.dataframe[-1].value) == 12  # the preview

    at.switch_page("pages/data.py").run()
    assert not at.exception
    methods = at.selectbox(key="preview_method").options
    assert "my-rules" in methods


# --- sessions, shared workspaces, damaged workspaces -------------------------------------------

PRIVATE_CSV = b"text,topic\nTenant A's private sample one.,Secret\nTenant A's private sample two.,Secret\n"


def replace_with_upload(at: AppTest, name: str, data: bytes) -> AppTest:
    upload(at, name, data)
    at.radio(key="upload_mode").set_value("Replace the current dataset").run()
    at.button(key="upload_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def everything_shown(at: AppTest) -> str:
    parts = [e.value for kind in ("text", "caption", "markdown", "success", "info") for e in getattr(at, kind)]
    return " ".join(str(p) for p in parts)


def test_two_sessions_do_not_see_each_other():
    alice = run_app()
    replace_with_upload(alice, "tenant_A_private.csv", PRIVATE_CSV)
    assert metrics(alice)["samples"] == "2"

    bob = run_app()  # another browser, no link
    assert metrics(bob)["samples"] == "13,633"
    assert "tenant_A_private" not in everything_shown(bob) and "Tenant A" not in everything_shown(bob)
    assert "Private workspace" in everything_shown(bob)
    bob.button(key="load_demo").click().run()  # Bob resets to the demo ...
    assert not bob.exception and metrics(bob)["samples"] == "13,633"

    alice.run()  # ... and Alice's dataset stays
    assert metrics(alice)["samples"] == "2"
    token = alice.query_params["session"]  # her workspace's unguessable id, in her page's URL
    assert len(token) >= 32 and bob.query_params["session"] != token
    refreshed = run_app(**alice.query_params)  # Alice refreshes her page
    assert metrics(refreshed)["samples"] == "2" and "tenant_A_private.csv" in everything_shown(refreshed)


def test_a_shared_workspace_is_seen_and_changed_by_whoever_opens_it():
    alice = run_app()
    private = alice.query_params.get("session")
    alice.text_input(key="shared_workspace_name").set_value("team-review")
    alice.button(key="open_shared").click().run()  # the sidebar's "Open a shared workspace"
    assert not alice.exception
    assert alice.query_params == {"workspace": "team-review"}  # the link to share carries no private id
    replace_with_upload(alice, "team.csv", PRIVATE_CSV)

    carol = run_app(workspace="team-review")  # a teammate opens the link
    statement = "Shared workspace 'team-review': everyone who opens it sees and changes it."
    assert statement in [i.value for i in carol.info]
    assert metrics(carol)["samples"] == "2"
    carol.button(key="load_demo").click().run()  # she changes it for everyone who opened it
    assert metrics(alice.run())["samples"] == "13,633"

    dave = run_app()  # someone who did not open it
    assert statement not in [i.value for i in dave.info]
    replace_with_upload(dave, "dave.csv", PRIVATE_CSV)
    assert metrics(run_app(workspace="team-review"))["samples"] == "13,633"

    leaving = run_app(workspace="team-review")
    leaving.button(key="leave_shared").click().run()
    assert not leaving.exception and set(leaving.query_params) == {"session"}
    assert metrics(leaving)["samples"] == "13,633"
    assert metrics(run_app(session=private))["samples"] == "13,633"  # Alice's private workspace: untouched


@pytest.mark.parametrize("name", ["../../etc", "team review", "x" * 65])
def test_a_link_with_a_bad_workspace_name_opens_the_private_workspace(name):
    at = run_app(workspace=name)
    assert any("is not a workspace name" in e.value for e in at.error)
    assert "session" in at.query_params and "workspace" not in at.query_params
    assert metrics(at)["samples"] == "13,633"


def _make_workspace(ws, damage: str):
    """A workspace with two saved states, the newest one damaged as a disk, a sync tool or a hand can."""
    import hashlib
    import json

    import pandas as pd

    from analysis.corpus import LoadReport, samples_from_frame

    for texts in (["An earlier sample.", "Another earlier one.", "A third earlier one."], ["The newest sample."]):
        samples = samples_from_frame(pd.DataFrame({"text": texts}))[0]
        report = LoadReport(path="f.csv", format="csv", rows_read=len(texts), rows_kept=len(texts)).to_dict()
        manifest = ws.save(
            samples,
            name="mine",
            parts=[{"name": "f.csv", "source": "real", "method": "real", "rows": len(texts), "report": report}],
        )
    data = json.loads(ws.manifest_path.read_text())
    if damage == "parts removed":
        del data["parts"]
    elif damage == "manifest is a list":
        data = [data]
    elif damage == "parquet is garbage":
        garbage = b"not a parquet file at all"
        (ws.root / manifest["samples_file"]).write_bytes(garbage)
        data["sha256"] = hashlib.sha256(garbage).hexdigest()
    ws.manifest_path.write_text(json.dumps(data))
    return ws.manifest_path.read_bytes()


def workspaces_folder() -> Path:
    return Path(os.environ["COLLAPSE_LAB_WORKSPACE"])  # per test (tests/conftest.py)


@pytest.mark.parametrize("damage", ["parts removed", "manifest is a list", "parquet is garbage"])
def test_a_damaged_workspace_opens_the_app_with_the_recovery_message(damage):
    from analysis.workspace import Workspace

    token = secrets.token_urlsafe(24)
    ws = Workspace(workspaces_folder() / "sessions" / token)  # this session's workspace, damaged on disk
    damaged_manifest = _make_workspace(ws, damage)

    at = run_app(session=token)
    assert not at.error, [e.value for e in at.error]
    warnings = [w.value for w in at.warning if "was damaged" in w.value]
    assert len(warnings) == 1 and "moved aside, unchanged" in warnings[0] and "Data page" in warnings[0]
    copies = list(ws.root.parent.glob(f"{token}.damaged-*"))
    assert len(copies) == 1 and str(copies[0]) in warnings[0]
    assert (copies[0] / "manifest.json").read_bytes() == damaged_manifest  # still on disk, as it was
    assert metrics(at)["samples"] == "3"  # the last complete state

    at.button(key="dismiss_recovery").click().run()
    assert not at.exception and copies[0].is_dir()
    again = run_app(session=token)  # a refresh after Dismiss: no message, the copy stays
    assert not [w for w in again.warning if "was damaged" in w.value] and copies[0].is_dir()


def test_a_damaged_workspace_from_before_sessions_is_recovered_as_the_shared_default():
    """The single-folder layout of earlier versions, damaged: it was the app's generic error box."""
    from analysis.workspace import Workspace

    _make_workspace(Workspace(workspaces_folder()), "parts removed")
    at = run_app(workspace="default")
    assert any("was damaged" in w.value for w in at.warning)
    assert metrics(at)["samples"] == "3"
    assert list((workspaces_folder() / "shared").glob("default.damaged-*/manifest.json"))
    newcomer = run_app()  # a private session is told where the earlier workspace went
    assert any("shared workspace 'default' holds a dataset" in c.value for c in newcomer.caption)


@pytest.mark.parametrize(
    ("link", "why"),
    # a well-formed token no server issued (fixed: every collection gives the same test ids, for reruns by id)
    [("not a token", "is malformed"), ("9h6edZGESrmurj_NefpcXrglRHNpRAZI", "names no workspace on this server")],
)
def test_a_link_whose_session_is_unknown_or_malformed_says_a_fresh_workspace_was_opened(link, why):
    """Issue 31: an invalid ?session= link silently opened a fresh workspace."""
    at = run_app(session=link)
    warnings = [w.value for w in at.warning if "link's session" in w.value]
    assert len(warnings) == 1 and why in warnings[0] and "fresh private workspace was opened" in warnings[0]
    assert link not in warnings[0]  # the link's text is not echoed
    fresh = at.query_params.get("session")
    assert fresh and fresh != link  # a new id, never the link's: a crafted link does not choose the workspace
    assert not (workspaces_folder() / "sessions" / link).exists()
    again = run_app(session=fresh)  # a refresh of the new link: known, no message
    assert not [w for w in again.warning if "link's session" in w.value]
    assert again.query_params.get("session") == fresh
