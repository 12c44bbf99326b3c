"""Where each watched log file was left: position and window, kept in the state file.

A cron run of the headless check continues from the previous run's offset instead of
reading the file again.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from backends.logs.tailer import Position
from console.core import statedb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_positions (
    log TEXT NOT NULL, path TEXT NOT NULL, dev INTEGER NOT NULL, inode INTEGER NOT NULL,
    offset INTEGER NOT NULL, window TEXT NOT NULL, saved_at REAL NOT NULL,
    PRIMARY KEY (log, path))
"""


class PositionStore:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _connect(self) -> sqlite3.Connection:
        return statedb.connect(self.state_dir, _SCHEMA)

    def load(self, log: str) -> dict[str, tuple[Position, str]]:
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT path, dev, inode, offset, window FROM log_positions WHERE log = ?",
                (log,)).fetchall()
        finally:
            connection.close()
        return {path: (Position(dev, inode, offset), window)
                for path, dev, inode, offset, window in rows}

    def save(self, log: str, states: dict[str, tuple[Position, str]], now: float) -> None:
        connection = self._connect()
        try:
            with connection:
                for path, (position, window) in states.items():
                    connection.execute(
                        "INSERT OR REPLACE INTO log_positions VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (log, path, position.dev, position.inode, position.offset, window, now))
        finally:
            connection.close()
