"""Scratch databases a stopped restore left behind are reported by `check`, with their names
and age, until someone drops them; those of a restore still at work, of another database and
the originals a swap kept are not."""

from __future__ import annotations

import asyncio
import time

import psycopg
from psycopg import sql

from backends.postgres.backend import PostgresBackend
from backends.postgres.scratch import GRACE, KEPT, RESTORE, left_behind, scratch_name
from backends.postgres.snapshot import PostgresSnapshot
from console.core.model import CheckResult, Status
from tests import test_postgres_support as support
from tests.test_postgres_support import admin_dsn, make_backend

pg_db = support.pg_db


def test_scratch_names_are_read_back_for_their_own_database_only() -> None:
    now = 1_800_000_000.0
    long_name = "d" * 70
    names = {
        "old": scratch_name("shop", RESTORE, now - 3600),
        "young": scratch_name("shop", RESTORE, now - GRACE + 5),
        "busy": scratch_name("shop", RESTORE, now - 7200),
        "kept": scratch_name("shop", KEPT, now - 3600),
        "other": scratch_name("shop_eu", RESTORE, now - 3600),
        "long": scratch_name(long_name, RESTORE, now - GRACE),
    }
    assert len(names["long"]) == 63
    candidates = tuple((name, key == "busy") for key, name in names.items())
    assert left_behind("shop", candidates, now) == [(names["old"], now - 3600)]
    assert left_behind(long_name, candidates, now) == [(names["long"], now - GRACE)]
    assert left_behind("shop_eu", candidates, now) == [(names["other"], now - 3600)]
    assert left_behind("sho", candidates, now) == []
    # an hour older: the busy one is still being worked on, the young one is now old enough
    assert [n for n, _ in left_behind("shop", candidates, now + GRACE)] == [
        names["old"], names["young"]]


def _leftovers(backend: PostgresBackend, snapshot: PostgresSnapshot) -> list[CheckResult]:
    return [c for c in backend.evaluate(snapshot) if c.check == "restore leftovers"]


async def test_check_names_the_scratch_databases_a_stopped_restore_left(pg_db: str) -> None:
    server, database = pg_db.rsplit("/", 1)
    now = time.time()
    stopped = scratch_name(database, RESTORE, now - 5400)
    at_work = scratch_name(database, RESTORE, now - 4000)
    started = scratch_name(database, RESTORE, now)
    kept = scratch_name(database, KEPT, now - 5400)
    with psycopg.connect(admin_dsn(pg_db), autocommit=True) as admin:
        for name in (stopped, at_work, started, kept):
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    backend = make_backend(pg_db)
    proving = psycopg.connect(f"{server}/{at_work}")  # a restore proving its copy
    try:
        [leftovers] = _leftovers(backend, await backend.collect())
        assert leftovers.status is Status.WARNING
        assert leftovers.summary == (
            f"1 scratch database left by a stopped or failed restore (1h 30m ago): {stopped}; "
            "look inside if its proof failed, then DROP DATABASE")
        proving.close()  # that restore was killed
        found: list[CheckResult] = []
        for _ in range(100):  # until the server has ended its session
            found = _leftovers(backend, await backend.collect())
            if len(found) == 1 and at_work in found[0].summary:
                break
            await asyncio.sleep(0.1)
        assert [c.summary for c in found] == [
            f"2 scratch databases left by a stopped or failed restore (oldest 1h 30m ago): "
            f"{stopped}, {at_work}; look inside if its proof failed, then DROP DATABASE"]
        with psycopg.connect(admin_dsn(pg_db), autocommit=True) as admin:
            for name in (stopped, at_work):
                admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
        assert _leftovers(backend, await backend.collect()) == []
    finally:
        proving.close()
        await backend.close()
