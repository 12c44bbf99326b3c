"""Push sources and the poll schedule: a storm of events brings at most one poll per
PUSH_GAP, and a poll the operator asks for is never held back by it.

The backend is one of our own that counts its polls and hands its push callback to the test,
which calls it from a thread as an events stream or a D-Bus watcher does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from console import poller
from console.core.model import CheckResult, Status
from console.core.secrets import Redactor
from console.poller import Poller
from tests.support.fixed_backends import FixedBackend


class CountingBackend(FixedBackend):
    def __init__(self) -> None:
        super().__init__("unit", "units", [CheckResult("unit:a.service", Status.OK, "active")])
        self.polls = 0
        self.pushed: Callable[[], None] | None = None

    async def collect(self) -> int:
        self.polls += 1
        return await super().collect()

    def watch(self, changed: Callable[[], None]) -> None:
        self.pushed = changed


async def _until(condition: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _push_from_a_thread(backend: CountingBackend, times: int) -> None:
    def storm() -> None:
        assert backend.pushed is not None
        for _ in range(times):
            backend.pushed()

    thread = threading.Thread(target=storm)
    thread.start()
    thread.join()


async def test_a_storm_of_events_waits_for_the_gap_and_an_operators_poll_does_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poller, "PUSH_GAP", 3600.0)  # the gap could not pass during the test
    backend = CountingBackend()
    published: list[float] = []
    polls = Poller([backend], lambda result: published.append(time.monotonic()), Redactor())
    polls.start()
    try:
        await _until(lambda: len(published) == 1, "the first poll")
        _push_from_a_thread(backend, 50)
        await asyncio.sleep(0)  # the pushes reach the loop
        for _ in range(20):  # the loop goes round: nothing may start a poll meanwhile
            await asyncio.sleep(0)
        assert backend.polls == 1, "a push polled again within PUSH_GAP"

        polls.poll_now(backend.id)  # the operator's poll goes through at once
        await _until(lambda: len(published) == 2, "the operator's poll")
        assert backend.polls == 2  # the pushes waiting meanwhile were answered by it
    finally:
        await polls.stop()


async def test_a_push_after_the_gap_polls_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poller, "PUSH_GAP", 0.0)
    backend = CountingBackend()
    published: list[float] = []
    polls = Poller([backend], lambda result: published.append(time.monotonic()), Redactor())
    polls.start()
    try:
        for count in (1, 2, 3):  # the interval is an hour: only the pushes bring these
            await _until(lambda: len(published) == count, f"poll {count}")  # noqa: B023
            _push_from_a_thread(backend, 1)
    finally:
        await polls.stop()


async def test_a_backend_polled_more_often_than_the_gap_keeps_its_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poller, "PUSH_GAP", 3600.0)
    backend = CountingBackend()
    backend.interval = 0.05  # a refresh shorter than the gap: not held back by it
    published: list[float] = []
    polls = Poller([backend], lambda result: published.append(time.monotonic()), Redactor())
    polls.start()
    try:
        await _until(lambda: len(published) >= 3, "three polls at the backend's interval")
    finally:
        await polls.stop()
