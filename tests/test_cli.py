"""`python -m analysis`: load, embed and generate from the command line."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.vectors.embed import EmbeddingCache, embed


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_load_prints_the_report_and_counts(tmp_path, capsys):
    real = write(tmp_path / "real.csv", "text,topic\nThe Nile flows north.,geo\nParis is in France.,geo\n,geo\n")
    assert main(["load", str(real)]) == 0
    out = capsys.readouterr().out
    assert "real.csv: 2 of 3 rows kept" in out and "Dropped 1: empty text" in out
    assert "geo" in out


def test_load_as_json(tmp_path, capsys):
    real = write(tmp_path / "real.txt", "one sample here\nanother sample\n")
    gen = write(tmp_path / "gen.jsonl", '{"text": "a generated sample"}\n')
    assert main(["load", str(real), "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["load", str(gen), "--method", "llm", "--format", "json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["overview"]["real"] == 2 and second["overview"]["synthetic"] == 1
    assert second["files"][0]["text_column"] == "text"


def test_bad_input_exits_3_with_the_message(tmp_path, capsys):
    bad = write(tmp_path / "bad.jsonl", '{"text": "ok"}\n{"text": \n')
    assert main(["load", str(bad)]) == 3
    assert "bad.jsonl, line 2: malformed JSON" in capsys.readouterr().err


def test_python_dash_m_runs(tmp_path):
    real = write(tmp_path / "real.txt", "one sample here\n")
    result = subprocess.run([sys.executable, "-m", "analysis", "load", str(real)], capture_output=True, text=True)
    assert result.returncode == 0 and "1 of 1 rows kept" in result.stdout


@pytest.mark.slow  # reaches the model or the built demo in its body
def test_embed_fills_the_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(tmp_path / "cache"))
    texts = ["The Nile flows north.", "Paris is in France.", "A cat sat on the mat."]
    real = write(tmp_path / "real.txt", "\n".join(texts) + "\n")
    assert main(["embed", str(real)]) == 0
    captured = capsys.readouterr()
    assert "3 samples embedded: 3 x 384" in captured.out and "embedding" in captured.err  # the progress bar
    (shards,) = (tmp_path / "cache" / "embeddings").iterdir()
    assert len(EmbeddingCache(shards)) == 3
    assert np.allclose(np.linalg.norm(embed(texts), axis=1), 1.0, atol=1e-5)


def test_generate_writes_the_output_and_resumes(tmp_path, capsys):
    real = write(
        tmp_path / "real.txt", "\n".join(f"Sample number {i} is about the river and the city." for i in range(30))
    )
    out = tmp_path / "rules.csv"
    args = [
        "generate",
        "--method",
        "rule-based",
        "--input",
        str(real),
        "--n",
        "12",
        "--seed",
        "3",
        "--out",
        str(out),
        "--noise",
        "0.4",
    ]
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 12 and set(frame["method"]) == {"rule-based"} and set(frame["noise"]) == {0.4}
    assert not out.with_name(out.name + ".checkpoint.jsonl").exists()
    # a stale checkpoint is never silently overwritten
    checkpoint = out.with_name(out.name + ".checkpoint.jsonl")
    checkpoint.write_text('{"settings": {}}\n')
    assert main(args) == 3
    assert "--resume" in capsys.readouterr().err


@pytest.mark.slow  # reaches the model or the built demo in its body
def test_compare_prints_metrics_and_risks(tmp_path, capsys):
    real = write(
        tmp_path / "real.txt",
        "\n".join(f"Sample {i} tells of river {i % 7} and city {i % 11} in the north." for i in range(120)),
    )
    same = write(tmp_path / "same.txt", "\n".join(f"The same sentence again, copy {i}." for i in range(20)))
    assert (
        main(["compare", "--real", str(real), "--synthetic", f"repeats={same}", "--no-mauve", "--format", "json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    sets = {row["set"] for row in result["metrics"]}
    assert sets == {"real train", "repeats"}
    assert any(r["set"] == "repeats" for r in result["risks"])
    with pytest.raises(SystemExit):  # argparse: NAME=FILE expected
        main(["compare", "--real", str(real), "--synthetic", "no-equals-sign"])
    tiny = write(tmp_path / "tiny.txt", "one\ntwo\n")
    assert main(["compare", "--real", str(real), "--synthetic", f"tiny={tiny}", "--no-mauve"]) == 3
    assert "tiny has 2" in capsys.readouterr().err


def test_compare_rejects_a_bad_rules_file(tmp_path, capsys):
    real = write(tmp_path / "real.txt", "\n".join(f"Sample {i} about things" for i in range(60)))
    rules = write(tmp_path / "rules.toml", "[[rule]]\nname = 1\n")
    assert main(["compare", "--real", str(real), "--synthetic", f"x={real}", "--rules", str(rules), "--no-mauve"]) == 3
    assert "missing" in capsys.readouterr().err


# Every numeric option outside load/embed is checked before any file is read or any text embedded:
# exit 3 with a message that names the option; the files named here do not even exist.
BAD_NUMBERS = [
    (["check", "--real", "r.csv", "--synthetic", "a=s.csv", "--size", "-5"], "--size -5"),
    (["check", "--real", "r.csv", "--synthetic", "a=s.csv", "--size", "3"], "--size 3"),
    (["check", "--real", "r.csv", "--synthetic", "a=s.csv", "--holdout", "2"], "--holdout 2"),
    (["check", "--real", "r.csv", "--synthetic", "a=s.csv", "--holdout", "nan"], "--holdout nan"),
    (["check", "--real", "r.csv", "--synthetic", "a=s.csv", "--seed", "-1"], "--seed -1"),
    (["compare", "--real", "r.csv", "--synthetic", "a=s.csv", "--size", "0"], "--size 0"),
    (["report", "--real", "r.csv", "--synthetic", "a=s.csv", "--out", "r.html", "--holdout", "0"], "--holdout 0"),
    (["generate", "--method", "rule-based", "--input", "r.csv", "--n", "-1", "--out", "o.csv"], "--n -1"),
    (
        ["generate", "--method", "rule-based", "--input", "r.csv", "--n", "5", "--out", "o.csv", "--noise", "1.5"],
        "--noise 1.5",
    ),
    (["generate", "--method", "llm", "--input", "r.csv", "--n", "5", "--out", "o.csv", "--top-p", "0"], "--top-p 0"),
    (["mix", "--real", "r.csv", "--synthetic", "a=s.csv", "--size", "-10", "--real-share", "0.5"], "--size -10"),
    (["mix", "--real", "r.csv", "--synthetic", "a=s.csv", "--size", "10", "--real-share", "1.5"], "--real-share 1.5"),
    (
        [
            "mix",
            "--real",
            "r.csv",
            "--synthetic",
            "a=s.csv",
            "--size",
            "10",
            "--real-share",
            "0.5",
            "--weights",
            "a=-1",
        ],
        "a=-1",
    ),
    (["ab", "--real", "r.csv", "--a", "a=a.csv", "--b", "b=b.csv", "--alpha", "1"], "--alpha 1"),
    (["ab", "--real", "r.csv", "--a", "a=a.csv", "--b", "b=b.csv", "--rounds", "0"], "--rounds 0"),
    (["simulate", "--model", "gaussian", "--generations", "-1"], "--generations -1"),
    (["simulate", "--model", "ngram", "--generations", "2", "--order", "5"], "--order 5"),
]


@pytest.mark.parametrize("argv, named", BAD_NUMBERS, ids=[" ".join(a[-2:]) + f" ({a[0]})" for a, _ in BAD_NUMBERS])
def test_numbers_out_of_range_exit_3_before_any_work(argv, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert named in err and ("expected" in err or "weight must be" in err), err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_negative_size_fails_fast_in_a_real_process(tmp_path):
    real = write(tmp_path / "real.txt", "\n".join(f"Sample {i} about rivers" for i in range(40)))
    command = [
        sys.executable,
        "-m",
        "analysis",
        "check",
        "--real",
        str(real),
        "--synthetic",
        f"same={real}",
        "--size",
        "-5",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert "--size -5: expected a whole number >= 6" in result.stderr and "Traceback" not in result.stderr
    assert "embedding" not in result.stderr  # refused before the texts were embedded


@pytest.mark.slow  # reaches the model or the built demo in its body
def test_an_embedding_model_that_cannot_load_exits_3_with_the_message(tmp_path, capsys, monkeypatch):
    """An EmbeddingError (not on the CLI's old list of caught errors) is a message and exit 3, not a traceback."""
    monkeypatch.setenv("COLLAPSE_LAB_CACHE", str(tmp_path / "cache"))
    real = write(tmp_path / "real.txt", "one sample here\nanother sample\n")
    assert main(["embed", str(real), "--model", str(tmp_path / "no-such-model")]) == 3
    err = capsys.readouterr().err
    assert "error: Cannot load the embedding model" in err and "no-such-model" in err
    assert "Traceback" not in err


def _user_errors():
    from analysis.errors import CollapseLabError
    from analysis.maps.project import ProjectionError
    from analysis.metrics.utility import UtilityError
    from analysis.simulate import SimulationError
    from analysis.vectors.embed import EmbeddingError
    from analysis.workspace import WorkspaceDamaged, WorkspaceError

    class SomeNewError(CollapseLabError):
        """A user error the CLI has never heard of: the base class is what it catches."""

    return [
        EmbeddingError,
        ProjectionError,
        SimulationError,
        UtilityError,
        WorkspaceDamaged,
        WorkspaceError,
        SomeNewError,
    ]


@pytest.mark.parametrize("error", _user_errors(), ids=lambda error: error.__name__)
def test_every_collapse_lab_error_exits_3_with_its_message(error, tmp_path, capsys, monkeypatch):
    import analysis.cli.data

    def fails(args):
        raise error("what is wrong, where, and how to fix it")

    monkeypatch.setattr(analysis.cli.data, "command_load", fails)
    assert main(["load", str(tmp_path / "any.csv")]) == 3
    assert capsys.readouterr().err == "error: what is wrong, where, and how to fix it\n"


def test_usage_errors_exit_2_for_every_command(capsys):
    for argv, code in (
        ([], 2),
        (["no-such-command"], 2),
        (["load"], 2),
        (["load", "x.csv", "--colour"], 2),
        (["simulate", "--model", "markov"], 2),
        (["mix", "--real"], 2),
        (["check"], 2),
        (["check", "--real", "r.csv", "--synthetic", "no-equals-sign"], 2),
        (["check", "--real", "r.csv", "--synthetic", "a=s.csv", "--colour"], 2),
    ):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == code, argv
        assert "usage: python -m analysis" in capsys.readouterr().err


def test_the_coverage_option_offers_the_library_s_references_and_default():
    from analysis.cli.common import COVERAGE_CHOICES, COVERAGE_DEFAULT
    from analysis.judge.reference import COVERAGE_REFERENCES, DEFAULT_COVERAGE

    assert COVERAGE_CHOICES == COVERAGE_REFERENCES and COVERAGE_DEFAULT == DEFAULT_COVERAGE
