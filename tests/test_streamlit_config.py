"""The project's Streamlit settings: what a plain `streamlit run app.py` does."""

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def test_the_app_listens_on_this_machine_only():
    """The Data page reads files and folders on the server: serving it to a network must be a deliberate choice."""
    server = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]
    assert server["address"] == "localhost"
