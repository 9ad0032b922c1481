"""The real app script, driven by Streamlit's AppTest: what a user sees on the Data page."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
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

    restarted = run_app()  # a new session reads the workspace: what a refresh or a restart does
    assert metrics(restarted)["synthetic"] == shown["synthetic"]


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
