"""Several files in one load (issue 32): a file's role and method guessed from its name, the plan checked before the
load with every missing choice named, and the files added to the workspace as one version (one undo)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.corpus import CorpusError, samples_from_frame
from analysis.corpus.plan import NO_LABEL, PLAN_COLUMNS, check_plan, guess_role, plan_row, planned_files
from analysis.workspace import Workspace, WorkspaceError


@pytest.mark.parametrize(
    "name, source, method, generation",
    [
        ("real.csv", "real", None, None),
        ("human_quotes.jsonl", "real", None, None),
        ("llm.csv", "synthetic", "llm", None),
        ("quotes-LLM-g2.parquet", "synthetic", "llm", 2),
        ("gpt4_outputs.csv", "synthetic", "llm", None),
        ("paraphrase.csv", "synthetic", "paraphrase", None),
        ("para.csv", "synthetic", "paraphrase", None),
        ("quotes_paraphrased_gen3.tsv", "synthetic", "paraphrase", 3),
        ("rule-based.csv", "synthetic", "rule-based", None),
        ("eda_augmented.csv", "synthetic", "rule-based", None),
        ("synthetic.csv", "synthetic", None, None),
        ("g2.csv", "synthetic", None, 2),
        ("quotes.csv", None, None, None),
        ("prerequisites.csv", None, None, None),  # words, not substrings: no "rule", no "real"
        ("real_vs_llm.csv", None, None, None),  # both: the user chooses
        ("llm_and_paraphrase.csv", "synthetic", None, None),  # two methods: the user chooses
    ],
)
def test_a_file_name_says_its_role_and_method_word_by_word(name, source, method, generation):
    guess = guess_role(name)
    assert (guess.source, guess.method, guess.generation) == (source, method, generation)
    assert name in guess.reason


def plan(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=PLAN_COLUMNS)


COLUMNS = {"real.csv": ["text", "topic"], "llm.csv": ["text"], "out.csv": ["body", "method"], "x.csv": ["text"]}


def test_a_plan_row_starts_from_the_names_guess():
    assert plan_row("llm_g2.csv", "text") == {
        "file": "llm_g2.csv", "role": "synthetic", "method": "llm", "generation": 2,
        "text column": "text", "label column": NO_LABEL,
    }  # fmt: skip
    assert plan_row("quotes.csv", "text", "topic")["role"] is None  # a name that says nothing: the user chooses
    assert plan_row("synthetic.csv", "text")["method"] is None  # never a default method


def test_a_complete_plan_has_no_problems_and_gives_the_loads_arguments():
    rows = plan(
        {**plan_row("quotes.csv", "text", "topic"), "file": "real.csv", "role": "real"},
        plan_row("llm.csv", "text"),
        {**plan_row("out.csv", "body"), "role": "synthetic"},  # no method chosen: the file has a method column
    )
    assert check_plan(rows, COLUMNS) == []
    real, llm, out = planned_files(rows, COLUMNS)
    assert (real.source, real.method, real.generation, real.label_column) == ("real", None, None, "topic")
    assert (llm.source, llm.method, llm.generation, llm.label_column) == ("synthetic", "llm", 1, "")
    assert (out.source, out.method, out.text_column) == ("synthetic", None, "body")


def test_every_missing_choice_is_named_per_file():
    rows = plan(
        {**plan_row("x.csv", "text"), "role": "synthetic"},  # no method: the name does not say
        {**plan_row("llm.csv", "text"), "generation": 0},
        {**plan_row("real.csv", "body"), "label column": "genre"},
        {**plan_row("x.csv", "text"), "role": None},
    )
    problems = check_plan(rows, COLUMNS)
    assert len(problems) == 5, problems
    assert problems[0].startswith("x.csv: choose its method") and "says neither real nor synthetic" in problems[0]
    assert "llm.csv: the generation must be a whole number" in problems[1]
    assert problems[2] == "real.csv: choose its text column, one of 'text', 'topic' ('body' is not one)."
    assert "real.csv: it has no column 'genre'" in problems[3]
    assert problems[4] == "x.csv: choose its role, real or synthetic."
    with pytest.raises(CorpusError, match="cannot be loaded yet: x.csv: choose its method"):
        planned_files(rows, COLUMNS)
    assert check_plan(plan(), COLUMNS) == ["Choose at least one file."]
    bad_method = plan({**plan_row("llm.csv", "text"), "method": "real"})
    assert "'real' is not a method" in check_plan(bad_method, COLUMNS)[0]


def piece(name: str, texts: list[str], source: str, method: str | None = None):
    samples, report = samples_from_frame(pd.DataFrame({"text": texts}), name=name, source=source, method=method)
    part = {
        "name": name,
        "source": source,
        "method": method or "real",
        "rows": len(samples),
        "report": report.to_dict(),
    }
    return samples, part


REAL = piece("real.csv", [f"real sample {i}" for i in range(5)], "real")
LLM = piece("llm.csv", [f"llm sample {i}" for i in range(3)], "synthetic", "llm")
PARA = piece("para.csv", [f"para sample {i}" for i in range(2)], "synthetic", "paraphrase")


def test_several_files_are_one_version_and_one_undo_takes_them_back(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.add_samples(*REAL)
    manifest = ws.add_parts([LLM, PARA])
    samples, saved = ws.load()
    assert len(samples) == 10 and [p["name"] for p in saved["parts"]] == ["real.csv", "llm.csv", "para.csv"]
    assert saved["name"] == "real.csv + llm.csv + para.csv" and manifest["sha256"] == saved["sha256"]
    assert set(samples["method"]) == {"real", "llm", "paraphrase"}
    ws.undo()
    assert len(ws.load()[0]) == 5  # the whole load, not its last file


def test_a_replace_of_several_files_checks_the_version_it_was_asked_on(tmp_path):
    ws = Workspace(tmp_path / "ws")
    first = ws.add_samples(*REAL)
    with pytest.raises(WorkspaceError, match="Nothing was replaced"):
        ws.add_parts([LLM, PARA], replace=True, expected="0" * 64)
    assert len(ws.load()[0]) == 5
    ws.add_parts([LLM, PARA], replace=True, expected=first["sha256"])
    samples, saved = ws.load()
    assert len(samples) == 5 and not (samples["source"] == "real").any() and saved["name"] == "llm.csv + para.csv"
    ws.undo()
    assert len(ws.load()[0]) == 5 and (ws.load()[0]["source"] == "real").all()


def test_an_empty_workspace_adds_to_what_it_shows(tmp_path):
    shown = (REAL[0], {"name": "demo", "parts": [REAL[1]], "sha256": "a" * 64})
    ws = Workspace(tmp_path / "ws")
    ws.add_parts([LLM], empty=lambda: shown)
    assert ws.load()[1]["name"] == "demo + llm.csv" and len(ws.load()[0]) == 8
    other = Workspace(tmp_path / "other")
    other.add_parts([LLM, PARA], replace=True, expected="a" * 64, empty=lambda: shown)
    assert len(other.load()[0]) == 5
    with pytest.raises(ValueError):
        other.add_parts([])
