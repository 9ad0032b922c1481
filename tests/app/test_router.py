"""A page run without the router (Streamlit's direct pages/ mode) is sent through app.py, back to itself."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def test_a_page_run_directly_records_itself_and_its_query_for_the_router(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAPSE_LAB_WORKSPACE", str(tmp_path / "workspaces"))
    monkeypatch.syspath_prepend(str(ROOT))  # as under `streamlit run app.py`, which puts app.py's folder first
    at = AppTest.from_file(str(ROOT / "pages" / "simulator.py"), default_timeout=120)
    at.query_params["generations"] = "7"
    at.run()
    # AppTest knows no app.py to switch to (its entry point is the page); the record is what the router reads
    assert at.session_state["_collapse_lab_redirect"] == {"page": "pages/simulator.py", "query": {"generations": "7"}}
    assert not (tmp_path / "workspaces").exists()  # sent away before the workspace was opened
