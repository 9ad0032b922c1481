"""analysis.once.run_once: one computation per key, waiters reuse it, a failed or stopped caller holds nothing.

The threads play browser sessions: Streamlit runs each session's script in its own thread and stops a closed
tab's run by raising a ``BaseException`` (``StopException``) from its next ``st`` call, here ``_Stopped``.
"""

from __future__ import annotations

import threading
import time

import pytest

from analysis.once import busy_keys, run_once

WAIT = 20  # seconds: a bound that only a hang reaches


class _Stopped(BaseException):
    """What Streamlit raises in a stopped session's thread (a BaseException, as its StopException is)."""


class Session(threading.Thread):
    """Calls ``run_once`` in a thread of its own; keeps the result or what it raised."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(daemon=True)
        self.args, self.kwargs = args, kwargs
        self.result: object = None
        self.raised: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = run_once(*self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
            self.raised = exc

    def go(self) -> Session:
        self.start()
        return self

    def finish(self) -> Session:
        self.join(WAIT)
        assert not self.is_alive(), "the session is still waiting: a lock was left held"
        return self


class Job:
    """A computation that blocks until released, counting its runs; its result is kept in ``store`` (a disk cache)."""

    def __init__(self, store: dict, *, fail: bool = False) -> None:
        self.store, self.fail = store, fail
        self.started, self.release = threading.Event(), threading.Event()
        self.runs = 0

    def __call__(self) -> str:
        self.runs += 1
        self.started.set()
        assert self.release.wait(WAIT)
        if self.fail:
            raise _Stopped()
        self.store["result"] = "map"
        return "map"


def bounded(calls: list, release: threading.Event | None = None):
    """A waiting callback that counts its calls, releases ``release`` at the first, and gives up after WAIT s."""
    start = time.monotonic()

    def waiting() -> None:
        calls.append(time.monotonic())
        if release is not None:
            release.set()
        if time.monotonic() - start > WAIT:
            raise TimeoutError("waited too long: the lock was never released")

    return waiting


def test_two_sessions_compute_once_and_the_second_reads_the_first_ones_result():
    store: dict = {}
    first_job, second_job = Job(store), Job(store)
    second_job.release.set()
    first = Session("k1", first_job, ready=lambda: store.get("result"), poll=0.01).go()
    assert first_job.started.wait(WAIT)
    calls: list = []
    second = Session("k1", second_job, ready=lambda: store.get("result"), waiting=bounded(calls), poll=0.01).go()
    deadline = time.monotonic() + WAIT
    while len(calls) < 3:  # the second session is waiting (several polls) while the first computes
        assert second.is_alive() and time.monotonic() < deadline, "the second session does not wait"
        time.sleep(0.01)
    first_job.release.set()
    first.finish()
    second.finish()
    assert (first.raised, second.raised) == (None, None)
    assert first.result == second.result == "map"
    assert (first_job.runs, second_job.runs) == (1, 0)  # computed once, by the first session
    assert busy_keys() == []


def test_a_session_stopped_while_computing_lets_the_waiting_one_compute():
    store: dict = {}
    stopped, second_job = Job(store, fail=True), Job(store)
    second_job.release.set()
    first = Session("k2", stopped, ready=lambda: store.get("result"), poll=0.01).go()
    assert stopped.started.wait(WAIT)
    calls: list = []
    # the first call of the second session's waiting callback lets the first session fail
    second = Session(
        "k2", second_job, ready=lambda: store.get("result"), waiting=bounded(calls, stopped.release), poll=0.01
    ).go()
    first.finish()
    second.finish()
    assert isinstance(first.raised, _Stopped)  # the stopped session sees its own exception
    assert second.raised is None and second.result == "map"
    assert (stopped.runs, second_job.runs) == (1, 1)  # the waiter computed it
    assert calls  # it did wait
    assert busy_keys() == []


def test_a_waiter_stopped_while_waiting_leaves_holding_nothing():
    store: dict = {}
    first_job, never = Job(store), Job(store)
    first = Session("k3", first_job, ready=lambda: store.get("result"), poll=0.01).go()
    assert first_job.started.wait(WAIT)

    def closed_tab() -> None:
        raise _Stopped()

    waiter = Session("k3", never, ready=lambda: store.get("result"), waiting=closed_tab, poll=0.01).go().finish()
    assert isinstance(waiter.raised, _Stopped) and never.runs == 0
    assert busy_keys() == ["k3"]  # only the computing session is left
    first_job.release.set()
    assert first.finish().result == "map"
    assert busy_keys() == []
    # the key is free: a later caller computes at once, without waiting
    later_job, calls = Job({}), []
    later_job.release.set()
    assert run_once("k3", later_job, waiting=bounded(calls)) == "map"
    assert later_job.runs == 1 and calls == []


def test_a_result_found_ready_is_returned_without_computing():
    def compute() -> str:
        raise AssertionError("computed although the result was ready")

    assert run_once("k4", compute, ready=lambda: "cached") == "cached"
    assert busy_keys() == []


def test_an_error_reaches_its_caller_and_the_next_caller_computes():
    def broken() -> str:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        run_once("k5", broken)
    assert run_once("k5", lambda: "ok") == "ok"
    assert busy_keys() == []


def test_different_keys_do_not_wait_for_each_other():
    store: dict = {}
    slow = Job(store)
    first = Session("k6", slow, poll=0.01).go()
    assert slow.started.wait(WAIT)
    calls: list = []
    assert run_once("k7", lambda: "other", waiting=bounded(calls)) == "other"
    assert calls == []
    slow.release.set()
    first.finish()
    assert busy_keys() == []
