"""The console's own SQLite state file (audit log, history, remembered records)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def state_file(state_dir: Path) -> Path:
    """The state database path, creating its private directory when needed."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return state_dir / "state.db"


def connect(state_dir: Path) -> sqlite3.Connection:
    """A short-lived connection; callers use `with` blocks and close it."""
    path = state_file(state_dir)
    fresh = not path.exists()
    connection = sqlite3.connect(path, timeout=15, isolation_level=None)
    if fresh:
        os.chmod(path, 0o600)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=15000")
    return connection
