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
    """CREATE TABLE IF NOT EXISTS perf_series (
        id INTEGER PRIMARY KEY, target TEXT NOT NULL, label TEXT NOT NULL,
        UNIQUE (target, label))""",
    """CREATE TABLE IF NOT EXISTS perf_points (
        series INTEGER NOT NULL, step INTEGER NOT NULL, bucket INTEGER NOT NULL,
        total REAL NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (series, step, bucket)) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS perf_meta (key TEXT PRIMARY KEY, value REAL NOT NULL)",
)
_SWEEP_EVERY = 3600.0  # series no run writes any more are swept this often


class PerfHistory:
    """Writes and reads the downsampled perfdata of every target."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._written: dict[str, int] = {}  # backend id -> the minute last written

    def _connect(self) -> sqlite3.Connection:
        return statedb.connect(self.state_dir, *_SCHEMA)

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
                series = self._series_id(connection, target, label)
                fresh = connection.execute(
                    "INSERT OR IGNORE INTO perf_points VALUES (?, ?, ?, ?, 1)",
                    (series, FINE, minute, value)).rowcount
                if fresh:  # another run already wrote this minute: the mean counts it once
                    connection.execute(
                        "INSERT INTO perf_points VALUES (?, ?, ?, ?, 1) ON CONFLICT DO "
                        "UPDATE SET total = total + excluded.total, count = count + 1",
                        (series, COARSE, int(ts // COARSE), value))
                for step, keep in KEEP.items():  # the series' oldest points: a range of its key
                    connection.execute(
                        "DELETE FROM perf_points WHERE series = ? AND step = ? AND bucket < ?",
                        (series, step, int((ts - keep) // step)))
            self._sweep(connection, ts)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        return len(values)

    @staticmethod
    def _series_id(connection: sqlite3.Connection, target: str, label: str) -> int:
        connection.execute("INSERT OR IGNORE INTO perf_series (target, label) VALUES (?, ?)",
                           (target, label))
        row = connection.execute("SELECT id FROM perf_series WHERE target = ? AND label = ?",
                                 (target, label)).fetchone()
        return int(row[0])

    @staticmethod
    def _sweep(connection: sqlite3.Connection, ts: float) -> None:
        """Now and then, drop the points past their keep of every series (those of targets
        no longer configured too) and the series left without points."""
        row = connection.execute("SELECT value FROM perf_meta WHERE key = 'swept'").fetchone()
        if row is not None and ts - row[0] < _SWEEP_EVERY:
            return
        for step, keep in KEEP.items():
            connection.execute("DELETE FROM perf_points WHERE step = ? AND bucket < ?",
                               (step, int((ts - keep) // step)))
        connection.execute("DELETE FROM perf_series WHERE id NOT IN "
                           "(SELECT DISTINCT series FROM perf_points)")
        connection.execute("INSERT OR REPLACE INTO perf_meta VALUES ('swept', ?)", (ts,))

    def series(self, target: str, since: float,
               until: float | None = None) -> dict[str, list[tuple[float, float]]]:
        """Each perfdata label of a target: (time, value) oldest first, minutes for spans up
        to a day back, ten-minute means beyond."""
        until = time.time() if until is None else until
        step = FINE if until - since <= KEEP[FINE] else COARSE
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT s.label, p.bucket, p.total / p.count FROM perf_series s JOIN perf_points "
                "p ON p.series = s.id WHERE s.target = ? AND p.step = ? AND p.bucket BETWEEN ? "
                "AND ? ORDER BY s.label, p.bucket",
                (target, step, int(since // step), int(until // step))).fetchall()
        finally:
            connection.close()
        found: dict[str, list[tuple[float, float]]] = {}
        for label, bucket, value in rows:
            found.setdefault(label, []).append((float(bucket * step), float(value)))
        return found
