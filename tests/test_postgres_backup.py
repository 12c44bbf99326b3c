"""Backups and restores against a real server: verify, prove, swap, retention, faults."""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from backends.postgres.fingerprint import fingerprint
from backends.postgres.retention import backup_name, expired, list_backups
from backends.postgres.snapshot import BackupInfo
from console.core.actions import SupportsProgress
from console.core.errors import ActionFailed
from console.core.model import Status
from tests import test_postgres_support as support
from tests.conftest import OPSCONSOLE
from tests.test_postgres_support import (
    Env,
    WriteConfig,
    failed_backup,
    fill,
    fill_random,
    make_backend,
    make_config,
    open_under,
)
from tests.testbed.fixtures import require_service

pg_db = support.pg_db  # the fixture, shared by the PostgreSQL test modules


def _cli(cli_env: Env, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args],
                          env=cli_env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


async def _fingerprint(dsn: str) -> dict[str, tuple[int, str]]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        return await fingerprint(conn)


def _databases(dsn: str, prefix: str) -> list[str]:
    with psycopg.connect(dsn.rsplit("/", 1)[0] + "/postgres") as conn:
        return [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
            (prefix + "%",)).fetchall()]


async def test_backup_verify_restore_prove_and_swap(pg_db: str, write_config: WriteConfig,
                                                    cli_env: Env, tmp_path: Path) -> None:
    fill(pg_db)
    original = await _fingerprint(pg_db)
    bk = tmp_path / "backups"
    config = write_config(make_config(pg_db, backup_dir=bk))
    done = _cli(cli_env, config, "backup", "postgres:main", "--yes")
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout
    dumps = list(bk.glob("*.dump"))
    assert len(dumps) == 1 and not list(bk.glob("*.part"))
    manifest = json.loads(dumps[0].with_name(dumps[0].name + ".json").read_text())
    assert manifest["verified"] is True and manifest["database"] == pg_db.rsplit("/", 1)[1]
    assert manifest["tables"]["public.items"]["rows"] == 2000
    sidecar = dumps[0].with_name(dumps[0].name + ".sha256").read_text().split()
    assert sidecar == [manifest["sha256"], dumps[0].name]

    # test-restore into a scratch database: proven identical, original untouched
    backend = make_backend(pg_db, backup={"dir": str(bk)})
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "restore-test")
        outcome = await spec.run(SupportsProgress())
        assert outcome.ok, outcome.message
        assert "2 tables, 2050 rows identical to the manifest" in outcome.message
        dbname = pg_db.rsplit("/", 1)[1]
        scratch = [d for d in _databases(pg_db, dbname) if "_restore_" in d]
        assert len(scratch) == 1
        assert await _fingerprint(pg_db.rsplit("/", 1)[0] + "/" + scratch[0]) == original
    finally:
        await backend.close()

    # damage the data, then restore in place from the CLI
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute("DELETE FROM items WHERE id > 100")
        conn.execute("UPDATE notes SET body = 'changed'")
    refused = _cli(cli_env, config, "restore", "postgres:main", "--from", str(dumps[0]))
    assert refused.returncode == 3  # no --yes and no terminal
    done = _cli(cli_env, config, "restore", "postgres:main", "--from", str(dumps[0]), "--yes")
    assert done.returncode == 0, done.stderr
    assert await _fingerprint(pg_db) == original
    kept = [d for d in _databases(pg_db, dbname) if "_before_restore_" in d]
    assert len(kept) == 1
    with psycopg.connect(pg_db.rsplit("/", 1)[0] + "/" + kept[0]) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (100,)


