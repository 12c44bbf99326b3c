"""Each target's perfdata over time, downsampled so the state database stays small.

Every run (TUI and cron) offers its poll results; the first value of each minute is kept
for a day, and the mean of each ten minutes for 30 days. A target with one perfdata value
holds at most 1,440 + 4,320 rows. Details charts read them back at the resolution their span
needs (an hour or a day: minutes; a month: ten-minute means).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from console.core import statedb
from console.core.model import CheckResult

FINE, COARSE = 60, 600  # seconds per point
KEEP = {FINE: 86400.0, COARSE: 30 * 86400.0}
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS perf_history (
        target TEXT NOT NULL, label TEXT NOT NULL, step INTEGER NOT NULL,
        bucket INTEGER NOT NULL, total REAL NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (target, label, step, bucket)) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS perf_history_age ON perf_history (step, bucket)",
)
_PRUNE_EVERY = 600.0


class PerfHistory:
    """Writes and reads the downsampled perfdata of every target."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._written: dict[str, int] = {}  # backend id -> the minute last written
        self._pruned = 0.0

    def _connect(self) -> sqlite3.Connection:
        connection = statedb.connect(self.state_dir)
        for statement in _SCHEMA:
            connection.execute(statement)
        return connection

    def due(self, backend_id: str, ts: float) -> bool:
        """Whether a poll of this backend at `ts` starts a minute not written yet (cheap: it
        runs on the event loop for every poll)."""
        return self._written.get(backend_id) != int(ts // FINE)

    def record(self, backend_id: str, checks: Iterable[CheckResult], ts: float) -> int:
        """Keep the checks' perfdata of this minute; returns how many values were written."""
        minute = int(ts // FINE)
        if self._written.get(backend_id) == minute:
            return 0
        self._written[backend_id] = minute
        values = {(c.target, p.label): p.value for c in checks for p in c.perfdata}
        if not values:
            return 0
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            for (target, label), value in values.items():
                fresh = connection.execute(
                    "INSERT OR IGNORE INTO perf_history VALUES (?, ?, ?, ?, ?, 1)",
                    (target, label, FINE, minute, value)).rowcount
                if fresh:  # another run already wrote this minute: the mean counts it once
                    connection.execute(
                        "INSERT INTO perf_history VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT DO "
                        "UPDATE SET total = total + excluded.total, count = count + 1",
                        (target, label, COARSE, int(ts // COARSE), value))
            if ts - self._pruned > _PRUNE_EVERY:
                self._pruned = ts
                for step, keep in KEEP.items():
                    connection.execute("DELETE FROM perf_history WHERE step = ? AND bucket < ?",
                                       (step, int((ts - keep) // step)))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        return len(values)

    def series(self, target: str, since: float,
               until: float | None = None) -> dict[str, list[tuple[float, float]]]:
        """Each perfdata label of a target: (time, value) oldest first, minutes for spans up
        to a day back, ten-minute means beyond."""
        until = time.time() if until is None else until
        step = FINE if until - since <= KEEP[FINE] else COARSE
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT label, bucket, total / count FROM perf_history WHERE target = ? AND "
                "step = ? AND bucket BETWEEN ? AND ? ORDER BY label, bucket",
                (target, step, int(since // step), int(until // step))).fetchall()
        finally:
            connection.close()
        found: dict[str, list[tuple[float, float]]] = {}
        for label, bucket, value in rows:
            found.setdefault(label, []).append((float(bucket * step), float(value)))
        return found
