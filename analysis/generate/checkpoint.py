"""Resumable runs: an append-only JSONL checkpoint, flushed and fsynced per batch.

Line 1 is the run's settings; each further line is one attempted index: ``{"index": i, "row":
{...}}`` for an accepted sample or ``{"index": i, "rejected": reason}``. A killed run leaves at
most a torn last line, which is ignored; resuming skips every index already on file, so the
finished run has no duplicate and no lost sample.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from analysis.generate.backends import GenerationError

__all__ = ["Checkpoint"]


class Checkpoint:
    def __init__(self, path: str | Path, settings: dict[str, Any]) -> None:
        self.path = Path(path)
        self.settings = json.loads(json.dumps(settings, default=str))

    def read(self) -> dict[int, dict[str, Any]]:
        """Records on file by index; an empty dict for a new run. Refuses a checkpoint of other settings."""
        if not self.path.exists():
            return {}
        lines = self.path.read_text(encoding="utf-8").splitlines()
        records: dict[int, dict[str, Any]] = {}
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if number == len(lines):
                    break  # the torn last line of a killed run
                raise GenerationError(
                    f"{self.path}, line {number}: damaged checkpoint. Delete it to start again."
                ) from None
            if number == 1:
                if record.get("settings") != self.settings:
                    raise GenerationError(
                        f"{self.path} was written by a run with other settings; resume with the same settings, "
                        f"or delete the checkpoint (or drop --resume) to start a new run."
                    )
                continue
            records[int(record["index"])] = record
        return records

    def start(self) -> None:
        """Begin a new run (any old checkpoint at this path is replaced)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", encoding="utf-8") as file:
            file.write(json.dumps({"settings": self.settings}) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(r, default=str) + "\n" for r in records)
        if not lines:
            return
        with open(self.path, "rb+") as file:  # drop a torn last line left by a killed run first
            data = file.read()
            if data and not data.endswith(b"\n"):
                file.truncate(data.rfind(b"\n") + 1)
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(lines)
            file.flush()
            os.fsync(file.fileno())
