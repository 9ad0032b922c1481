"""`python -m analysis`: load, embed and generate from the command line."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.embed import EmbeddingCache, embed


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
    real = write(tmp_path / "real.txt", "\n".join(f"Sample number {i} is about the river and the city." for i in range(30)))
    out = tmp_path / "rules.csv"
    args = ["generate", "--method", "rule-based", "--input", str(real), "--n", "12", "--seed", "3", "--out", str(out), "--noise", "0.4"]
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert len(frame) == 12 and set(frame["method"]) == {"rule-based"} and set(frame["noise"]) == {0.4}
    assert not out.with_name(out.name + ".checkpoint.jsonl").exists()
    # a stale checkpoint is never silently overwritten
    checkpoint = out.with_name(out.name + ".checkpoint.jsonl")
    checkpoint.write_text('{"settings": {}}\n')
    assert main(args) == 3
    assert "--resume" in capsys.readouterr().err


def test_compare_prints_metrics_and_risks(tmp_path, capsys):
    real = write(tmp_path / "real.txt", "\n".join(f"Sample {i} tells of river {i % 7} and city {i % 11} in the north." for i in range(120)))
    same = write(tmp_path / "same.txt", "\n".join(f"The same sentence again, copy {i}." for i in range(20)))
    assert main(["compare", "--real", str(real), "--synthetic", f"repeats={same}", "--no-mauve", "--format", "json"]) == 0
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
