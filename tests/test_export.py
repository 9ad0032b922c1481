"""CSV for people: formula-leading text cells are neutralised in every CSV export; JSONL and Parquet stay exact."""

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.corpus import samples_from_frame, write_samples
from analysis.export import csv_bytes

REPO = Path(__file__).resolve().parents[1]
FORMULAS = ["=1+1", "+SUM(A1:A9)", "-2+3", "@cmd", "\t=1", "\r=1", '=HYPERLINK("http://e.x","x")']


def read_back(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), keep_default_na=False)


def test_formula_cells_get_a_leading_quote_and_numbers_stay():
    frame = pd.DataFrame(
        {
            "text": [*FORMULAS, "plain text", "a = b"],
            "count": [-5, 3, -1, 0, 7, 8, 9, 10, 11],
            "score": [-0.5] * 9,
            "=header": ["x"] * 9,
        }
    )
    back = read_back(csv_bytes(frame))
    assert back["text"].tolist() == ["'" + f for f in FORMULAS] + ["plain text", "a = b"]
    assert back["count"].tolist() == [-5, 3, -1, 0, 7, 8, 9, 10, 11]  # numbers are never text
    assert back["score"].tolist() == [-0.5] * 9
    assert list(back.columns) == ["text", "count", "score", "'=header"]
    assert frame["text"].iloc[0] == "=1+1"  # the frame given is not changed


def test_mixed_and_categorical_columns():
    frame = pd.DataFrame({"mixed": ["-x", -3, None, "ok"], "kind": pd.Categorical(["=a", "b", "=a", "b"])})
    assert csv_bytes(frame) == b"mixed,kind\r\n'-x,'=a\r\n-3,b\r\n,'=a\r\nok,b\r\n"


def test_a_carriage_return_inside_a_cell_is_quoted():
    """A spreadsheet starts a new row at a bare carriage return: a formula after it would run."""
    data = csv_bytes(pd.DataFrame({"text": ["ok\r=1+1", "\r@x"]}))
    assert data == b'text\r\n"ok\r=1+1"\r\n"\'\r@x"\r\n'
    assert read_back(data)["text"].tolist() == ["ok\r=1+1", "'\r@x"]


def test_write_samples_neutralises_csv_and_keeps_jsonl_and_parquet_exact(tmp_path):
    samples = samples_from_frame(
        pd.DataFrame({"text": FORMULAS + ["- a bullet", "plain"]}), source="synthetic", method="llm"
    )[0]
    write_samples(samples, tmp_path / "out.csv")
    written = read_back((tmp_path / "out.csv").read_bytes())
    texts = samples["text"].tolist()
    assert "plain" in texts and "- a bullet" in texts and "=1+1" in texts
    assert written["text"].tolist() == [t if t == "plain" else "'" + t for t in texts]
    assert written["generation"].tolist() == samples["generation"].tolist()  # numbers untouched
    write_samples(samples, tmp_path / "out.jsonl")
    write_samples(samples, tmp_path / "out.parquet")
    assert pd.read_json(tmp_path / "out.jsonl", lines=True)["text"].tolist() == samples["text"].tolist()
    assert pd.read_parquet(tmp_path / "out.parquet")["text"].tolist() == samples["text"].tolist()


def test_the_mixture_export_as_csv_is_neutralised(tmp_path):
    from analysis.mixture import MixtureSpec, export_mixture

    rng = np.random.default_rng(0)
    real = samples_from_frame(pd.DataFrame({"text": [f"=real {i}" for i in range(40)]}), source="real")[0]
    synthetic = samples_from_frame(
        pd.DataFrame({"text": [f"@synthetic {i}" for i in range(40)]}), source="synthetic", method="llm"
    )[0]
    samples = pd.concat([real, synthetic], ignore_index=True)
    rows = np.sort(rng.choice(len(samples), 20, replace=False))
    export_mixture(samples, rows, MixtureSpec(size=20, real_share=0.5), tmp_path / "mix.csv")
    written = read_back((tmp_path / "mix.csv").read_bytes())
    assert len(written) == 20 and all(t.startswith(("'=real", "'@synthetic")) for t in written["text"])


def test_every_csv_export_goes_through_csv_bytes():
    """No other code writes CSV with pandas: the app's downloads, the CLI and the file writers share one function."""
    offenders = []
    for path in [*REPO.glob("analysis/**/*.py"), *REPO.glob("pages/*.py"), REPO / "app.py"]:
        if path.name == "export.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"\.to_csv\(", line):
                offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert not offenders, offenders


@pytest.mark.parametrize("value", [-5, 0.25, True, None])
def test_values_that_are_not_text_are_written_as_pandas_writes_them(value):
    frame = pd.DataFrame({"v": [value]})
    assert csv_bytes(frame) == frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
