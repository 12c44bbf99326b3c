"""Helpers for the PostgreSQL tests: own databases on the shared server, configs, backends.

Holds no tests itself; the test modules import its fixtures.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from backends.postgres.backend import PostgresBackend
from backends.postgres.config import parse
from console.core.actions import SupportsProgress
from console.core.configtable import Table
from console.core.errors import ActionFailed
from console.core.secrets import Redactor


def admin_dsn(dsn: str, dbname: str = "postgres") -> str:
    return dsn.rsplit("/", 1)[0] + f"/{dbname}"


def create_database(server_dsn: str, prefix: str = "opsc_t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn(server_dsn), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_databases(server_dsn: str, prefix: str) -> None:
    """Drop `prefix` and every scratch or renamed copy a restore made of it."""
    with psycopg.connect(admin_dsn(server_dsn), autocommit=True, connect_timeout=5) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
            (prefix, prefix[:40] + "\\_%")).fetchall()]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_db(shared_pg_dsn: str) -> Iterator[str]:
    """A fresh database of our own on the shared server; its DSN. Dropped afterwards."""
    name = create_database(shared_pg_dsn)
    try:
        yield admin_dsn(shared_pg_dsn, name)
    finally:
        drop_databases(shared_pg_dsn, name)


def fill(dsn: str, rows: int = 2000) -> None:
    """Known content: a table with an index nobody uses, and a small second table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, label text, price numeric)")
        conn.execute("INSERT INTO items SELECT g, 'item ' || g, g * 1.5 "
                     "FROM generate_series(1, %s) g", (rows,))
        conn.execute("CREATE INDEX items_label_idx ON items (label)")
        conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes (body) SELECT md5(g::text) FROM generate_series(1, 50) g")
        conn.execute("ANALYZE")


def fill_random(dsn: str) -> None:
    """About 640 kB of bytes that do not compress, in table `blob`."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE blob (b bytea)")
        conn.execute("INSERT INTO blob SELECT decode(string_agg(md5(random()::text), ''), 'hex') "
                     "FROM generate_series(1, 40000)")


async def failed_backup(dsn: str, directory: Path) -> ActionFailed:
    """The failure of one backup action into `directory` (the test fails if it works)."""
    backend = make_backend(dsn, backup={"dir": str(directory)})
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        with pytest.raises(ActionFailed) as failure:
            await spec.run(SupportsProgress())
    finally:
        await backend.close()
    return failure.value


def open_descriptors() -> dict[int, str]:
    """This process's file descriptors and what they point at: a path (a deleted file's
    too), pipe:[N], socket:[N]..."""
    held = {}
    listing = f"/proc/{os.getpid()}/fd"  # the descriptor that reads this very listing
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target != listing:
                held[int(fd)] = target
    return held


def open_files() -> list[str]:
    return list(open_descriptors().values())


def open_under(directory: Path) -> list[str]:
    """Files under `directory` this process still holds open (a deleted one too)."""
    return [target for target in open_files() if target.startswith(f"{directory}/")]


def open_pipes() -> set[str]:
    return {target for target in open_files() if target.startswith("pipe:")}


def make_config(dsn: str, extra: str = "", name: str = "main",
                backup_dir: Path | None = None) -> str:
    """A config file's text with one [[postgres]] entry."""
    text = f'[[postgres]]\nname = "{name}"\ndsn = "{dsn}"\n{extra}\n'
    if backup_dir is not None:
        text += f'backup = {{ dir = "{backup_dir}", keep_days = 30, keep_min = 2 }}\n'
    return text


def make_backend(dsn: str, **entry: object) -> PostgresBackend:
    data: dict[str, object] = {"name": "main", "dsn": dsn, **entry}
    return PostgresBackend(parse(Table(data, "[[postgres]] #1", "config.toml", Redactor())))


WriteConfig = Callable[..., Path]
Env = dict[str, str]
