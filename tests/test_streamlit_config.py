"""The project's Streamlit settings: what a plain `streamlit run app.py` does."""

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def test_the_app_listens_on_this_machine_only():
    """The Data page reads files and folders on the server: serving it to a network must be a deliberate choice."""
    server = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]
    assert server["address"] == "localhost"


def test_streamlit_polls_the_source_files_instead_of_watching_the_checkout():
    """Streamlit's default watcher (watchdog) watched the checkout recursively, .venv included, and walked it again on
    every inotify queue overflow, which overflowed the queue again: a core stayed busy while a page was open.
    tests/app/test_browser.py checks that the running server holds no inotify watch."""
    server = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]
    assert server["fileWatcherType"] == "poll"
