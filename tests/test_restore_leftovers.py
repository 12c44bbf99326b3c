"""Scratch databases restores left behind are reported by `check`, with their names, age and
what they are, until someone drops them; those of a restore still at work, of another
database and the originals a swap kept are not, and a test-restore's copy only after a day."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from backends.postgres.backend import PostgresBackend
from backends.postgres.scratch import (
    GRACE,
    KEPT,
    PROOF_FAILED,
    RESTORE,
    TESTED,
    TESTED_GRACE,
    left_behind,
    scratch_name,
)
from backends.postgres.snapshot import PostgresSnapshot
from console.core.actions import ActionOutcome, SupportsProgress
from console.core.errors import ActionFailed
from console.core.model import CheckResult, Status
from tests import test_postgres_support as support
from tests.test_postgres_support import admin_dsn, fill, make_backend

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
    stopped = "restore stopped or failed"
    candidates = tuple((name, key == "busy", "") for key, name in names.items())
    assert left_behind("shop", candidates, now) == [(names["old"], now - 3600, stopped)]
    assert left_behind(long_name, candidates, now) == [(names["long"], now - GRACE, stopped)]
    assert left_behind("shop_eu", candidates, now) == [(names["other"], now - 3600, stopped)]
    assert left_behind("sho", candidates, now) == []
    # an hour older: the busy one is still being worked on, the young one is now old enough
    assert [n for n, _, _ in left_behind("shop", candidates, now + GRACE)] == [
        names["old"], names["young"]]


def test_a_copy_kept_on_purpose_says_why_and_a_test_copy_waits_a_day() -> None:
    now = 1_800_000_000.0
    tested = scratch_name("shop", RESTORE, now - 3600)
    failed = scratch_name("shop", RESTORE, now - 7200)
    odd = scratch_name("shop", RESTORE, now - 5400)
    candidates = ((tested, False, TESTED), (failed, False, PROOF_FAILED),
                  (odd, False, "someone's own note"))
    assert left_behind("shop", candidates, now) == [
        (failed, now - 7200, "failed its proof"), (odd, now - 5400, "restore stopped or failed")]
    day = 24 * 3600  # as README says: a test copy counts once it is a day old
    assert left_behind("shop", candidates, now - 3600 + day - 1)[2:] == []
    assert left_behind("shop", candidates, now - 3600 + day)[2:] == [
        (tested, now - 3600, "a test-restore's copy")]


def test_an_unexplained_scratch_database_counts_after_ten_minutes() -> None:
    now = 1_800_000_000.0
    made = now - 3600
    candidates = ((scratch_name("shop", RESTORE, made), False, ""),)
    assert left_behind("shop", candidates, made + 599) == []
    assert [what for _, _, what in left_behind("shop", candidates, made + 600)] == [
        "restore stopped or failed"]


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
            f"1 scratch database left by a restore (1h 30m ago): {stopped} (restore stopped or "
            "failed); look inside, then DROP DATABASE")
        proving.close()  # that restore was killed
        found: list[CheckResult] = []
        for _ in range(100):  # until the server has ended its session
            found = _leftovers(backend, await backend.collect())
            if len(found) == 1 and at_work in found[0].summary:
                break
            await asyncio.sleep(0.1)
        assert [c.summary for c in found] == [
            f"2 scratch databases left by restores (oldest 1h 30m ago): {stopped} (restore "
            f"stopped or failed), {at_work} (restore stopped or failed); look inside, then "
            "DROP DATABASE"]
        with psycopg.connect(admin_dsn(pg_db), autocommit=True) as admin:
            for name in (stopped, at_work):
                admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
        assert _leftovers(backend, await backend.collect()) == []
    finally:
        proving.close()
        await backend.close()


async def _act(backend: PostgresBackend, verb: str) -> ActionOutcome:
    spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == verb)
    return await spec.run(SupportsProgress())


def _scratch_of(snapshot: PostgresSnapshot, database: str) -> list[tuple[str, bool, str]]:
    """`database`'s own scratch copies (other tests' databases have theirs)."""
    return [row for row in snapshot.scratch if row[0].startswith(f"{database}_{RESTORE}_")]


async def test_a_test_restore_marks_its_copy_and_is_reminded_of_after_a_day(
        pg_db: str, tmp_path: Path) -> None:
    fill(pg_db, rows=50)
    database = pg_db.rsplit("/", 1)[1]
    backend = make_backend(pg_db, backup={"dir": str(tmp_path / "bk")})
    try:
        assert (await _act(backend, "backup")).ok
        outcome = await _act(backend, "restore-test")
        assert outcome.ok and "check reminds you after a day" in outcome.message, outcome
        snapshot = await backend.collect()
        [(scratch, _, comment)] = _scratch_of(snapshot, database)
        assert comment == TESTED and scratch in outcome.message
        assert _leftovers(backend, snapshot) == []
        assert left_behind(database, snapshot.scratch, snapshot.collected_at + GRACE) == []
        [(name, _, what)] = left_behind(database, snapshot.scratch,
                                        snapshot.collected_at + TESTED_GRACE)
        assert (name, what) == (scratch, "a test-restore's copy")
    finally:
        await backend.close()


async def test_a_restore_whose_proof_fails_keeps_the_original_and_marks_the_copy(
        pg_db: str, tmp_path: Path) -> None:
    """The backup's manifest says one row more than the archive holds: the restored copy
    cannot be proven, so it is not swapped in; it stays, marked, for someone to look at."""
    fill(pg_db, rows=50)
    database = pg_db.rsplit("/", 1)[1]
    backend = make_backend(pg_db, backup={"dir": str(tmp_path / "bk")})
    try:
        assert (await _act(backend, "backup")).ok
        [manifest_path] = (tmp_path / "bk").glob("*.dump.json")
        manifest = json.loads(manifest_path.read_text())
        manifest["tables"]["public.items"]["rows"] += 1
        manifest_path.write_text(json.dumps(manifest))
        with psycopg.connect(pg_db, autocommit=True) as conn:
            conn.execute("DELETE FROM items WHERE id > 10")  # the damage a restore would undo
        with pytest.raises(ActionFailed) as failure:
            await _act(backend, "restore")
        snapshot = await backend.collect()
        [(scratch, _, comment)] = _scratch_of(snapshot, database)
        assert str(failure.value).startswith(
            "restored copy does not match the backup's manifest in 1 table(s) (public.items")
        assert str(failure.value).endswith(
            f"left in {scratch} for inspection, the original was not touched")
        assert comment == PROOF_FAILED
        with psycopg.connect(pg_db) as conn:
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (10,)
        [(name, _, what)] = left_behind(database, snapshot.scratch,
                                        snapshot.collected_at + GRACE)
        assert (name, what) == (scratch, "failed its proof")
    finally:
        await backend.close()
