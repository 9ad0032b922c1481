"""The Data page's "Several files" tab (issue 32): several files chosen at once, a row each with the role and method
their names say, what is missing said in words, and one Load that adds them all as one version (one undo)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def csv(prefix: str, rows: int) -> bytes:
    return pd.DataFrame({"text": [f"{prefix} sample number {i}." for i in range(rows)]}).to_csv(index=False).encode()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def choose(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    uploader = next(u for u in at.file_uploader if str(u.key).startswith("batch_files"))
    return ok(uploader.set_value([(name, data, "text/csv") for name, data in files]).run())


def test_three_files_with_telling_names_load_at_once_and_one_undo_takes_them_back():
    at = ok(AppTest.from_file(APP, default_timeout=120).run())
    choose(at, ("real.csv", csv("real", 6)), ("llm_g2.csv", csv("llm", 4)), ("paraphrase.csv", csv("para", 3)))
    plan = at.data_editor[0].value
    assert list(plan["role"]) == ["real", "synthetic", "synthetic"]
    assert list(plan["method"].fillna("")) == ["", "llm", "paraphrase"] and plan["generation"].iloc[1] == 2
    assert at.radio(key="batch_mode").value == "Replace the current dataset"  # a real file replaces the demo
    button = at.button(key="batch_add")
    assert button.label == "Load 3 files (13 rows)" and not button.disabled
    ok(button.click().run())
    shown = metrics(at)
    assert (shown["samples"], shown["real"], shown["synthetic"], shown["synthetic methods"]) == ("13", "6", "7", "2")
    flash = " ".join(s.value.replace("\\", "") for s in at.success)  # names are shown escaped
    assert "Loaded 13 samples from real.csv, llm_g2.csv, paraphrase.csv" in flash, flash
    assert not at.data_editor  # the uploader is empty again: a second click cannot load them twice

    choose(at, ("rule_based.csv", csv("rule", 2)), ("eda.csv", csv("eda", 2)))
    assert at.radio(key="batch_mode").value == "Add to the current dataset"
    ok(at.button(key="batch_add").click().run())
    assert metrics(at)["samples"] == "17"
    ok(at.button(key="undo_last").click().run())  # one undo: both files of the last load
    assert metrics(at)["samples"] == "13"


def test_a_synthetic_file_whose_name_does_not_say_its_method_must_get_one():
    at = ok(AppTest.from_file(APP, default_timeout=120).run())
    choose(at, ("synthetic_quotes.csv", csv("synthetic", 3)))
    assert at.data_editor[0].value["method"].isna().all()  # no default method
    warning = " ".join(w.value.replace("\\", "") for w in at.warning)
    assert "synthetic_quotes.csv: choose its method" in warning and "says synthetic but not the method" in warning
    assert at.button(key="batch_add").disabled


def test_a_single_upload_fills_in_the_method_its_name_says_and_never_defaults_one():
    at = ok(AppTest.from_file(APP, default_timeout=120).run())
    at.file_uploader(key="upload_file").set_value(("llm_outputs.csv", csv("llm", 3), "text/csv")).run()
    ok(at)
    assert at.radio(key="upload_role").value == "synthetic" and at.selectbox(key="upload_method").value == "llm"
    at.file_uploader(key="upload_file").set_value(("outputs.csv", csv("more", 3), "text/csv")).run()
    ok(at)
    assert at.radio(key="upload_role").value == "synthetic" and at.selectbox(key="upload_method").value is None
    assert any("Choose the generation method" in w.value for w in at.warning)
    assert at.button(key="upload_add").disabled
    ok(at.selectbox(key="upload_method").set_value("rule-based").run())
    assert not at.button(key="upload_add").disabled
