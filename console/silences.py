"""Silences: a target glob that sends no notification and raises no exit code until a time.

A silence is a row in the state database (pattern, who, why, from, until). It ends by itself
when its time is up (the next check run says so once), or earlier with `unsilence`.
Maintenance windows create silences too (`maintenance` names the window).
"""

from __future__ import annotations

import asyncio
import fnmatch
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from console.core import statedb
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.durations import clock, format_span

_SCHEMA = """CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT, pattern TEXT NOT NULL, reason TEXT NOT NULL,
    who TEXT NOT NULL, created REAL NOT NULL, until REAL NOT NULL, ended REAL,
    ended_by TEXT NOT NULL DEFAULT '', expiry_told INTEGER NOT NULL DEFAULT 0,
    maintenance INTEGER)"""


@dataclass(frozen=True)
class Silence:
    id: int
    pattern: str
    reason: str
    who: str
    created: float
    until: float
    ended: float | None
    ended_by: str
    expiry_told: bool
    maintenance: int | None

    def covers(self, target: str) -> bool:
        return self.pattern == target or fnmatch.fnmatchcase(target, self.pattern)

    def active(self, now: float) -> bool:
        return self.ended is None and self.until > now

    def describe(self) -> str:
        """`silenced by ann until 14:00 (2026-11-30): deploy`."""
        day = time.strftime("%Y-%m-%d", time.localtime(self.until))
        what = "in maintenance" if self.maintenance is not None else "silenced"
        return f"{what} by {self.who} until {clock(self.until)[:5]} ({day}): {self.reason}"

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "pattern": self.pattern, "reason": self.reason, "who": self.who,
                "created": self.created, "until": self.until, "ended": self.ended,
                "maintenance": self.maintenance}


class Silences:
    """The silences in the state database."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _connect(self) -> sqlite3.Connection:
        return statedb.connect(self.state_dir, _SCHEMA)

    def _rows(self, where: str = "", args: tuple[object, ...] = ()) -> list[Silence]:
        connection = self._connect()
        try:
            rows = connection.execute(f"SELECT * FROM silences {where} ORDER BY id", args).fetchall()
        finally:
            connection.close()
        return [Silence(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8]), r[9])
                for r in rows]

    def add(self, pattern: str, *, seconds: float, reason: str, who: str,
            maintenance: int | None = None, now: float | None = None) -> Silence:
        now = time.time() if now is None else now
        connection = self._connect()
        try:
            cursor = connection.execute(
                "INSERT INTO silences (pattern, reason, who, created, until, maintenance) "
                "VALUES (?, ?, ?, ?, ?, ?)", (pattern, reason, who, now, now + seconds, maintenance))
            silence_id = cursor.lastrowid or 0
        finally:
            connection.close()
        return self._rows("WHERE id = ?", (silence_id,))[0]

    def active(self, now: float | None = None) -> list[Silence]:
        now = time.time() if now is None else now
        return self._rows("WHERE ended IS NULL AND until > ?", (now,))

    def for_target(self, target: str, now: float | None = None) -> Silence | None:
        """The active silence covering a target that lasts longest, or None."""
        covering = [s for s in self.active(now) if s.covers(target)]
        return max(covering, key=lambda s: s.until) if covering else None

    def end(self, pattern: str, *, who: str, now: float | None = None,
            maintenance: int | None = None) -> list[Silence]:
        """End the active silences with this pattern (or, for a target, those covering it)."""
        now = time.time() if now is None else now
        chosen = [s for s in self.active(now)
                  if (s.pattern == pattern or s.covers(pattern))
                  and (maintenance is None or s.maintenance == maintenance)]
        if chosen:
            connection = self._connect()
            try:
                connection.executemany(
                    "UPDATE silences SET ended = ?, ended_by = ?, expiry_told = 1 WHERE id = ?",
                    [(now, who, s.id) for s in chosen])
            finally:
                connection.close()
        return chosen

    def newly_expired(self, now: float | None = None) -> list[Silence]:
        """Silences whose time ran out and were not yet announced."""
        now = time.time() if now is None else now
        return self._rows("WHERE ended IS NULL AND until <= ? AND expiry_told = 0", (now,))

    def mark_told(self, silences: list[Silence]) -> None:
        connection = self._connect()
        try:
            connection.executemany("UPDATE silences SET expiry_told = 1 WHERE id = ?",
                                   [(s.id,) for s in silences])
        finally:
            connection.close()


def silence_spec(store: Silences, pattern: str, *, seconds: float, reason: str,
                 who: str) -> ActionSpec:
    """Silencing as an action, so the dispatcher audits it and read-only mode refuses it."""
    until = time.time() + seconds

    async def run(progress: Progress) -> ActionOutcome:
        silence = await asyncio.to_thread(store.add, pattern, seconds=seconds, reason=reason,
                                          who=who)
        return ActionOutcome(True, f"{pattern} {silence.describe()}")

    return ActionSpec("silence", pattern, f"Silence {pattern}",
                      f"no notification and no exit code from {pattern} until "
                      f"{clock(until)[:5]}: {reason}", run,
                      params={"for": format_span(seconds), "reason": reason})


def unsilence_spec(store: Silences, pattern: str, *, who: str) -> ActionSpec:
    """Ending silences as an action (audited, refused in read-only mode)."""
    async def run(progress: Progress) -> ActionOutcome:
        ended = await asyncio.to_thread(store.end, pattern, who=who)
        if not ended:
            return ActionOutcome(False, f"no active silence matches {pattern}")
        return ActionOutcome(True, "ended: " + ", ".join(
            f"{s.pattern} ({s.reason})" for s in ended))

    return ActionSpec("unsilence", pattern, f"Unsilence {pattern}",
                      f"{pattern} notifies and counts again", run)
