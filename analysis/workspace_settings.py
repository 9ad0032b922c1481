"""How a workspace's data is judged, kept beside its dataset: ``settings.json`` in the workspace folder.

One setting so far, ``coverage``: coverage's reference (:data:`analysis.judge.reference.COVERAGE_REFERENCES`),
every real sample cross-fitted or the real holdout. The Data page sets it; every page, the report and the
mixture designer read it, so one workspace (a shared one too) is judged one way everywhere, and a refresh or
a restart keeps it. A setting never set, or a file someone damaged, reads as the default: a setting is never
a reason to lose the dataset.
"""

from __future__ import annotations

import json
from typing import Any

from analysis.io import atomic_write_bytes
from analysis.judge.reference import COVERAGE_REFERENCES, DEFAULT_COVERAGE
from analysis.workspace import Workspace, WorkspaceError

__all__ = ["SETTINGS", "DEFAULTS", "CHOICES", "read_settings", "change_setting"]

SETTINGS = "settings.json"
#: Each setting's value until one is chosen.
DEFAULTS: dict[str, str] = {"coverage": DEFAULT_COVERAGE}
#: The values each setting takes.
CHOICES: dict[str, tuple[str, ...]] = {"coverage": COVERAGE_REFERENCES}


def read_settings(ws: Workspace) -> dict[str, str]:
    """The workspace's settings: :data:`DEFAULTS`, with what was chosen (and is still a valid value) over them."""
    try:
        stored: Any = json.loads((ws.root / SETTINGS).read_bytes())
    except (OSError, ValueError, RecursionError):  # absent, unreadable or not JSON: the defaults
        stored = {}
    chosen = stored if isinstance(stored, dict) else {}
    return {name: chosen[name] if chosen.get(name) in CHOICES[name] else value for name, value in DEFAULTS.items()}


def change_setting(ws: Workspace, name: str, value: str) -> None:
    """Keep ``name = value`` (under the workspace's lock, written atomically)."""
    if name not in CHOICES:
        raise WorkspaceError(f"No setting called {name!r}; the settings are {', '.join(CHOICES)}.")
    if value not in CHOICES[name]:
        raise WorkspaceError(f"{name} is one of {', '.join(CHOICES[name])}, not {value!r}.")
    with ws.lock():
        settings = read_settings(ws)
        settings[name] = value
        ws.root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(ws.root / SETTINGS, json.dumps(settings).encode("utf-8"))
