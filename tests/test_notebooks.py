"""The notebooks (notebooks/*.ipynb) and the notebook-facing API: they run, they are stripped, they escape text.

Every notebook is executed top to bottom with nbclient on ipykernel's ``python3`` kernel (this
virtualenv's interpreter), exactly as a user opens it: on the built demo, with no small-data switch;
an error cell fails the test. Committed notebooks carry no outputs, so diffs stay readable.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import collapse_lab as cl

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SCRIPT = "<script>alert('x')</script>"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def test_there_are_four_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01-your-data-in-ten-minutes.ipynb",
        "02-watching-collapse.ipynb",
        "03-a-gate-for-your-pipeline.ipynb",
        "04-closing-the-loop.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_have_no_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name}: a code cell has outputs; strip them before committing"
            assert cell.get("execution_count") is None, f"{path.name}: a code cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_follows_a_sentence(path):
    cells = _cells(path)
    for before, cell in zip(cells, cells[1:]):
        if cell["cell_type"] == "code":
            assert before["cell_type"] == "markdown" and "".join(before["source"]).strip(), (
                f"{path.name}: the code cell {''.join(cell['source'])[:60]!r} has no text before it"
            )


def _names_used(path: Path) -> tuple[set[str], set[str]]:
    """(attributes read off ``cl``, every imported module) in the notebook's code cells."""
    attributes, modules = set(), set()
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "cl":
                attributes.add(node.attr)
            elif isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                modules.add(node.module or "")
    return attributes, modules


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_use_only_the_public_api(path):
    attributes, modules = _names_used(path)
    assert attributes, f"{path.name} does not use collapse_lab"
    assert attributes <= set(cl.__all__), f"{path.name} uses names outside the API: {attributes - set(cl.__all__)}"
    assert not [a for a in attributes if a.startswith("_")]
    ours = {m for m in modules if m.split(".")[0] in ("analysis", "collapse_lab")}
    assert ours == {"collapse_lab"}, f"{path.name} imports deep module paths: {ours - {'collapse_lab'}}"
    source = "".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code")
    assert not re.search(r"\._[a-z]", source), f"{path.name} reads a private attribute"


def test_every_public_name_resolves():
    for name in cl.__all__:
        assert getattr(cl, name) is not None, name
    for name in ("read_samples", "combine_samples", "load_demo", "embed", "compare", "risks", "project", "explore"):
        assert name in cl.__all__
    for name in (
        "tail_report",
        "MixtureEngine",
        "MixtureSpec",
        "simulate",
        "Monitor",
        "gate",
        "build_report",
        "charts",
    ):
        assert name in cl.__all__
    assert callable(cl.compare) and callable(cl.embed) and callable(cl.explore) and callable(cl.simulate)


def test_the_api_is_lazy():
    """Importing the API loads neither torch nor UMAP (the CLI and the app import analysis too)."""
    import subprocess
    import sys

    code = "import sys, collapse_lab; print(sorted(m for m in ('torch', 'umap', 'altair') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- rich display: every summary escapes the text it shows ----------------------------------------------------------


def _compare_table() -> pd.DataFrame:
    rows = []
    for name in ("real train", SCRIPT):
        for metric, value in (("distinct-2", 0.7), ("coverage", 0.5), ("centroid shift", 0.2)):
            rows.append({"set": name, "method": name, "generation": 1, "metric": metric, "value": value, "n": 10})
    return pd.DataFrame(rows)


def _assert_escaped(page: str) -> None:
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_comparison_html_escapes_sample_text():
    risks = pd.DataFrame(
        [{"set": SCRIPT, "risk": "r", "rule": SCRIPT, "severity": "alarm", "metric": "coverage", "message": SCRIPT}]
    )
    comparison = cl.Comparison(table=_compare_table(), risks=risks)
    _assert_escaped(comparison._repr_html_())
    assert comparison.in_words() == [f"{SCRIPT}: [alarm] {SCRIPT}: {SCRIPT}"]
    assert list(comparison.wide().index) == ["real train", SCRIPT]


def test_simulation_html_escapes_text():
    from analysis.simulate import SimulationResult

    metrics = pd.DataFrame(
        {"model": "gaussian", "regime": "replace", "generation": [0, 1], "metric": "variance", "value": [1.0, 0.9]}
    )
    result = SimulationResult(
        model="gaussian",
        regimes=("replace",),
        generations=1,
        n=10,
        seed=0,
        real_share=0.5,
        params={"note": SCRIPT},
        metrics=metrics,
    )
    _assert_escaped(result._repr_html_())


