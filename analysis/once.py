"""One computation per key in a process: the first caller computes, every other caller waits and reads its result.

A server runs each browser session in its own thread, and a map or a comparison of a dataset takes seconds to
minutes. :func:`run_once` keeps one lock per key (a dataset version and its parameters) in a process-wide
registry: the first caller takes it and computes; a later caller polls it, calling ``waiting()`` at every poll, so
a caller that must stop while it waits (a closed browser tab: Streamlit stops a run by raising from its next
``st`` call) leaves by that exception and holds nothing. Once a waiter holds the lock it asks ``ready()`` first
(say, the disk cache the computation writes) and computes only if the result is not there: a computation whose
caller failed or was stopped is thus done by the next caller. The lock is released by ``finally`` whatever
``compute`` raises, and a key's entry leaves the registry when its last caller does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")

#: Seconds between two polls of a waiting caller, and so between two ``waiting()`` calls.
POLL = 0.5


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0  # callers computing or waiting on this key


_REGISTRY: dict[Hashable, _Entry] = {}
_REGISTRY_LOCK = threading.Lock()


def run_once(
    key: Hashable,
    compute: Callable[[], T],
    *,
    ready: Callable[[], T | None] | None = None,
    waiting: Callable[[], object] | None = None,
    poll: float = POLL,
) -> T:
    """``compute()``, run by one caller at a time per ``key`` in this process; the others wait, then reuse its work.

    Parameters
    ----------
    key
        What is computed, e.g. ``("map", dataset checksum, parameters)``: callers with equal keys run one at a
        time. A key that is too coarse only makes callers wait; it never mixes results.
    compute
        Computes the result (and keeps it where ``ready`` finds it, such as a disk cache). Whatever it raises
        reaches its own caller only; the lock is released and the next waiter computes.
    ready
        Called once the lock is held, before ``compute``: the result if it is already there (another caller
        finished it meanwhile), else None. None (default): always compute.
    waiting
        Called each time the lock is found busy, before every wait of ``poll`` seconds (so the first call comes
        at once). What it raises ends the wait and reaches the caller, with nothing held.
    poll
        Seconds between two attempts to take the lock.

    Returns
    -------
    The result of ``ready()`` when it is not None, else of ``compute()``.

    Notes
    -----
    Not re-entrant: ``compute`` must not call :func:`run_once` with its own key (it would wait on itself).
    """
    with _REGISTRY_LOCK:
        entry = _REGISTRY.get(key)
        if entry is None:
            entry = _REGISTRY[key] = _Entry()
        entry.users += 1
    try:
        if not entry.lock.acquire(blocking=False):
            while True:
                if waiting is not None:
                    waiting()
                if entry.lock.acquire(timeout=poll):
                    break
        try:
            if ready is not None:
                found = ready()
                if found is not None:
                    return found
            return compute()
        finally:
            entry.lock.release()
    finally:
        with _REGISTRY_LOCK:
            entry.users -= 1
            if entry.users == 0:
                del _REGISTRY[key]


def busy_keys() -> list[Hashable]:
    """The keys someone is computing or waiting on in this process now (for tests and diagnostics)."""
    with _REGISTRY_LOCK:
        return list(_REGISTRY)
