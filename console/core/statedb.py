"""The console's own SQLite state file (audit log, history, remembered records)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from console.core.files import check_state_dir, open_private


def state_file(state_dir: Path) -> Path:
    """The state database path, in a checked private directory (created when needed)."""
    return check_state_dir(state_dir) / "state.db"


def connect(state_dir: Path, *schema: str) -> sqlite3.Connection:
    """A short-lived connection, with each `schema` statement run (CREATE ... IF NOT EXISTS);
    callers use `with` blocks and close it.

    The file is created (or opened) 0600 without following a symlink before SQLite opens
    it, so a link planted in its place is refused rather than written through.
    """
    path = state_file(state_dir)
    os.close(open_private(path, os.O_RDWR))
    connection = sqlite3.connect(path, timeout=15, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=15000")
    for statement in schema:
        connection.execute(statement)
    return connection