def test_truncated_backup_is_rejected_and_nothing_is_touched(
        pg_db: str, write_config: WriteConfig, cli_env: Env, tmp_path: Path) -> None:
    fill(pg_db)
    bk = tmp_path / "bk"
    config = write_config(make_config(pg_db, backup_dir=bk))
    assert _cli(cli_env, config, "backup", "postgres:main", "--yes").returncode == 0
    dump = next(bk.glob("*.dump"))
    truncated = tmp_path / "cut.dump"
    truncated.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
    # pg_restore --list alone would accept it
    listing = subprocess.run(["pg_restore", "--list", str(truncated)], capture_output=True,
                             timeout=30)
    assert listing.returncode == 0
    # outside the backup dir: refused unless forced
    done = _cli(cli_env, config, "restore", "postgres:main", "--from", str(truncated), "--yes")
    assert done.returncode == 3 and "pass --force" in done.stderr
    done = _cli(cli_env, config, "restore", "postgres:main", "--from", str(truncated), "--yes",
                "--force")
    assert done.returncode == 1
    assert "truncated or corrupt" in done.stderr and "not touched" in done.stderr
    dbname = pg_db.rsplit("/", 1)[1]
    assert _databases(pg_db, dbname) == [dbname]
    # a dump whose bytes no longer match its sidecar is refused before pg_restore runs
    data = bytearray(dump.read_bytes())
    data[-10] ^= 0xFF
    dump.write_bytes(bytes(data))
    done = _cli(cli_env, config, "restore", "postgres:main", "--from", str(dump), "--yes")
    assert done.returncode == 1 and "sha256 differs" in done.stderr
    missing = _cli(cli_env, config, "restore", "postgres:main", "--from", str(tmp_path / "no"),
                   "--yes", "--force")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (2000,)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        require_service("tmpfs mount", "mounting a tmpfs needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True,
                   timeout=10)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, timeout=10)


async def test_disk_full_leaves_no_backup_and_says_so(pg_db: str, tiny_disk: Path) -> None:
    fill_random(pg_db)
    backend = make_backend(pg_db, backup={"dir": str(tiny_disk / "bk")})
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        with pytest.raises(ActionFailed, match="disk full") as failure:
            await spec.run(SupportsProgress())
        assert str(tiny_disk / "bk") in str(failure.value)
        # what reached the 256 KiB (0.26 MB) disk before it was full
        written = re.search(r" after (\d+\.\d) MB;", str(failure.value))
        assert written and 0.2 <= float(written.group(1)) <= 0.3, failure.value
        assert list((tiny_disk / "bk").iterdir()) == []
        assert open_under(tiny_disk / "bk") == []
        snap = await backend.collect()
        check = next(c for c in backend.evaluate(snap) if c.check == "backup")
        assert check.status is Status.CRITICAL and "no verified backup" in check.summary
    finally:
        await backend.close()


async def test_file_size_limit_leaves_no_backup_and_says_so(pg_db: str, tmp_path: Path) -> None:
    """A ulimit -f on the console (Python ignores SIGXFSZ, so a write fails with EFBIG)."""
    fill_random(pg_db)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, hard))
    try:
        failure = await failed_backup(pg_db, tmp_path / "bk")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert re.fullmatch(rf"file size limit reached after 0\.[23] MB writing in "
                        rf"{re.escape(str(tmp_path / 'bk'))} \(nothing was kept\)",
                        str(failure)), failure
    assert list((tmp_path / "bk").iterdir()) == []
    assert open_under(tmp_path / "bk") == []


async def test_pg_dump_killed_midway_leaves_nothing(pg_db: str, tmp_path: Path) -> None:
    fill(pg_db)
    holder = psycopg.connect(pg_db)
    holder.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")  # pg_dump waits on it
    backend = make_backend(pg_db, backup={"dir": str(tmp_path / "bk")})
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        task = asyncio.ensure_future(spec.run(SupportsProgress()))
        dumper = None
        for _ in range(200):
            dumper = next((p for p in psutil.Process().children(recursive=True)
                           if p.name() == "pg_dump"), None)
            if dumper and list((tmp_path / "bk").glob("*.part")):
                break
            await asyncio.sleep(0.05)
        assert dumper is not None
        await asyncio.sleep(0.3)
        dumper.kill()
        with pytest.raises(ActionFailed, match="killed by SIGKILL"):
            await task
        assert list((tmp_path / "bk").iterdir()) == []
        assert open_under(tmp_path / "bk") == []
    finally:
        holder.close()
        await backend.close()


def _info(hours_ago: float, verified: bool = True, now: float = 1_800_000_000.0) -> BackupInfo:
    return BackupInfo(f"/b/{hours_ago}", now - hours_ago * 3600, 1, verified)


