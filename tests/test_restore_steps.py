"""A PostgreSQL restore as its user follows it: each step said in order, the tables whose
rows differ named, and the console's own sessions let go before the swap, so the first poll
after it reads the restored database cleanly."""

from __future__ import annotations

import gc
import json
import subprocess
import warnings
from pathlib import Path

import psycopg

from backends.postgres.backend import PostgresBackend
from backends.postgres.scratch import PROOF_FAILED, TESTED
from console.core.actions import ActionOutcome, SupportsProgress
from tests import test_postgres_support as support
from tests.conftest import OPSCONSOLE
from tests.test_postgres_support import Env, WriteConfig, fill, make_backend, make_config

pg_db = support.pg_db


class _Steps(SupportsProgress):
    """Every progress message, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def progress(self, done: float | None, total: float | None = None, message: str = "") -> None:
        super().progress(done, total, message)
        self.messages.append(message)


async def _act(backend: PostgresBackend, verb: str, steps: SupportsProgress,
               source: Path | None = None) -> ActionOutcome:
    options = {"from": str(source)} if source else {}
    spec = next(s for s in backend.actions(None, "postgres:main", options) if s.verb == verb)
    return await spec.run(steps)


async def test_a_restore_tells_its_steps_and_the_next_poll_is_clean(pg_db: str,
                                                                    tmp_path: Path) -> None:
    fill(pg_db, rows=50)
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("DROP TABLE notes")  # one table left: the outcome says "1 table"
    database = pg_db.rsplit("/", 1)[1]
    backend = make_backend(pg_db, backup={"dir": str(tmp_path / "bk")})
    try:
        assert (await _act(backend, "backup", SupportsProgress())).ok
        [dump] = (tmp_path / "bk").glob("*.dump")
        await backend.collect()  # the console holds sessions on the database now
        with psycopg.connect(pg_db, autocommit=True) as conn:
            conn.execute("DELETE FROM items WHERE id > 10")
        steps = _Steps()
        outcome = await _act(backend, "restore", steps)
        assert outcome.ok and "(1 table, 50 rows identical to the manifest)" in outcome.message, \
            outcome.message
        [scratch] = [m.removeprefix("restoring into ") for m in steps.messages
                     if m.startswith("restoring into ")]
        assert steps.messages == [f"checking {dump.name}", f"restoring into {scratch}",
                                  "proving the restored copy",
                                  f"swapping {scratch} into {database}"]
        snapshot = await backend.collect()  # raises if a session the swap ended was reused
        assert snapshot.panels_off == ()
        with psycopg.connect(pg_db) as conn:
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (50,)
    finally:
        await backend.close()


async def test_a_test_restore_names_each_table_that_differs_from_the_live_database(
        pg_db: str, tmp_path: Path) -> None:
    """A backup without a manifest is proven against the live database: what changed since
    is listed, table by table, and the copy is kept."""
    fill(pg_db, rows=50)
    backend = make_backend(pg_db, backup={"dir": str(tmp_path / "bk")})
    try:
        assert (await _act(backend, "backup", SupportsProgress())).ok
        [dump] = (tmp_path / "bk").glob("*.dump")
        dump.with_name(dump.name + ".json").unlink()
        with psycopg.connect(pg_db, autocommit=True) as conn:
            conn.execute("DELETE FROM items WHERE id > 10")
        steps = _Steps()
        gc.collect()  # earlier tests' garbage is not this restore's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = await _act(backend, "restore-test", steps, dump)
            gc.collect()
        # every session it opened was closed, none left for the garbage collector
        assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
        assert outcome.ok and "1 table(s) differ from the live database" in outcome.message
        differ = [line for line in steps.lines if line.startswith("differs from the ")]
        assert len(differ) == 1 and differ[0].startswith(
            "differs from the live database: public.items"), steps.lines
        assert steps.messages[-1] == "proving the restored copy"  # nothing swapped
    finally:
        await backend.close()


def _scratch_copies(dsn: str) -> dict[str, str]:
    """This database's restore scratch copies and their comments."""
    database = dsn.rsplit("/", 1)[1]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') "
            "FROM pg_database WHERE datname LIKE %s", (f"{database}_restore_%",)).fetchall()
    return {str(name): str(comment) for name, comment in rows}


def test_a_restore_drill_from_cron_proves_the_backup_and_drops_the_copy(
        pg_db: str, write_config: WriteConfig, cli_env: Env, tmp_path: Path) -> None:
    fill(pg_db, rows=50)
    bk = tmp_path / "bk"
    config = write_config(make_config(pg_db, backup_dir=bk))

    def opsconsole(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args],
                              env=cli_env, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    assert opsconsole("backup", "postgres:main", "--yes").returncode == 0
    [dump] = bk.glob("*.dump")
    drill = opsconsole("restore-test", "postgres:main", "--drop", "--yes")
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert drill.stdout.splitlines()[-1] == (
        f"{dump.name} restored into a scratch database (2 tables, 100 rows identical to the "
        "manifest); the copy is dropped")
    assert _scratch_copies(pg_db) == {}
    kept = opsconsole("restore-test", "postgres:main", "--yes")  # no --drop: kept, marked
    assert kept.returncode == 0 and "drop it when done inspecting" in kept.stdout
    assert list(_scratch_copies(pg_db).values()) == [TESTED]

    # A backup that no longer proves: the drill fails and keeps the copy to look at.
    manifest = dump.with_name(dump.name + ".json")
    described = json.loads(manifest.read_text())
    described["tables"]["public.items"]["rows"] += 1
    manifest.write_text(json.dumps(described))
    failed = opsconsole("restore-test", "postgres:main", "--drop", "--yes")
    assert failed.returncode == 1, failed.stdout
    assert "does not match the backup's manifest in 1 table(s)" in failed.stderr
    assert sorted(_scratch_copies(pg_db).values()) == sorted([TESTED, PROOF_FAILED])
