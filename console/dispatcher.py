"""The one path every action takes: read-only gate, confirmation, lock, audit, run, re-poll."""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from console.core.actions import ActionOutcome, ActionSpec
from console.core.audit import AuditLog
from console.core.errors import ActionFailed, ActionRefused, one_line
from console.core.identity import Identity
from console.core.locks import TargetLock
from console.core.scrub import scrub_text
from console.core.secrets import Redactor

Confirmer = Callable[[ActionSpec], Awaitable[bool]]
_MAX_LINES = 500
_NOTIFY_EVERY = 0.1
_ids = itertools.count(1)


@dataclass
class ActionRun:
    """The live state of one dispatched action, as the Actions screen shows it."""

    id: str
    spec: ActionSpec
    started: float
    state: str = "pending"  # pending, running, ok, failed, refused
    done: float | None = None
    total: float | None = None
    message: str = ""
    lines: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=_MAX_LINES))
    outcome: ActionOutcome | None = None
    finished: float | None = None
    line_count: int = 0
    identity: Identity | None = None  # who asked, when not the session's own operator

    @property
    def fraction(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


class _RunProgress:
    """Progress reporting for one run; notifications are throttled for the UI's sake."""

    def __init__(self, run: ActionRun, notify: Callable[[ActionRun], None],
                 redactor: Callable[[str], str]) -> None:
        self.run = run
        self._notify = notify
        self._redactor = redactor
        self._last = 0.0

    def progress(self, done: float | None, total: float | None = None, message: str = "") -> None:
        self.run.done, self.run.total = done, total
        if message:
            self.run.message = self._redactor(message)
        self._maybe_notify()

    def log(self, line: str) -> None:
        self.run.lines.append(self._redactor(line))
        self.run.line_count += 1
        self._maybe_notify()

    def _maybe_notify(self) -> None:
        now = time.monotonic()
        if now - self._last >= _NOTIFY_EVERY:
            self._last = now
            self._notify(self.run)


class Dispatcher:
    """Runs ActionSpecs with every safeguard, and keeps the runs of this session."""

    def __init__(self, *, state_dir: Path, read_only: bool, redactor: Redactor,
                 identity: Identity, on_change: Callable[[ActionRun], None] | None = None,
                 repoll: Callable[[str], None] | None = None) -> None:
        self.audit = AuditLog(state_dir)
        self.lock_dir = state_dir / "locks"
        self.read_only = read_only
        # every message, line and audit field is masked and made printable on its way out
        self.redactor: Callable[[str], str] = functools.partial(scrub_text, redact=redactor)
        self.identity = identity
        self.on_change = on_change or (lambda run: None)
        self.repoll = repoll or (lambda backend_id: None)
        self.runs: list[ActionRun] = []

    def refusal(self, spec: ActionSpec) -> str | None:
        """Why this action cannot run now, or None."""
        if spec.unavailable:
            return spec.unavailable
        if spec.mutating and self.read_only:
            return f"read-only mode: '{spec.verb}' changes {spec.target} and is disabled"
        return None

    async def run(self, spec: ActionSpec, confirm: Confirmer,
                  identity: Identity | None = None) -> ActionRun:
        """Take an action through the whole path; the returned run says how it ended.

        `identity` names the operator when it is not the session's own (a fleet console's
        operator acting through a bridge): the lock and the audit records carry it.
        """
        run = ActionRun(id=f"{os.getpid()}-{next(_ids)}-{int(time.time())}", spec=spec,
                        started=time.time(), identity=identity)
        self.runs.append(run)
        try:
            reason = self.refusal(spec)
            if reason:
                raise ActionRefused(reason)
            if spec.mutating and not await confirm(spec):
                raise ActionRefused(f"{spec.title}: not confirmed")
        except ActionRefused as exc:
            await self._record(run, "refused", outcome="refused", error=str(exc))
            return self._end(run, "refused", ActionOutcome(False, self.redactor(str(exc))))
        lock = TargetLock(self.lock_dir, spec.lock_key, identity or self.identity, spec.verb)
        if spec.mutating:
            try:
                await asyncio.to_thread(lock.acquire)
            except ActionRefused as exc:
                await self._record(run, "refused", outcome="refused", error=str(exc))
                return self._end(run, "refused", ActionOutcome(False, self.redactor(str(exc))))
        try:
            return await self._execute(run)
        finally:
            lock.release()
            if spec.backend_id:
                self.repoll(spec.backend_id)

    async def _execute(self, run: ActionRun) -> ActionRun:
        spec = run.spec
        run.state = "running"
        self.on_change(run)
        await self._record(run, "started")
        clock = time.monotonic()
        progress = _RunProgress(run, self.on_change, self.redactor)
        try:
            outcome = await spec.run(progress)
        except asyncio.CancelledError:
            outcome = ActionOutcome(False, "interrupted: the console stopped during the action")
            await asyncio.shield(self._finish(run, outcome, time.monotonic() - clock))
            raise
        except ActionRefused as exc:  # found out only once started (a run lock, say)
            outcome = ActionOutcome(False, self.redactor(str(exc)))
            await self._record(run, "refused", outcome="refused", error=outcome.message,
                               duration=time.monotonic() - clock)
            self._end(run, "refused", outcome)
            return run
        except ActionFailed as exc:
            outcome = ActionOutcome(False, str(exc), exc.details)
        except Exception as exc:  # the action failed: report it, keep the console alive
            outcome = ActionOutcome(False, self.redactor(f"{spec.title} failed: "
                                                         f"{one_line(exc)}"))
        outcome = ActionOutcome(outcome.ok, self.redactor(outcome.message),
                                self.redactor(outcome.details))
        await self._finish(run, outcome, time.monotonic() - clock)
        return run

    async def _finish(self, run: ActionRun, outcome: ActionOutcome, duration: float) -> None:
        phase = "finished" if outcome.ok else "failed"
        await self._record(run, phase, outcome=outcome.message if outcome.ok else "failed",
                           duration=duration, error="" if outcome.ok else outcome.message)
        self._end(run, "ok" if outcome.ok else "failed", outcome)

    def _end(self, run: ActionRun, state: str, outcome: ActionOutcome) -> ActionRun:
        run.state = state
        run.outcome = outcome
        run.finished = time.time()
        run.message = outcome.message
        self.on_change(run)
        return run

    async def _record(self, run: ActionRun, phase: str, *, outcome: str = "",
                      duration: float | None = None, error: str = "") -> None:
        spec = run.spec
        if not spec.mutating and phase != "refused":
            return
        params = {k: self.redactor(str(v)) for k, v in spec.params.items()}
        who = run.identity or self.identity
        await asyncio.to_thread(
            self.audit.append, action_id=run.id, phase=phase, who=who.user,
            client=who.client or who.tty, verb=spec.verb,
            target=self.redactor(spec.target), params=params, outcome=self.redactor(outcome),
            duration=duration, error=self.redactor(error))
