"""Status transitions per target, recorded in the state database by every check run.

Each target's status is the worst of its checks. The first time a target is seen, or when
its status differs from the one last recorded (by any run: the TUI or a cron job), a
transition (from, to, when, the summary then) is written; transitions older than the
retention are dropped on the way. Notifications, silences and the flap count read them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from console.core import statedb
from console.core.model import CheckResult, Status, worst

DEFAULT_RETENTION = 30 * 86400.0
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS target_state (
        target TEXT PRIMARY KEY, status INTEGER NOT NULL, since REAL NOT NULL,
        summary TEXT NOT NULL, seen REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL,
        from_status INTEGER, to_status INTEGER NOT NULL, ts REAL NOT NULL,
        summary TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS transitions_target_ts ON transitions (target, ts)",
)


@dataclass(frozen=True)
class Transition:
    """One change of a target's status (`before` is None the first time it is seen)."""

    target: str
    before: Status | None
    after: Status
    ts: float
    summary: str


@dataclass(frozen=True)
class TargetState:
    """A target's status as last recorded, and since when it has had it."""

    target: str
    status: Status
    since: float
    summary: str
    seen: float


def target_statuses(checks: Iterable[CheckResult]) -> dict[str, tuple[Status, str]]:
    """Each target's worst status and the summary of the check that decided it."""
    grouped: dict[str, list[CheckResult]] = {}
    for check in checks:
        grouped.setdefault(check.target, []).append(check)
    found: dict[str, tuple[Status, str]] = {}
    for target, own in grouped.items():
        status = worst([c.status for c in own])
        deciding = next(c for c in own if c.status is status)
        label = f"{deciding.check}: " if deciding.check else ""
        found[target] = (status, label + deciding.summary)
    return found


class TransitionLog:
    """Reads and writes target states and transitions in the state database."""

    # How often a long-running console refreshes `seen` and the summary of targets whose
    # status did not change (a cron run writes them every run).
    SEEN_EVERY = 300.0

    def __init__(self, state_dir: Path, retention: float = DEFAULT_RETENTION) -> None:
        self.state_dir = state_dir
        self.retention = retention
        # What this process last recorded: a poll that changes no status needs no database
        # (another process may have written since; a differing status reads the database).
        self._known: dict[str, Status] = {}
        self._written = 0.0

    def _connect(self) -> sqlite3.Connection:
        return statedb.connect(self.state_dir, *_SCHEMA)

    def record(self, checks: Iterable[CheckResult], now: float | None = None) -> list[Transition]:
        """Compare the checks with the recorded states; write and return what changed."""
        now = time.time() if now is None else now
        statuses = target_statuses(checks)
        if not statuses:
            return []
        if all(self._known.get(t) is s for t, (s, _) in statuses.items()) \
                and now - self._written < self.SEEN_EVERY:
            return []
        changed: list[Transition] = []
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            for target, (status, summary) in sorted(statuses.items()):
                row = connection.execute("SELECT status FROM target_state WHERE target = ?",
                                         (target,)).fetchone()
                before = Status(row[0]) if row else None
                if before is status:
                    connection.execute("UPDATE target_state SET seen = ?, summary = ? "
                                       "WHERE target = ?", (now, summary, target))
                    continue
                connection.execute(
                    "INSERT OR REPLACE INTO target_state (target, status, since, summary, seen) "
                    "VALUES (?, ?, ?, ?, ?)", (target, int(status), now, summary, now))
                connection.execute(
                    "INSERT INTO transitions (target, from_status, to_status, ts, summary) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (target, None if before is None else int(before), int(status), now, summary))
                changed.append(Transition(target, before, status, now, summary))
            connection.execute("DELETE FROM transitions WHERE ts < ?", (now - self.retention,))
            connection.execute("COMMIT")
            self._known.update((t, s) for t, (s, _) in statuses.items())
            self._written = now
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        return changed

    def states(self) -> dict[str, TargetState]:
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT target, status, since, summary, seen FROM target_state").fetchall()
        finally:
            connection.close()
        return {r[0]: TargetState(r[0], Status(r[1]), r[2], r[3], r[4]) for r in rows}

    def history(self, target: str | None = None, since: float | None = None) -> list[Transition]:
        """Transitions oldest first, of one target or all, optionally only newer than `since`."""
        query = "SELECT target, from_status, to_status, ts, summary FROM transitions WHERE 1=1"
        args: list[object] = []
        if target is not None:
            query += " AND target = ?"
            args.append(target)
        if since is not None:
            query += " AND ts >= ?"
            args.append(since)
        connection = self._connect()
        try:
            rows = connection.execute(query + " ORDER BY id", args).fetchall()
        finally:
            connection.close()
        return [Transition(r[0], None if r[1] is None else Status(r[1]), Status(r[2]), r[3], r[4])
                for r in rows]

    def between(self, since: float, until: float, limit: int) -> list[Transition]:
        """Transitions of every target between `since` and `until`, the newest `limit`,
        oldest first."""
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT target, from_status, to_status, ts, summary FROM transitions "
                "WHERE ts BETWEEN ? AND ? ORDER BY id DESC LIMIT ?",
                (since, until, limit)).fetchall()
        finally:
            connection.close()
        return [Transition(r[0], None if r[1] is None else Status(r[1]), Status(r[2]), r[3], r[4])
                for r in reversed(rows)]

    def states_at(self, until: float) -> dict[str, Transition]:
        """Each target's last transition at or before `until`: its status then."""
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT t.target, t.from_status, t.to_status, t.ts, t.summary FROM transitions t "
                "JOIN (SELECT MAX(id) AS id FROM transitions WHERE ts <= ? GROUP BY target) m "
                "ON t.id = m.id ORDER BY t.target", (until,)).fetchall()
        finally:
            connection.close()
        return {r[0]: Transition(r[0], None if r[1] is None else Status(r[1]), Status(r[2]),
                                 r[3], r[4]) for r in rows}

    def changes_since(self, target: str, since: float) -> int:
        """How many times a target changed status since `since` (its first sighting aside)."""
        connection = self._connect()
        try:
            row = connection.execute(
                "SELECT COUNT(*) FROM transitions WHERE target = ? AND ts >= ? "
                "AND from_status IS NOT NULL", (target, since)).fetchone()
        finally:
            connection.close()
        return int(row[0])
