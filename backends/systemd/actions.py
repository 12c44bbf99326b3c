"""restart, start, stop, reload and reset-failed on one unit, watched until it settles.

After the D-Bus call the unit is polled until its job is done and it is active (or
inactive, for stop), or failed, or the time is up; a unit that comes up and falls over again
within the settle time counts as failed. A failure ends with the unit's last journal lines.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from backends.systemd import journal
from backends.systemd.bus import BusClient, BusError
from backends.systemd.config import SystemdConfig
from console.core.actions import ActionOutcome, Progress
from console.core.durations import clock
from console.core.errors import ActionFailed

METHODS = {"restart": "RestartUnit", "start": "StartUnit", "stop": "StopUnit",
           "reload": "ReloadUnit", "reset-failed": "ResetFailedUnit"}
PAST = {"restart": "restarted", "start": "started", "stop": "stopped", "reload": "reloaded",
        "reset-failed": "reset"}
_WATCH_EVERY = 0.2
_JOURNAL_LINES = 10
_JOURNAL_SETTLE = 0.5


@dataclass(frozen=True)
class Observed:
    """The part of a unit's state an action watches."""

    active: str
    sub: str
    job: int
    result: str
    invocation: str
    restarts: int | None
    main_pid: int
    service_type: str
    exit_status: int | None
    since: float | None

    @classmethod
    def from_reply(cls, state: dict[str, Any]) -> Observed:
        job = state.get("Job") or [0, "/"]
        since = state.get("ActiveEnterTimestamp") or 0
        return cls(str(state.get("ActiveState", "")), str(state.get("SubState", "")),
                   int(job[0]), str(state.get("Result") or ""), str(state.get("InvocationID")),
                   state.get("NRestarts"), int(state.get("MainPID") or 0),
                   str(state.get("Type") or ""), state.get("ExecMainStatus"),
                   since / 1e6 if since else None)

    def describe(self) -> str:
        text = f"{self.active} ({self.sub})"
        if self.active == "active" and self.since:
            text += f" since {clock(self.since)}"
        if self.main_pid:
            text += f", PID {self.main_pid}"
        if self.active == "failed":
            text += f", result {self.result}" + (
                f", exit {self.exit_status}" if self.exit_status else "")
        return text


def permission_message(verb: str, unit: str, detail: str) -> str:
    return (f"permission denied: systemd refused to {verb} {unit} ({detail.strip()}): run "
            "opsconsole as root (sudo opsconsole ...) or add a polkit rule for this user")


class UnitAction:
    """One verb on one unit, from the D-Bus call to the verdict."""

    def __init__(self, client: BusClient, config: SystemdConfig, verb: str, unit: str) -> None:
        self.client = client
        self.config = config
        self.verb = verb
        self.unit = unit

    async def _state(self) -> Observed:
        return Observed.from_reply(
            await self.client.request("state", self.config.timeout, name=self.unit))

    async def run(self, progress: Progress) -> ActionOutcome:
        try:
            before = await self._state()
            progress.progress(None, None, f"{self.verb} {self.unit} (now {before.describe()})")
            await self.client.request("call", self.config.timeout, method=METHODS[self.verb],
                                      name=self.unit)
            progress.progress(None, None, f"waiting for {self.unit} to settle")
            after, problem = await self._watch(before, progress)
        except BusError as exc:
            if exc.kind == "permission":
                raise ActionFailed(permission_message(self.verb, self.unit, str(exc))) from None
            if exc.kind == "no_such_unit":
                raise ActionFailed(f"{self.unit}: no such unit on {self.client.label}") from None
            raise ActionFailed(f"{self.verb} {self.unit} failed: {exc}") from None
        if problem is None:
            return ActionOutcome(True, f"{PAST[self.verb]} {self.unit}: {after.describe()}")
        lines = await self._journal()
        for line in lines:
            progress.log(line)
        raise ActionFailed(f"{self.verb} {self.unit} failed: {problem}", "\n".join(lines))

    async def _watch(self, before: Observed, progress: Progress) -> tuple[Observed, str | None]:
        deadline = time.monotonic() + self.config.action_timeout
        while True:
            try:
                now = await self._state()
            except BusError as exc:  # the bus itself may be restarting (dbus.service)
                if exc.kind != "unavailable" or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(_WATCH_EVERY)
                continue
            if now.job == 0:
                verdict = self._verdict(before, now)
                if verdict is not None:
                    ok, problem = verdict
                    if ok and self.verb in ("restart", "start") and now.active == "active":
                        return await self._settle(now)
                    return now, problem
            if time.monotonic() >= deadline:
                return now, (f"still {now.active} ({now.sub}) after "
                             f"{self.config.action_timeout:g}s")
            progress.progress(None, None, f"{self.unit}: {now.active} ({now.sub})")
            await asyncio.sleep(_WATCH_EVERY)

    def _verdict(self, before: Observed, now: Observed) -> tuple[bool, str | None] | None:
        """(ok, problem) once the outcome is known; None while it is still changing."""
        if self.verb == "reset-failed":
            return (True, None) if now.active != "failed" else (False, "still failed")
        if self.verb == "stop":
            if now.active == "inactive":
                return True, None
            if now.active == "failed":
                return True, None  # stopped; it had failed on its way down
            return None
        if now.active == "failed":
            return False, f"{now.describe()}"
        if now.active == "active":
            if self.verb == "restart" and now.invocation == before.invocation:
                return None  # the restart has not happened yet
            return True, None
        if now.active == "inactive" and now.service_type == "oneshot" and now.result == "success":
            return True, None  # a oneshot ran and exited
        if now.active == "inactive" and self.verb != "reload":
            return False, f"{now.describe()} (it exited right after starting)"
        return None

    async def _settle(self, up: Observed) -> tuple[Observed, str | None]:
        """A unit that falls over right after starting is a crash loop, not a success."""
        await asyncio.sleep(self.config.settle)
        now = await self._state()
        if now.active != "active" or now.invocation != up.invocation or (
                up.restarts is not None and now.restarts is not None
                and now.restarts > up.restarts):
            return now, (f"it came up, then was {now.active} ({now.sub}) within "
                         f"{self.config.settle:g}s: it keeps failing")
        return now, None

    async def _journal(self) -> list[str]:
        await asyncio.sleep(_JOURNAL_SETTLE)  # journald writes the last lines a moment later
        try:
            lines = await journal.tail(self.unit, self.config.journal_dir, _JOURNAL_LINES,
                                       timeout=self.config.timeout)
        except Exception as exc:  # the outcome matters more than its log lines
            return [f"(journal unavailable: {exc})"]
        return [f"{clock(line.ts)} {line.text}" for line in lines]
