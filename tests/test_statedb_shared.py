"""The state file's shared connection: kept open for stores used on every poll, safe from
several threads, and opened again after an error."""

from __future__ import annotations

import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from console.core.statedb import SharedConnection, state_file

SCHEMA = "CREATE TABLE IF NOT EXISTS seen (thread INTEGER, n INTEGER)"


def test_threads_take_turns_and_no_write_is_lost(tmp_path: Path) -> None:
    shared = SharedConnection(tmp_path / "state", SCHEMA)
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            for n in range(50):
                with shared.use() as connection:
                    connection.execute("INSERT INTO seen VALUES (?, ?)", (thread, n))
        except BaseException as exc:  # reported below, with the thread's own error
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with shared.use() as connection:
        rows = connection.execute("SELECT thread, count(*) FROM seen GROUP BY thread").fetchall()
    assert sorted(rows) == [(t, 50) for t in range(4)]
    shared.close()
    assert stat.S_IMODE(state_file(tmp_path / "state").stat().st_mode) == 0o600


def test_a_failed_statement_does_not_break_the_next_use(tmp_path: Path) -> None:
    shared = SharedConnection(tmp_path / "state", SCHEMA)
    with shared.use() as connection:
        first = connection
        connection.execute("INSERT INTO seen VALUES (1, 1)")
    with pytest.raises(sqlite3.OperationalError), shared.use() as connection:
        connection.execute("SELECT * FROM no_such_table")
    with shared.use() as connection:
        assert connection is not first  # opened again
        assert connection.execute("SELECT count(*) FROM seen").fetchone() == (1,)
    shared.close()
