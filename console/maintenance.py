"""Maintenance windows: silence targets, optionally stop them first, and undo both at the end.

A window is a row in the state database (targets, what it stopped, who, why, until) plus one
silence per target. Starting and ending are actions: the dispatcher confirms, audits and
refuses them in read-only mode, and the stops and starts inside are the targets' own `stop`
and `start` actions, taken through the dispatcher too (each audited and locked on its own).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from console.core import statedb
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.durations import clock, format_span
from console.dispatcher import ActionRun
from console.silences import Silences

_SCHEMA = """CREATE TABLE IF NOT EXISTS maintenance (
    id INTEGER PRIMARY KEY AUTOINCREMENT, targets TEXT NOT NULL, stopped TEXT NOT NULL,
    who TEXT NOT NULL, reason TEXT NOT NULL, started REAL NOT NULL, until REAL NOT NULL,
    ended REAL)"""
DEFAULT_LENGTH = 3600.0


@dataclass(frozen=True)
class Window:
    id: int
    targets: tuple[str, ...]
    stopped: tuple[str, ...]
    who: str
    reason: str
    started: float
    until: float
    ended: float | None

    def describe(self) -> str:
        return (f"maintenance of {', '.join(self.targets)} by {self.who} until "
                f"{clock(self.until)[:5]}" + (f": {self.reason}" if self.reason else ""))


class MaintenanceLog:
    """Maintenance windows in the state database."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _connect(self) -> sqlite3.Connection:
        return statedb.connect(self.state_dir, _SCHEMA)

    def _windows(self, where: str, args: tuple[object, ...]) -> list[Window]:
        connection = self._connect()
        try:
            rows = connection.execute(f"SELECT * FROM maintenance {where} ORDER BY id",
                                      args).fetchall()
        finally:
            connection.close()
        return [Window(r[0], tuple(json.loads(r[1])), tuple(json.loads(r[2])), r[3], r[4], r[5],
                       r[6], r[7]) for r in rows]

    def open(self, targets: list[str], *, seconds: float, reason: str, who: str) -> Window:
        now = time.time()
        connection = self._connect()
        try:
            cursor = connection.execute(
                "INSERT INTO maintenance (targets, stopped, who, reason, started, until) "
                "VALUES (?, '[]', ?, ?, ?, ?)", (json.dumps(targets), who, reason, now, now + seconds))
            window_id = cursor.lastrowid or 0
        finally:
            connection.close()
        return self._windows("WHERE id = ?", (window_id,))[0]

    def set_stopped(self, window_id: int, stopped: list[str]) -> None:
        connection = self._connect()
        try:
            connection.execute("UPDATE maintenance SET stopped = ? WHERE id = ?",
                               (json.dumps(stopped), window_id))
        finally:
            connection.close()

    def close(self, window_id: int) -> None:
        connection = self._connect()
        try:
            connection.execute("UPDATE maintenance SET ended = ? WHERE id = ?",
                               (time.time(), window_id))
        finally:
            connection.close()

    def active(self, now: float | None = None) -> list[Window]:
        """Windows not ended whose time is not up (a window past its time only silences no more)."""
        now = time.time() if now is None else now
        return self._windows("WHERE ended IS NULL AND until > ?", (now,))

    def unfinished(self) -> list[Window]:
        """Windows not ended, whatever their time: `end` still starts what they stopped."""
        return self._windows("WHERE ended IS NULL", ())


class WindowSpec(ActionSpec):
    """A window's own action: locked apart from its targets, whose stop and start it runs."""

    @property
    def lock_key(self) -> str:
        return f"maintenance {self.target}"


@dataclass(frozen=True)
class Operator:
    """What a window needs of a session: where state lives, who acts, and the actions."""

    state_dir: Path
    who: str
    action: Callable[[str, str], ActionSpec]  # (target, verb) -> the target's own action
    run: Callable[[ActionSpec], Awaitable[ActionRun]]  # through the dispatcher, confirmed


def start_spec(operator: Operator, targets: list[str], *, seconds: float, reason: str,
               stop: bool) -> ActionSpec:
    """`maintenance start`: silence the targets (and stop them first with `stop`)."""
    windows = MaintenanceLog(operator.state_dir)
    silences = Silences(operator.state_dir)
    who = operator.who
    stops = [operator.action(t, "stop") for t in targets] if stop else []

    async def run(progress: Progress) -> ActionOutcome:
        window = await asyncio.to_thread(windows.open, targets, seconds=seconds, reason=reason,
                                         who=who)
        for target in targets:
            await asyncio.to_thread(silences.add, target, seconds=seconds,
                                    reason=reason or "maintenance", who=who, maintenance=window.id)
            progress.log(f"silenced {target} until {clock(window.until)[:5]}")
        stopped, failed = await _each(operator, stops, progress)
        await asyncio.to_thread(windows.set_stopped, window.id, stopped)
        if failed:
            return ActionOutcome(False, f"maintenance started, but {'; '.join(failed)}")
        what = f", stopped {', '.join(stopped)}" if stopped else ""
        return ActionOutcome(True, f"maintenance started for {format_span(seconds)}{what}")

    effect = (f"{', '.join(targets)} send no notification and raise no exit code for "
              f"{format_span(seconds)}" + (f"; first stops {', '.join(targets)}" if stop else ""))
    return WindowSpec("maintenance", " ".join(targets), "Start maintenance", effect, run,
                      params={"for": format_span(seconds), "reason": reason, "stop": stop})


def end_spec(operator: Operator, targets: list[str]) -> ActionSpec:
    """`maintenance end`: start what the windows stopped and lift their silences."""
    windows = MaintenanceLog(operator.state_dir)
    silences = Silences(operator.state_dir)
    who = operator.who
    open_windows = [w for w in windows.unfinished() if set(w.targets) & set(targets)]
    to_start = [t for w in open_windows for t in w.stopped if t in targets]
    starts = [operator.action(t, "start") for t in to_start]

    async def run(progress: Progress) -> ActionOutcome:
        if not open_windows:
            return ActionOutcome(False, f"no maintenance is going on for {' '.join(targets)}")
        started, failed = await _each(operator, starts, progress)
        for window in open_windows:
            for target in set(window.targets) & set(targets):
                await asyncio.to_thread(silences.end, target, who=who, maintenance=window.id)
                progress.log(f"lifted the silence on {target}")
            remaining = [s for s in await asyncio.to_thread(silences.active)
                         if s.maintenance == window.id]
            if not remaining:
                await asyncio.to_thread(windows.close, window.id)
        if failed:
            return ActionOutcome(False, f"maintenance ended, but {'; '.join(failed)}")
        what = f", started {', '.join(started)}" if started else ""
        return ActionOutcome(True, f"maintenance ended{what}")

    effect = (f"{', '.join(targets)} notify and count again"
              + (f"; first starts {', '.join(to_start)}" if to_start else ""))
    return WindowSpec("maintenance-end", " ".join(targets), "End maintenance", effect, run)


async def _each(operator: Operator, specs: list[ActionSpec],
                progress: Progress) -> tuple[list[str], list[str]]:
    """Run each action through the dispatcher (confirmed as part of the window)."""
    done: list[str] = []
    failed: list[str] = []
    for spec in specs:
        run = await operator.run(spec)
        message = run.outcome.message if run.outcome else run.state
        progress.log(f"{spec.verb} {spec.target}: {message}")
        if run.state == "ok":
            done.append(spec.target)
        else:
            failed.append(f"{spec.verb} {spec.target}: {message}")
    return done, failed