def test_retention_keeps_newest_verified_and_minimum() -> None:
    now = 1_800_000_000.0
    day = 24.0
    backups = [_info(h * day) for h in (1, 2, 10, 40, 50)]
    doomed = expired(backups, keep_days=30 * 86400, keep_min=2, now=now)
    assert sorted(b.path for b in doomed) == ["/b/1200.0", "/b/960.0"]
    # everything old: keep_min still holds
    old = [_info(h * day) for h in (40, 41, 42, 43)]
    assert len(expired(old, keep_days=30 * 86400, keep_min=3, now=now)) == 1
    # the only verified backup is old: it survives even though unverified newer ones exist
    mixed = [_info(30 * day, verified=False), _info(40 * day, verified=False), _info(45 * day)]
    doomed = expired(mixed, keep_days=86400, keep_min=1, now=now)
    assert sorted(b.path for b in doomed) == ["/b/720.0", "/b/960.0"]


def _fake_backup(directory: Path, name: str, hours_ago: float, verified: bool = True) -> Path:
    path = directory / backup_name(name, time.time() - hours_ago * 3600)
    path.write_bytes(b"PGDMP")
    path.with_name(path.name + ".json").write_text(json.dumps({"verified": verified}))
    return path


@pytest.mark.parametrize(("hours", "code", "status", "age"), [
    (3, 0, "OK", "3h"), (30, 1, "WARNING", "30h"), (60, 2, "CRITICAL", "2d 12h")])
def test_backup_age_check_and_exit_code(pg_db: str, write_config: WriteConfig, cli_env: Env,
                                        tmp_path: Path, hours: float, code: int, status: str,
                                        age: str) -> None:
    bk = tmp_path / "bk"
    bk.mkdir()
    _fake_backup(bk, "main", hours)
    _fake_backup(bk, "main", 1, verified=False)  # newer but unverified: does not count
    config = write_config(make_config(pg_db, backup_dir=bk))
    done = _cli(cli_env, config, "check", "--only", "postgres:main")
    assert done.returncode == code, done.stdout
    line = next(x for x in done.stdout.splitlines() if " backup - " in x)
    assert line.startswith(status) and f"backup {age}" in line
    assert "'backup_age'=" in done.stdout.splitlines()[0]
    assert len(list_backups(bk, "main")) == 2


async def test_backup_applies_retention_after_verification(pg_db: str, tmp_path: Path) -> None:
    fill(pg_db, rows=10)
    bk = tmp_path / "bk"
    bk.mkdir()
    day = 24
    kept_old = _fake_backup(bk, "main", 40 * day)
    doomed = [_fake_backup(bk, "main", 50 * day), _fake_backup(bk, "main", 60 * day)]
    other = _fake_backup(bk, "other", 90 * day)  # another target's backups are not ours to prune
    leftover = bk / (backup_name("main", time.time() - 3600) + ".part")
    leftover.write_bytes(b"PGDMP half")
    backend = make_backend(pg_db, backup={"dir": str(bk), "keep_days": 30, "keep_min": 2})
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        progress = SupportsProgress()
        outcome = await spec.run(progress)
    finally:
        await backend.close()
    assert outcome.ok and "retention deleted 2" in outcome.message
    names = {p.name for p in bk.iterdir()}
    assert kept_old.name in names and other.name in names
    assert not any(d.name in names or d.name + ".json" in names for d in doomed)
    assert leftover.name not in names
    assert len(list_backups(bk, "main")) == 2
    assert any("interrupted backup" in line for line in progress.lines)
    assert sorted(line for line in progress.lines if line.startswith("retention: deleted")) == [
        f"retention: deleted {d.name}" for d in sorted(doomed)]


