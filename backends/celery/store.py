"""Failed tasks kept in the console's SQLite state, so they outlive the console and the broker.

One row per (app, task id). Exact arguments (JSON from the result backend) win over the
events' repr strings; a retry records when it happened and the new task's id and state.
Rows older than the retention, or beyond the row limit, are dropped.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.celery.snapshot import FailedTask
from console.core.statedb import SharedConnection

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS celery_failed (
    app TEXT NOT NULL,
    task_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    failed_at REAL NOT NULL,
    exception TEXT NOT NULL DEFAULT '',
    traceback TEXT NOT NULL DEFAULT '',
    args_json TEXT,
    kwargs_json TEXT,
    args_repr TEXT NOT NULL DEFAULT '',
    kwargs_repr TEXT NOT NULL DEFAULT '',
    worker TEXT NOT NULL DEFAULT '',
    queue TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    retried_at REAL,
    retry_task_id TEXT,
    retry_state TEXT,
    PRIMARY KEY (app, task_id)
)""",
    "CREATE INDEX IF NOT EXISTS celery_failed_time ON celery_failed (app, failed_at)",
    "CREATE INDEX IF NOT EXISTS celery_failed_retry ON celery_failed (app, retry_task_id)",
)

FINAL_STATES = ("SUCCESS", "FAILURE", "REVOKED")
_REPR_LIMIT = 1000  # celery cuts event args at 1024 characters; treat anything near it as cut


@dataclass(frozen=True)
class Failure:
    """One failure as a source reports it (the result backend or the events stream)."""

    task_id: str
    name: str
    failed_at: float
    exception: str
    traceback: str
    worker: str = ""
    queue: str = ""
    source: str = ""
    args: list[Any] | None = None       # exact, from the result backend
    kwargs: dict[str, Any] | None = None
    args_repr: str = ""                 # from events: a repr, maybe cut
    kwargs_repr: str = ""


