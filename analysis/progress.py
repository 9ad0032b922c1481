"""Progress text for long runs: done of total, rate and time left, for the app and the CLI."""

from __future__ import annotations

import time

__all__ = ["ProgressMeter", "format_seconds"]


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressMeter:
    """Measures a run from its first update: ``meter.text(done)`` says how far, how fast, how long."""

    def __init__(self, total: int, *, unit: str = "samples", start_done: int = 0) -> None:
        self.total, self.unit = total, unit
        self.start_done = start_done  # work already done before this run (a resumed checkpoint)
        self.started = time.monotonic()

    def fraction(self, done: int) -> float:
        return min(1.0, done / self.total) if self.total else 1.0

    def rate(self, done: int) -> float:
        elapsed = time.monotonic() - self.started
        return (done - self.start_done) / elapsed if elapsed > 0 else 0.0

    def text(self, done: int) -> str:
        rate = self.rate(done)
        parts = [f"{done:,} of {self.total:,} {self.unit}"]
        if rate > 0:
            parts.append(f"{rate * 60:,.0f}/min" if rate < 1 else f"{rate:,.1f}/s")
            parts.append(f"about {format_seconds((self.total - done) / rate)} left")
        return " · ".join(parts)