async def test_two_restores_started_in_the_same_second_both_succeed(
        pg_db: str, write_config: WriteConfig, cli_env: Env, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A test-restore and a restore within one second used to collide on the scratch name."""
    from backends.postgres import restore

    fill(pg_db)
    bk = tmp_path / "backups"
    config = write_config(make_config(pg_db, backup_dir=bk))
    assert _cli(cli_env, config, "backup", "postgres:main", "--yes").returncode == 0
    frozen = time.time()
    monkeypatch.setattr(restore.time, "time", lambda: frozen)  # the very same second, twice
    backend = make_backend(pg_db, backup={"dir": str(bk)})
    try:
        for _ in range(2):
            spec = next(s for s in backend.actions(None, "postgres:main")
                        if s.verb == "restore-test")
            outcome = await spec.run(SupportsProgress())
            assert outcome.ok, outcome.message
    finally:
        await backend.close()
    dbname = pg_db.rsplit("/", 1)[1]
    assert len([d for d in _databases(pg_db, dbname) if "_restore_" in d]) == 2


@pytest.fixture
def app_role_db(pg_db: str) -> Iterator[tuple[str, str]]:
    """The fresh database handed to a role of its own that may not create databases, as an
    app's role usually may not: (the app's DSN, the admin's DSN)."""
    base, dbname = pg_db.rsplit("/", 1)
    role = f"app_{dbname}"[:60]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN NOCREATEDB").format(
            psycopg.sql.Identifier(role)))
        conn.execute(psycopg.sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            psycopg.sql.Identifier(dbname), psycopg.sql.Identifier(role)))
    host = base.split("@", 1)[1]
    app = f"postgresql://{role}@{host}/{dbname}"
    fill(app)
    try:
        yield app, base + "/postgres"
    finally:
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            for name in _databases(pg_db, dbname):
                conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(name)))
            conn.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(
                psycopg.sql.Identifier(role)))


async def test_a_restore_with_an_app_role_needs_and_uses_admin_dsn(
        app_role_db: tuple[str, str], write_config: WriteConfig, cli_env: Env,
        tmp_path: Path) -> None:
    app, admin = app_role_db
    original = await _fingerprint(app)
    bk = tmp_path / "backups"
    plain = write_config(make_config(app, backup_dir=bk), "plain.toml")
    done = _cli(cli_env, plain, "backup", "postgres:main", "--yes")
    assert done.returncode == 0, done.stderr
    dump = next(bk.glob("*.dump"))

    refused = _cli(cli_env, plain, "restore", "postgres:main", "--from", str(dump), "--yes")
    assert refused.returncode == 1
    assert "cannot create scratch database" in refused.stderr and "admin_dsn" in refused.stderr
    assert await _fingerprint(app) == original  # nothing was touched

    with psycopg.connect(app, autocommit=True) as conn:
        conn.execute("DELETE FROM items WHERE id > 10")
    admin_config = write_config(make_config(app, f'admin_dsn = "{admin}"', backup_dir=bk),
                                "admin.toml")
    done = _cli(cli_env, admin_config, "restore", "postgres:main", "--from", str(dump), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert await _fingerprint(app) == original
    with psycopg.connect(admin) as conn:
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                             (app.rsplit("/", 1)[1],)).fetchone()
    assert owner == (app.split("//", 1)[1].split("@", 1)[0],)  # still the app's database


async def test_pg_dump_error_is_quoted_and_nothing_is_kept(app_role_db: tuple[str, str],
                                                           tmp_path: Path) -> None:
    app, admin = app_role_db
    dbname = app.rsplit("/", 1)[1]
    with psycopg.connect(admin.rsplit("/", 1)[0] + "/" + dbname, autocommit=True) as conn:
        conn.execute("CREATE TABLE payroll (id int)")  # the admin's: the app's role may not read it
    failure = await failed_backup(app, tmp_path / "bk")
    assert str(failure) == ("pg_dump failed: pg_dump: error: query failed: ERROR:  "
                                  "permission denied for table payroll (nothing was kept)")
    assert list((tmp_path / "bk").iterdir()) == []
    assert open_under(tmp_path / "bk") == []


async def test_backup_past_its_timeout_stops_pg_dump_and_keeps_nothing(pg_db: str,
                                                                      tmp_path: Path) -> None:
    fill(pg_db)
    holder = psycopg.connect(pg_db)
    holder.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")  # pg_dump waits on it
    backend = make_backend(pg_db, backup={"dir": str(tmp_path / "bk"), "timeout": 2})
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        with pytest.raises(ActionFailed) as failure:
            await spec.run(SupportsProgress())
        assert str(failure.value) == ("the backup did not finish within 2s and was stopped; "
                                      "nothing was kept (a bigger database needs a longer "
                                      "backup.timeout)")
        assert [p for p in psutil.Process().children(recursive=True)
                if p.name() == "pg_dump" and p.status() != psutil.STATUS_ZOMBIE] == []
        assert list((tmp_path / "bk").iterdir()) == []
        assert open_under(tmp_path / "bk") == []
    finally:
        holder.close()
        await backend.close()