class FailedStore:
    """Reads and writes the `celery_*` tables for one configured app."""

    def __init__(self, state_dir: Path, app: str, retention: float, max_rows: int) -> None:
        self.state_dir = state_dir
        self.app = app
        self.retention = retention
        self.max_rows = max_rows
        self._db = SharedConnection(state_dir, *SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record(self, failures: Iterable[Failure]) -> int:
        """Insert or complete failures; returns how many rows were new."""
        rows = list(failures)
        if not rows:
            return 0
        with self._db.use() as connection:
            before = connection.total_changes
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                for f in rows:
                    connection.execute(
                        "INSERT OR IGNORE INTO celery_failed (app, task_id, name, failed_at, "
                        "exception, traceback, worker, queue, source) VALUES (?,?,?,?,?,?,?,?,?)",
                        (self.app, f.task_id, f.name, f.failed_at, f.exception, f.traceback,
                         f.worker, f.queue, f.source))
                new = connection.total_changes - before
                for f in rows:
                    self._complete(connection, f)
            return new

    def _complete(self, connection: sqlite3.Connection, f: Failure) -> None:
        """Fill what an earlier source did not know; exact arguments replace reprs."""
        key = (self.app, f.task_id)
        connection.execute(
            "UPDATE celery_failed SET name = CASE WHEN name = '' THEN ? ELSE name END, "
            "exception = CASE WHEN exception = '' THEN ? ELSE exception END, "
            "traceback = CASE WHEN traceback = '' THEN ? ELSE traceback END, "
            "worker = CASE WHEN worker = '' THEN ? ELSE worker END, "
            "queue = CASE WHEN queue = '' THEN ? ELSE queue END "
            "WHERE app = ? AND task_id = ?",
            (f.name, f.exception, f.traceback, f.worker, f.queue, *key))
        if f.args is not None or f.kwargs is not None:
            connection.execute(
                "UPDATE celery_failed SET args_json = ?, kwargs_json = ?, "
                "source = CASE WHEN source = 'events' THEN 'events+results' ELSE source END "
                "WHERE app = ? AND task_id = ?",
                (json.dumps(f.args or []), json.dumps(f.kwargs or {}), *key))
        if f.args_repr or f.kwargs_repr:
            connection.execute(
                "UPDATE celery_failed SET args_repr = ?, kwargs_repr = ? "
                "WHERE app = ? AND task_id = ? AND args_repr = '' AND kwargs_repr = ''",
                (f.args_repr, f.kwargs_repr, *key))

    def mark_retried(self, task_id: str, new_task_id: str, when: float | None = None) -> None:
        with self._db.use() as connection:
            with connection:
                connection.execute(
                    "UPDATE celery_failed SET retried_at = ?, retry_task_id = ?, "
                    "retry_state = 'PENDING' WHERE app = ? AND task_id = ?",
                    (when or time.time(), new_task_id, self.app, task_id))

    def set_retry_states(self, states: dict[str, str]) -> None:
        """Record what became of re-sent tasks, keyed by the new task id."""
        if not states:
            return
        with self._db.use() as connection:
            with connection:
                connection.executemany(
                    "UPDATE celery_failed SET retry_state = ? WHERE app = ? AND retry_task_id = ?",
                    [(state, self.app, new_id) for new_id, state in states.items()])

    def pending_retries(self) -> list[str]:
        """New task ids of retries whose outcome is not known yet."""
        with self._db.use() as connection:
            placeholders = ",".join("?" for _ in FINAL_STATES)
            rows = connection.execute(
                f"SELECT retry_task_id FROM celery_failed WHERE app = ? AND retry_task_id "
                f"IS NOT NULL AND (retry_state IS NULL OR retry_state NOT IN ({placeholders}))",
                (self.app, *FINAL_STATES)).fetchall()
        return [row[0] for row in rows]

    def prune(self, now: float | None = None) -> int:
        """Drop rows past the retention and beyond the row limit; returns how many went."""
        cutoff = (now or time.time()) - self.retention
        with self._db.use() as connection:
            with connection:
                gone = connection.execute(
                    "DELETE FROM celery_failed WHERE app = ? AND failed_at < ?",
                    (self.app, cutoff)).rowcount
                gone += connection.execute(
                    "DELETE FROM celery_failed WHERE app = ? AND task_id IN (SELECT task_id "
                    "FROM celery_failed WHERE app = ? ORDER BY failed_at DESC LIMIT -1 OFFSET ?)",
                    (self.app, self.app, self.max_rows)).rowcount
            return gone

    def count_since(self, since: float) -> int:
        with self._db.use() as connection:
            row = connection.execute(
                "SELECT count(*) FROM celery_failed WHERE app = ? AND failed_at >= ?",
                (self.app, since)).fetchone()
        return int(row[0])

    def between(self, since: float, until: float, limit: int) -> list[FailedTask]:
        """Failures between `since` and `until`, the newest `limit`, oldest first."""
        with self._db.use() as connection:
            rows = connection.execute(
                "SELECT task_id, name, failed_at, exception, traceback, args_json, kwargs_json, "
                "args_repr, kwargs_repr, worker, queue, source, retried_at, retry_task_id, "
                "retry_state FROM celery_failed WHERE app = ? AND failed_at BETWEEN ? AND ? "
                "ORDER BY failed_at DESC LIMIT ?", (self.app, since, until, limit)).fetchall()
        return [_failed_task(row) for row in reversed(rows)]

    def recent(self, limit: int = 500) -> list[FailedTask]:
        with self._db.use() as connection:
            rows = connection.execute(
                "SELECT task_id, name, failed_at, exception, traceback, args_json, kwargs_json, "
                "args_repr, kwargs_repr, worker, queue, source, retried_at, retry_task_id, "
                "retry_state FROM celery_failed WHERE app = ? ORDER BY failed_at DESC LIMIT ?",
                (self.app, limit)).fetchall()
        return [_failed_task(row) for row in rows]

    def get(self, task_id: str) -> FailedTask | None:
        with self._db.use() as connection:
            row = connection.execute(
                "SELECT task_id, name, failed_at, exception, traceback, args_json, kwargs_json, "
                "args_repr, kwargs_repr, worker, queue, source, retried_at, retry_task_id, "
                "retry_state FROM celery_failed WHERE app = ? AND task_id = ?",
                (self.app, task_id)).fetchone()
        return _failed_task(row) if row else None

    def exact_arguments(self, task_id: str) -> tuple[list[Any], dict[str, Any]] | None:
        """The JSON arguments kept from the result backend, or None when only reprs are known."""
        with self._db.use() as connection:
            row = connection.execute(
                "SELECT args_json, kwargs_json FROM celery_failed WHERE app = ? AND task_id = ?",
                (self.app, task_id)).fetchone()
        if row is None or row[0] is None:
            return None
        return list(json.loads(row[0])), dict(json.loads(row[1] or "{}"))


def _failed_task(row: tuple[Any, ...]) -> FailedTask:
    (task_id, name, failed_at, exception, traceback, args_json, kwargs_json, args_repr,
     kwargs_repr, worker, queue, source, retried_at, retry_task_id, retry_state) = row
    exact = args_json is not None
    if exact:
        args_text, kwargs_text = args_json, kwargs_json or "{}"
        why_not = "" if name else "the task's name is unknown"
    else:
        args_text, kwargs_text = args_repr, kwargs_repr
        cut = len(args_repr) >= _REPR_LIMIT or len(kwargs_repr) >= _REPR_LIMIT
        why_not = ("its arguments were cut at 1024 characters in the events stream"
                   if cut else
                   "its exact arguments are unknown: the result backend keeps no extended "
                   "results (set result_extended=True in the Celery app)")
    return FailedTask(task_id=task_id, name=name, failed_at=failed_at, exception=exception,
                      traceback=traceback, args=args_text, kwargs=kwargs_text,
                      resendable=exact and bool(name), why_not=why_not, worker=worker,
                      queue=queue, source=source, retried_at=retried_at,
                      retry_task_id=retry_task_id, retry_state=retry_state)
