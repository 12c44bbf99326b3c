"""The PostgreSQL backend against a real server: panels, locks, cancel/terminate, faults."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest

from backends.postgres.snapshot import PostgresSnapshot
from console.core.actions import SupportsProgress
from console.core.model import Status
from console.sandbox.postgres_cluster import PostgresCluster
from console.sandbox.processes import ServiceError, run
from tests import test_postgres_support as support
from tests.conftest import OPSCONSOLE
from tests.test_postgres_support import Env, WriteConfig, fill, make_backend, make_config
from tests.testbed.fixtures import require_service

pg_db = support.pg_db  # the fixture, shared by the PostgreSQL test modules


async def _wait_for(backend_dsn: str, sql: str, params: tuple[object, ...] = ()) -> None:
    async with await psycopg.AsyncConnection.connect(backend_dsn, autocommit=True) as conn:
        for _ in range(100):
            row = await (await conn.execute(sql, params)).fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {sql}")


async def test_panels_show_known_content_and_created_activity(pg_db: str) -> None:
    fill(pg_db)
    with psycopg.connect(pg_db, autocommit=True) as setup:
        setup.execute("CREATE TABLE locked_one (id int)")
        setup.execute("INSERT INTO locked_one VALUES (1)")
    holder = psycopg.connect(pg_db, application_name="lock-holder")
    holder.execute("LOCK TABLE locked_one IN ACCESS EXCLUSIVE MODE")  # now idle in transaction
    holder_pid = holder.info.backend_pid
    waiter = await psycopg.AsyncConnection.connect(pg_db, autocommit=True,
                                                   application_name="lock-waiter")
    sleeper = await psycopg.AsyncConnection.connect(pg_db, autocommit=True,
                                                    application_name="sleeper")
    blocked_query = asyncio.create_task(waiter.execute("SELECT count(*) FROM locked_one"))
    long_query = asyncio.create_task(sleeper.execute("SELECT pg_sleep(60)"))
    backend = make_backend(pg_db, thresholds={"long_query": {"warn": "1s", "crit": "1h"},
                                              "blocked": {"warn": "0s", "crit": "1h"}})
    try:
        await _wait_for(pg_db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'sleeper' AND now() - query_start > interval '1.2 s'")
        await _wait_for(pg_db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                        "'lock-waiter' AND wait_event_type = 'Lock'")
        async with asyncio.timeout(backend.timeout):  # the size query must not wait on the lock
            snap: PostgresSnapshot = await backend.collect()

        tables = {t.qualified: t for t in snap.tables}
        assert tables["public.items"].live_rows == 2000
        assert tables["public.items"].size and tables["public.items"].size > 0
        assert tables["public.locked_one"].locked
        assert not tables["public.items"].locked
        assert any(i.index == "items_label_idx" for i in snap.unused_indexes)
        assert snap.database == pg_db.rsplit("/", 1)[1]
        assert snap.role == "primary" and snap.version.startswith("15")
        assert snap.max_connections > 0 and snap.connection_count >= 3
        assert dict(snap.connections).get("active", 0) >= 2
        assert snap.cache_hit is not None and 0 < snap.cache_hit <= 1

        by_pid = {s.pid: s for s in snap.sessions}
        blocked = next(s for s in snap.sessions if s.application == "lock-waiter")
        assert blocked.blocked_by == (holder_pid,)
        assert by_pid[holder_pid].blocking and by_pid[holder_pid].idle_in_transaction
        sleeping = next(s for s in snap.sessions if s.application == "sleeper")
        assert "pg_sleep" in sleeping.query

        checks = {c.check: c for c in backend.evaluate(snap)}
        assert checks["long queries"].status is Status.WARNING
        assert f"pid {sleeping.pid}" in checks["long queries"].summary
        assert checks["blocked"].status is Status.WARNING
        assert f"waits for pid {holder_pid}" in checks["blocked"].summary
        assert "idle in transaction" in checks

        # cancel the long query, then terminate the lock holder: the blocked query finishes
        specs = {(s.verb, s.params.get("pid")): s for s in
                 backend.actions(snap, "postgres:main")}
        outcome = await specs[("cancel", sleeping.pid)].run(SupportsProgress())
        assert outcome.ok, outcome.message
        with pytest.raises(psycopg.errors.QueryCanceled):
            await long_query
        outcome = await specs[("terminate", holder_pid)].run(SupportsProgress())
        assert outcome.ok, outcome.message
        async with asyncio.timeout(10):
            cursor = await blocked_query
        assert await cursor.fetchone() == (1,)
        after = await backend.collect()
        assert not any(s.blocked_by for s in after.sessions)
        assert not next(t for t in after.tables if t.name == "locked_one").locked
    finally:
        for task in (blocked_query, long_query):
            task.cancel()
        await asyncio.gather(blocked_query, long_query, return_exceptions=True)
        await backend.close()
        await waiter.close()
        await sleeper.close()
        holder.close()


async def test_vacuum_analyze_updates_last_vacuum(pg_db: str) -> None:
    fill(pg_db)
    backend = make_backend(pg_db)
    try:
        before = {t.name: t for t in (await backend.collect()).tables}
        assert before["items"].last_vacuum is None
        table_spec = next(s for s in backend.actions(None, "postgres:main", {"table": "items"})
                          if s.verb == "vacuum")
        progress = SupportsProgress()
        outcome = await table_spec.run(progress)
        assert outcome.ok and "public.items" in outcome.message
        db_spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "vacuum")
        outcome = await db_spec.run(progress)
        assert outcome.ok and "2 tables" in outcome.message
        assert progress.last[0] == progress.last[1] == 2
        after = {t.name: t for t in (await backend.collect()).tables}
        assert after["items"].last_vacuum is not None and after["notes"].last_vacuum is not None
        missing = next(s for s in backend.actions(None, "postgres:main", {"table": "nope"})
                       if s.verb == "vacuum")
        with pytest.raises(Exception, match="no table 'nope'"):
            await missing.run(progress)
    finally:
        await backend.close()


async def test_panel_without_privilege_is_switched_off_with_a_reason(pg_db: str) -> None:
    fill(pg_db)
    role = f"opsc_ro_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        # Per-database catalog ACLs: only this database is affected.
        conn.execute("REVOKE SELECT ON pg_catalog.pg_stat_user_indexes FROM PUBLIC")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    user_dsn = pg_db.replace("postgres@", f"{role}@")
    backend = make_backend(user_dsn)
    try:
        first = await backend.collect()
        reason = first.panel_off("unused_indexes")
        assert reason and "permission denied" in reason
        assert "shared_preload_libraries" in (first.panel_off("statements") or "")
        assert first.tables  # the other panels still work
        second = await backend.collect()
        assert second.panel_off("unused_indexes") == reason
        checks = backend.evaluate(second)
        assert any("unused_indexes panel off: permission denied" in c.details for c in checks)
        # a cancel the role is not allowed to send: a clear message naming the fix
        with psycopg.connect(pg_db, autocommit=True) as other:
            spec = next(s for s in backend.actions(second, "postgres:main",
                                                   {"pid": other.info.backend_pid})
                        if s.verb == "terminate")
            with pytest.raises(Exception, match="pg_signal_backend"):
                await spec.run(SupportsProgress())
    finally:
        await backend.close()
        with psycopg.connect(pg_db, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
        with psycopg.connect(pg_db.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f"DROP ROLE IF EXISTS {role}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_down_is_critical_with_one_line_reason(write_config: WriteConfig, cli_env: Env,
                                                      tmp_path: Path) -> None:
    dsn = f"postgresql://postgres:sekret-pw@127.0.0.1:{_free_port()}/app"
    path = write_config(make_config(dsn, backup_dir=tmp_path / "bk"))
    done = subprocess.run([*OPSCONSOLE, "--config", str(path), "--headless", "check"],
                          env=cli_env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "connection refused" in done.stdout and "is PostgreSQL running" in done.stdout
    assert "sekret-pw" not in done.stdout + done.stderr
    backup = subprocess.run([*OPSCONSOLE, "--config", str(path), "--headless", "backup",
                             "postgres:main", "--yes"], env=cli_env, capture_output=True,
                            text=True, timeout=30)
    assert backup.returncode == 1
    assert "connection refused" in backup.stderr
    assert "sekret-pw" not in backup.stdout + backup.stderr
    assert not list((tmp_path / "bk").glob("*.dump*"))


def test_hung_server_gives_unknown_or_critical_within_timeout(pg_cluster: PostgresCluster,
                                                             write_config: WriteConfig, cli_env: Env) -> None:
    name = f"hung_{uuid.uuid4().hex[:8]}"
    dsn = pg_cluster.create_database(name)
    path = write_config(make_config(dsn, extra="timeout = 1"))
    pg_cluster.pause()
    try:
        done = subprocess.run([*OPSCONSOLE, "--config", str(path), "--headless", "check",
                               "--timeout", "5"], env=cli_env, capture_output=True, text=True,
                              timeout=30)
    finally:
        pg_cluster.resume()
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no answer" in done.stdout
    pg_cluster.psql(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_broken_config_is_a_one_line_error(write_config: WriteConfig, cli_env: Env) -> None:
    path = write_config('[[postgres]]\nname = "x"\ndsn = "mysql://h/db"\n')
    done = subprocess.run([*OPSCONSOLE, "--config", str(path), "--headless", "check"],
                          env=cli_env, capture_output=True, text=True, timeout=30)
    assert done.returncode in (2, 3)
    assert "'dsn'" in done.stderr + done.stdout and "postgresql://" in done.stderr + done.stdout
    path = write_config('[[postgres]]\nname = "x"\ndsn = "postgresql://u@h/db"\n'
                        'password = "${OPSC_NOT_SET_PW}"\n')
    done = subprocess.run([*OPSCONSOLE, "--config", str(path), "--headless", "check"],
                          env=cli_env, capture_output=True, text=True, timeout=30)
    assert "OPSC_NOT_SET_PW is not set" in done.stderr + done.stdout


def test_wrong_password_names_the_fix_and_never_shows_it(pg_cluster: PostgresCluster,
                                                         write_config: WriteConfig, cli_env: Env,
                                                         tmp_path: Path) -> None:
    role = f"opsc_pw_{uuid.uuid4().hex[:8]}"
    name = f"pwdb_{uuid.uuid4().hex[:8]}"
    pg_cluster.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'right-pass-123'")
    pg_cluster.create_database(name)
    hba = pg_cluster.data_dir / "pg_hba.conf"
    original = hba.read_text()
    # Only this role needs a password; every other test keeps trust auth.
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + original)
    pg_cluster.psql("SELECT pg_reload_conf()")
    try:
        secret = tmp_path / "pw"
        secret.write_text("wrong-pass-456\n")
        dsn = f"postgresql://{role}@127.0.0.1:{pg_cluster.port}/{name}"
        config = write_config(make_config(dsn, extra=f'password_file = "{secret}"'))
        done = subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "check"],
                              env=cli_env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2
        assert f"authentication failed for user {role}" in done.stdout
        assert "check the password" in done.stdout
        assert "wrong-pass-456" not in done.stdout + done.stderr
        env = {**cli_env, "OPSC_TEST_PG_PASSWORD": "right-pass-123"}
        config = write_config(make_config(
            dsn.replace(f"{role}@", f"{role}:${{OPSC_TEST_PG_PASSWORD}}@")), "env.toml")
        done = subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "status",
                               "--format", "json"], env=env, capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0 and '"error": null' in done.stdout
        assert "right-pass-123" not in done.stdout + done.stderr
    finally:
        hba.write_text(original)
        pg_cluster.psql("SELECT pg_reload_conf()")
        pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_cluster.psql(f"DROP ROLE IF EXISTS {role}")


@pytest.mark.parametrize(("thresholds", "code", "status"), [
    ("", 0, "OK"), ("{ warn = 0.5, crit = 100 }", 1, "WARNING"),
    ("{ warn = 0.1, crit = 0.5 }", 2, "CRITICAL")])
def test_connections_against_max_connections(pg_db: str, write_config: WriteConfig, cli_env: Env,
                                             thresholds: str, code: int, status: str) -> None:
    extra = f"thresholds = {{ connections = {thresholds} }}" if thresholds else ""
    config = write_config(make_config(pg_db, extra=extra))
    with psycopg.connect(pg_db):  # at least one more session than ours
        done = subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "check",
                               "--only", "postgres:main"], env=cli_env, capture_output=True,
                              text=True, timeout=30)
    assert done.returncode == code, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if " connections - " in x)
    assert line.startswith(status) and " conn · " in line
    assert "'connections'=" in done.stdout.splitlines()[0]


async def test_statements_and_inactive_slot_on_an_own_cluster() -> None:
    """pg_stat_statements needs a preload and a slot retains WAL cluster-wide: own cluster."""
    if os.geteuid() != 0:
        require_service("postgres", "an own cluster needs root")
    cluster = PostgresCluster()
    try:
        cluster.start()
    except (ServiceError, OSError, subprocess.SubprocessError) as error:
        require_service("postgres", str(error))
    try:
        cluster.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        run([str(cluster.bin / "pg_ctl"), "-D", str(cluster.data_dir), "-l",
             str(cluster.dir / "postgres.log"), "-w", "-t", "30", "restart"], user="postgres",
            timeout=60)
        dsn = cluster.create_database("stats")
        cluster.psql("CREATE EXTENSION pg_stat_statements", dbname="stats")
        cluster.psql("SELECT pg_create_physical_replication_slot('forgotten_replica', true)")
        fill(dsn)
        with psycopg.connect(dsn) as conn:
            for _ in range(5):
                conn.execute("SELECT count(*) FROM items WHERE price > 10")
        backend = make_backend(dsn)
        try:
            snap = await backend.collect()
        finally:
            await backend.close()
        assert snap.panel_off("statements") is None
        assert snap.statements and any("FROM items WHERE price" in s.query and s.calls >= 5
                                       for s in snap.statements)
        slot = next(s for s in snap.slots if s.name == "forgotten_replica")
        assert not slot.active and slot.retained_bytes is not None
        check = next(c for c in backend.evaluate(snap) if c.check == "slots")
        assert check.status is Status.WARNING and "forgotten_replica" in check.summary
    finally:
        cluster.stop()