def test_monitor_history_html_escapes_snapshot_names():
    from analysis.monitor import MonitorHistory, history_frame

    record = {"series": "s", "snapshot": SCRIPT, "generation": 1, "metrics": {"distinct-2": 0.5}, "n": 5}
    page = MonitorHistory(table=history_frame([record]), skipped=1)._repr_html_()
    _assert_escaped(page)
    assert "torn lines skipped" in page


def test_mixture_html_escapes_set_names():
    spec = cl.MixtureSpec(size=100, real_share=0.1, weights={SCRIPT: 1.0})
    page = spec._repr_html_()
    _assert_escaped(page)
    assert "alarm" in page  # 10 % real data is below the guardrail


def test_mixture_engine_html_escapes_set_names(tiny_samples):
    samples, vectors = tiny_samples
    samples = samples.assign(method=samples["method"].where(samples["source"] == "real", SCRIPT))
    _assert_escaped(cl.MixtureEngine(samples, vectors)._repr_html_())


def test_map_explorer_selects_the_samples_in_a_box(tiny_samples):
    samples, vectors = tiny_samples
    xy = np.column_stack([np.arange(len(samples), dtype=float), np.zeros(len(samples))])
    explorer = cl.explore(samples, vectors, xy=xy)
    chosen = explorer.selected({"x": [3.5, 7.5], "y": [-1, 1]})
    assert chosen["id"].tolist() == samples["id"].iloc[4:8].tolist()
    assert explorer.selected({}).empty
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the interactive widget
    assert "vegaEmbed" in bundle["text/html"]  # and the static chart nbconvert shows
    _assert_escaped_json = SCRIPT.replace("</", "<\\/")
    assert SCRIPT not in bundle["text/html"] and _assert_escaped_json in bundle["text/html"]


@pytest.fixture
def tiny_samples() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    n_real, n_synthetic = 60, 20
    texts = [f"{SCRIPT} real sample number {i} about topic {i % 3}" for i in range(n_real)]
    texts += [f"synthetic sample {i}" for i in range(n_synthetic)]
    samples = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n_real + n_synthetic)],
            "text": texts,
            "source": ["real"] * n_real + ["synthetic"] * n_synthetic,
            "method": ["real"] * n_real + ["llm"] * n_synthetic,
            "generation": [0] * n_real + [1] * n_synthetic,
            "label": [f"t{i % 3}" for i in range(n_real + n_synthetic)],
            "parent_id": None,
            "split": ["holdout" if i % 3 == 0 else "train" for i in range(n_real)] + ["train"] * n_synthetic,
        }
    )
    vectors = rng.normal(size=(len(samples), 8)).astype(np.float32)
    return samples, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_the_chart_renderer_draws_offline():
    import altair as alt

    from analysis.display import RENDERER, chart_html

    chart = alt.Chart(pd.DataFrame({"a": [SCRIPT], "b": [1]})).mark_bar().encode(x="a:N", y="b:Q")
    page = chart_html(chart)
    assert '"url"' not in page.split("vegaEmbed('#")[1]  # the data is inline: the spec loads nothing
    assert "window.vegaEmbed=" in page.replace(" ", "")  # the bundle is inline
    assert SCRIPT not in page  # "</script>" inside data cannot close the tag
    previous = alt.renderers.active
    try:
        assert cl.setup_notebook() is None and alt.renderers.active == RENDERER
        bundle = chart._repr_mimebundle_()
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
        assert "vegaEmbed" in bundle["text/html"]
    finally:
        alt.renderers.enable(previous)


# --- the notebooks run -----------------------------------------------------------------------------------------------


@pytest.mark.slow  # the notebooks read the demo's vectors built at install
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first error cell
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code_cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_have_no_small_data_switch(path):
    """What the suite executes is what a user runs: no environment variable shrinks a notebook."""
    source = "".join("".join(c["source"]) for c in _cells(path))
    assert "os.environ" not in source and "SMALL" not in source, f"{path.name} reads a switch"


def test_the_prefilled_real_share_question_shows_what_its_text_says():
    """Notebook 02's "Try it here" cell: with its prefilled n and real share, mix keeps real samples each
    generation, so its variance stays well above replace's (the text above it says so); a setting that rounds
    to zero real samples would collapse like replace."""
    path = ROOT / "notebooks" / "02-watching-collapse.ipynb"
    last = [c for c in _cells(path) if c["cell_type"] == "code"][-1]
    call = ast.parse("".join(last["source"])).body[-1].value
    assert isinstance(call, ast.Call) and call.func.id == "variance_runs"
    options = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    assert round(options["n"] * options["real_share"]) >= 1
    runs = cl.average_runs("gaussian", ["replace", "mix"], repeats=100, generations=30, seed=1, **options)
    final = runs[(runs["metric"] == "variance") & (runs["generation"] == 30)].set_index("regime")
    assert final.loc["mix", "value"] > 2 * final.loc["replace", "value"], final
