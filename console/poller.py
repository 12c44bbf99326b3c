"""Polling: each backend on its own interval, never overlapping, backing off on failure.

A push source (an events stream, D-Bus signals) wakes its backend's poll at once, but a
storm of events (a flapping unit, a burst of failing tasks) brings at most one poll per
PUSH_GAP: the screen redraws no faster anyway. A poll asked for by the operator (a view
coming on screen, an action done) is never held back.

`poll_once` is shared by the TUI's long-running `Poller` and the headless runner, so a
failure reads the same everywhere: "unreachable since 03:12:05: <reason>".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from backends.base import Backend
from console.core.errors import one_line
from console.core.model import PollResult
from console.core.scrub import scrub
from console.core.secrets import Redactor

MAX_BACKOFF = 60.0
PUSH_GAP = 1.0  # seconds from one poll's start to the next that a push source can bring


@dataclass
class BackendState:
    """What the poller remembers about one backend between polls."""

    failures: int = 0
    unreachable_since: float | None = None
    last: PollResult | None = None


async def poll_once(backend: Backend, state: BackendState, redactor: Redactor,
                    timeout: float | None = None) -> PollResult:
    """Collect and evaluate one backend within its timeout; never raises (but cancels).

    Every result leaves through `scrub`: its checks, snapshot and error have each known
    secret masked and each control character escaped, whatever the backend put there.
    """
    limit = backend.timeout if timeout is None else min(timeout, backend.timeout)
    started = time.time()
    clock = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            snapshot = await backend.collect()
        checks = tuple(backend.evaluate(snapshot))
    except Exception as exc:  # any failure of a backend is shown, never crashes the console
        reason = redactor(one_line(exc, limit))
        state.failures += 1
        if state.unreachable_since is None:
            state.unreachable_since = started
        result = PollResult(backend.id, backend.kind, started, time.monotonic() - clock,
                            tuple(backend.failure_checks(reason, state.unreachable_since)),
                            error=reason, unreachable_since=state.unreachable_since)
    else:
        state.failures = 0
        state.unreachable_since = None
        result = PollResult(backend.id, backend.kind, started, time.monotonic() - clock,
                            checks, snapshot=snapshot)
    result = scrub(result, redactor)
    state.last = result
    return result


class Poller:
    """Runs every backend's poll loop and hands each PollResult to `publish`."""

    def __init__(self, backends: list[Backend], publish: Callable[[PollResult], None],
                 redactor: Redactor) -> None:
        self.backends = {b.id: b for b in backends}
        self.states = {b.id: BackendState() for b in backends}
        self._publish = publish
        self._redactor = redactor
        self._wake = {b.id: asyncio.Event() for b in backends}
        self._asked: set[str] = set()  # backends whose next poll the operator asked for
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for backend in self.backends.values():
            self._tasks.append(asyncio.create_task(self._run(backend), name=backend.id))
            backend.watch(functools.partial(self.poll_soon, backend.id))

    def poll_now(self, backend_id: str | None = None) -> None:
        """Ask for a poll at once (of one backend, or all); coalesces with a running one."""
        for bid, event in self._wake.items():
            if backend_id is None or bid == backend_id:
                self._asked.add(bid)
                event.set()

    def poll_soon(self, backend_id: str) -> None:
        """Thread-safe wake-up for push sources (events streams, D-Bus signals): a poll at
        once, or PUSH_GAP after the last one started."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._pushed, backend_id)

    def _pushed(self, backend_id: str) -> None:
        event = self._wake.get(backend_id)
        if event is not None:
            event.set()

    async def _run(self, backend: Backend) -> None:
        state = self.states[backend.id]
        wake = self._wake[backend.id]
        while True:
            wake.clear()
            self._asked.discard(backend.id)
            started = time.monotonic()
            result = await poll_once(backend, state, self._redactor)
            self._publish(result)
            delay = backend.interval
            if state.failures:
                delay = min(backend.interval * 2 ** (state.failures - 1),
                            max(MAX_BACKOFF, backend.interval))
            woken = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    woken = await wake.wait()
            if woken:  # a short interval of its own is kept: only a wake-up is held back
                await self._hold_back(backend.id, started)

    async def _hold_back(self, backend_id: str, started: float) -> None:
        """Until PUSH_GAP after the last poll started, unless the operator asks meanwhile."""
        wake = self._wake[backend_id]
        while backend_id not in self._asked:
            left = PUSH_GAP - (time.monotonic() - started)
            if left <= 0:
                return
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await wake.wait()

    async def stop(self, bound: float = 1.0) -> None:
        """Stop polling and close every backend at once, waiting at most `bound` seconds.

        A close stuck on a hung server (a thread still connecting, a worker not answering)
        goes on in the background: quitting never waits for it.
        """
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=bound)
        self._tasks.clear()
        await close_all(list(self.backends.values()), bound)


async def close_all(backends: list[Backend], bound: float) -> None:
    """Close backends concurrently; return after `bound` seconds at most, never raise."""
    async def close(backend: Backend) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(max(bound, 3.0)):
                await backend.close()

    tasks = [asyncio.ensure_future(close(b)) for b in backends]
    _closing.update(tasks)
    for task in tasks:
        task.add_done_callback(_closing.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=bound)


_closing: set[asyncio.Future[None]] = set()  # closes left running in the background
