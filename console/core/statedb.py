"""The console's own SQLite state file (audit log, history, remembered records)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from console.core.files import check_state_dir, open_private


def state_file(state_dir: Path) -> Path:
    """The state database path, in a checked private directory (created when needed)."""
    return check_state_dir(state_dir) / "state.db"


def connect(state_dir: Path, *schema: str, shared: bool = False) -> sqlite3.Connection:
    """A short-lived connection, with each `schema` statement run (CREATE ... IF NOT EXISTS);
    callers use `with` blocks and close it. `shared`: usable from any thread (one at a time).

    The file is created (or opened) 0600 without following a symlink before SQLite opens
    it, so a link planted in its place is refused rather than written through.
    """
    path = state_file(state_dir)
    os.close(open_private(path, os.O_RDWR))
    connection = sqlite3.connect(path, timeout=15, isolation_level=None,
                                 check_same_thread=not shared)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=15000")
    for statement in schema:
        connection.execute(statement)
    return connection


class SharedConnection:
    """One connection to the state file, kept open for a store that is read or written on
    every poll (opening one costs about a millisecond); the threads using it take turns.
    A connection that failed is closed, and the next use opens a new one."""

    def __init__(self, state_dir: Path, *schema: str) -> None:
        self.state_dir = state_dir
        self.schema = schema
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    @contextlib.contextmanager
    def use(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._connection is None:
                self._connection = connect(self.state_dir, *self.schema, shared=True)
            try:
                yield self._connection
            except sqlite3.Error:
                self._close()
                raise

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
