"""Flapping: how many times each unit restarted (NRestarts growth) within a time window.

Samples of NRestarts are kept in the console's state file, so a check run from cron every
few minutes sees growth across runs just as the full-screen console does across polls.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from console import statedb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS systemd_restarts (
    backend TEXT NOT NULL, unit TEXT NOT NULL, ts REAL NOT NULL, restarts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS systemd_restarts_unit ON systemd_restarts (backend, unit, ts);
"""


def restarts_in(samples: list[tuple[float, int]]) -> int:
    """Restarts seen across time-ordered (ts, NRestarts) samples.

    A manual start resets NRestarts to 0, so a drop counts only what came after it.
    """
    total = 0
    for (_, before), (_, after) in itertools.pairwise(samples):
        total += after - before if after >= before else after
    return total


class RestartHistory:
    """NRestarts samples of one backend's units, and their growth within `window` seconds."""

    def __init__(self, state_dir: Path, backend_id: str, window: float) -> None:
        self.state_dir = state_dir
        self.backend_id = backend_id
        self.window = window
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        connection = statedb.connect(self.state_dir)
        if not self._ready:
            connection.executescript(_SCHEMA)
            self._ready = True
        return connection

    def record(self, counts: Mapping[str, int], now: float) -> dict[str, int]:
        """Store this poll's counts; return restarts per unit within the window up to now.

        Only changes are stored; the last sample before the window is the baseline.
        Blocking (SQLite): call it from a thread.
        """
        start = now - self.window
        connection = self._connect()
        try:
            with connection:
                last = dict(connection.execute(
                    "SELECT unit, restarts FROM systemd_restarts AS s WHERE backend = ? AND "
                    "ts = (SELECT MAX(ts) FROM systemd_restarts WHERE backend = s.backend "
                    "AND unit = s.unit)", (self.backend_id,)).fetchall())
                connection.executemany(
                    "INSERT INTO systemd_restarts (backend, unit, ts, restarts) VALUES (?,?,?,?)",
                    [(self.backend_id, unit, now, count) for unit, count in counts.items()
                     if last.get(unit) != count])
                connection.execute("DELETE FROM systemd_restarts WHERE backend = ? AND ts < ?",
                                   (self.backend_id, start - 10 * self.window))
            rows = connection.execute(
                "SELECT unit, ts, restarts FROM systemd_restarts AS s WHERE backend = ? AND "
                "(ts >= ? OR ts = (SELECT MAX(ts) FROM systemd_restarts WHERE backend = s.backend"
                " AND unit = s.unit AND ts < ?)) ORDER BY unit, ts",
                (self.backend_id, start, start)).fetchall()
        finally:
            connection.close()
        series: dict[str, list[tuple[float, int]]] = {}
        for unit, ts, restarts in rows:
            series.setdefault(unit, []).append((ts, restarts))
        return {unit: restarts_in(series.get(unit, [])) for unit in counts}
