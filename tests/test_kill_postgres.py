"""PostgreSQL backups and restores SIGKILLed at random moments (seeded: OPSCONSOLE_KILL_SEED).

After every kill: a dump under its final name verifies (its recorded sha256, its manifest,
`pg_restore` reads it in full), anything else is named `.part`; the database keeps its name
with either its old or its restored content; the next run cleans up and succeeds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import threading
import time
from pathlib import Path

import psycopg

from backends.postgres.retention import backup_name, list_backups
from console.core.actions import SupportsProgress
from console.core.files import recorded_checksum
from tests import test_postgres_support as support
from tests.conftest import OPSCONSOLE
from tests.support.kill_runs import FinalFiles, kill_repeatedly, run_to_end
from tests.test_postgres_backup import _fingerprint
from tests.test_postgres_support import (
    Env,
    WriteConfig,
    admin_dsn,
    fill,
    make_backend,
    make_config,
)

pg_db = support.pg_db
KILLS = 20


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _dump_reads(path: Path) -> bool:
    """Its manifest says verified with its sha256, and pg_restore reads it in full."""
    manifest = json.loads(path.with_name(path.name + ".json").read_text())
    listing = subprocess.run(["pg_restore", "--list", str(path)], capture_output=True,
                             timeout=60, check=False)
    whole = subprocess.run(["pg_restore", "--file", "/dev/null", str(path)],
                           capture_output=True, timeout=60, check=False)
    return (manifest["verified"] is True and manifest["sha256"] == _sha256(path)
            and listing.returncode == 0 and whole.returncode == 0)


def test_a_backup_killed_at_any_moment_leaves_no_final_file_that_does_not_verify(
        pg_db: str, write_config: WriteConfig, cli_env: Env, tmp_path: Path) -> None:
    fill(pg_db, rows=3000)
    backups = tmp_path / "backups"
    config = write_config(make_config(pg_db, backup_dir=backups))
    argv = [*OPSCONSOLE, "--config", str(config), "--headless", "backup", "postgres:main",
            "--yes"]
    # sidecars are written before the dump takes its name: orphans until the next run
    finals = FinalFiles(backups, lambda name: name.endswith((".part", ".sha256", ".json")),
                        _dump_reads)
    kill_repeatedly(argv, cli_env, tmp_path, KILLS, finals.check)
    last = run_to_end(argv, cli_env, tmp_path / "last.log")
    assert last.returncode == 0, last.output
    finals.check("after the last run")
    finals.only_published(".dump", (".sha256", ".json"))


async def test_a_backup_in_the_same_second_as_another_never_touches_the_others_files(
        pg_db: str, tmp_path: Path) -> None:
    """Its sidecars are written before it takes its name: sharing the earlier backup's name
    would overwrite that backup's checksum first, and a kill then leaves a final file whose
    recorded sha256 is another file's."""
    fill(pg_db, rows=10)
    backups = tmp_path / "bk"
    backups.mkdir()
    now = time.time()
    earlier = {}
    for ahead in range(-1, 6):  # this second and the next few: the backup starts in one
        dump = backups / backup_name("main", now + ahead)
        dump.write_bytes(b"PGDMP earlier")
        for sidecar in (".sha256", ".json"):
            Path(f"{dump}{sidecar}").write_text(f"earlier {sidecar}\n")
        earlier.update({p.name: p.read_bytes() for p in backups.iterdir()})
    backend = make_backend(pg_db, backup={"dir": str(backups), "keep_days": 30})
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        outcome = await spec.run(SupportsProgress())
    finally:
        await backend.close()
    assert outcome.ok, outcome.message
    assert {name: (backups / name).read_bytes() for name in earlier} == earlier
    made = [p for p in backups.glob("*.dump") if p.name not in earlier]
    assert len(made) == 1 and made[0].name.endswith("-2.dump"), made
    assert recorded_checksum(made[0]) == _sha256(made[0])
    order = [Path(b.path).name for b in list_backups(backups, "main")]  # newest first
    assert order.index(made[0].name) < order.index(made[0].name.replace("-2.dump", ".dump"))


def _databases(dsn: str, prefix: str) -> dict[str, bool]:
    """The database and its copies: whether each accepts connections."""
    return {name: allowed for name, (_, allowed) in _catalog(dsn, prefix).items()}


def _catalog(dsn: str, prefix: str) -> dict[str, tuple[int, bool]]:
    """The database and its copies: (oid, accepts connections). The oid tells which data a
    name holds without connecting to it."""
    with psycopg.connect(admin_dsn(dsn), autocommit=True) as conn:
        rows = conn.execute("SELECT datname, oid::int, datallowconn FROM pg_database WHERE "
                            "datname = %s OR datname LIKE %s",
                            (prefix, prefix + "\\_%")).fetchall()
    return {str(name): (int(oid), bool(allowed)) for name, oid, allowed in rows}


def _closed_is_reported_and_recovered(config: Path, cli_env: Env, argv: list[str],
                                      log: Path, when: str) -> None:
    """A database left closed by a swap that was cut: the check says what to do, the next
    restore completes."""
    check = subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "check",
                            "--only", "postgres:main"], env=cli_env, capture_output=True,
                           text=True, timeout=60, check=False)
    assert check.returncode != 0 and "does not accept connections" in check.stdout \
        and "run the restore again" in check.stdout, f"{when}: {check.stdout}"
    again = run_to_end(argv, cli_env, log)
    assert again.returncode == 0, f"{when}: {again.output}"


def _settle(dsn: str, dbname: str, timeout: float = 30) -> None:
    """Wait until no statement of a killed run is still executing on the server."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(admin_dsn(dsn), autocommit=True) as conn:
        while True:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND state <> 'idle' "
                "AND (datname LIKE %s OR query LIKE %s)",
                (dbname + "%", f"%{dbname}%")).fetchone()
            if busy == (0,):
                return
            assert time.monotonic() < deadline, "the killed run's statements never ended"
            time.sleep(0.05)


def _damage(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM items WHERE id > 100")
        conn.execute("UPDATE notes SET body = 'changed'")


def test_a_restore_killed_at_any_moment_leaves_the_old_or_the_new_data(
        pg_db: str, write_config: WriteConfig, cli_env: Env, tmp_path: Path) -> None:
    fill(pg_db, rows=1000)
    new = asyncio.run(_fingerprint(pg_db))
    backups = tmp_path / "backups"
    config = write_config(make_config(pg_db, backup_dir=backups))
    assert run_to_end([*OPSCONSOLE, "--config", str(config), "--headless", "backup",
                       "postgres:main", "--yes"], cli_env, tmp_path / "backup.log").returncode == 0
    dump = next(backups.glob("*.dump"))
    _damage(pg_db)
    old = asyncio.run(_fingerprint(pg_db))
    dbname = pg_db.rsplit("/", 1)[1]
    argv = [*OPSCONSOLE, "--config", str(config), "--headless", "restore", "postgres:main",
            "--from", str(dump), "--yes"]
    seen = {"old": 0, "new": 0, "closed": 0}
    before: list[int] = []

    def damage() -> None:  # the restore brings the backup's content back each time
        _damage(pg_db)
        before[:] = [_catalog(pg_db, dbname)[dbname][0]]

    def after_kill(when: str) -> None:
        _settle(pg_db, dbname)
        databases = _catalog(pg_db, dbname)
        assert dbname in databases, f"{when}: no database {dbname} any more: {databases}"
        oid, allowed = databases[dbname]
        if not allowed:
            # cut between closing the database and the swap: still the old one, closed
            assert oid == before[0], f"{when}: {dbname} closed but not the original"
            seen["closed"] += 1
            _closed_is_reported_and_recovered(config, cli_env, argv,
                                              tmp_path / f"next{sum(seen.values())}.log", when)
            return
        content = asyncio.run(_fingerprint(pg_db))
        assert content in (old, new), f"{when}: {dbname} holds neither the old nor the new data"
        seen["old" if content == old else "new"] += 1

    kill_repeatedly(argv, cli_env, tmp_path, KILLS, after_kill, before=damage)
    _damage(pg_db)
    last = run_to_end(argv, cli_env, tmp_path / "last.log")
    assert last.returncode == 0, last.output
    assert asyncio.run(_fingerprint(pg_db)) == new
    assert _databases(pg_db, dbname)[dbname] is True
    print(f"after the kills: {seen}")


def test_a_restore_killed_between_its_two_renames_keeps_the_database(
        pg_db: str, write_config: WriteConfig, cli_env: Env, tmp_path: Path) -> None:
    """The console dies after renaming the original aside, before the copy took its name:
    the second rename is held on a row lock, the console is killed and the server session
    ends (as it does when its client is gone). The original must still be in place."""
    fill(pg_db, rows=200)
    new = asyncio.run(_fingerprint(pg_db))
    backups = tmp_path / "backups"
    config = write_config(make_config(pg_db, backup_dir=backups, extra="lock_timeout = 30"))
    assert run_to_end([*OPSCONSOLE, "--config", str(config), "--headless", "backup",
                       "postgres:main", "--yes"], cli_env, tmp_path / "backup.log").returncode == 0
    _damage(pg_db)
    old = asyncio.run(_fingerprint(pg_db))
    dbname = pg_db.rsplit("/", 1)[1]
    argv = [*OPSCONSOLE, "--config", str(config), "--headless", "restore", "postgres:main",
            "--from", str(next(backups.glob("*.dump"))), "--yes"]
    before = _catalog(pg_db, dbname)[dbname][0]
    holder = psycopg.connect(admin_dsn(pg_db))  # a transaction that pins the scratch's row
    renaming: list[int] = []

    def pin_and_wait() -> None:
        deadline = time.monotonic() + 60
        with psycopg.connect(admin_dsn(pg_db), autocommit=True) as watcher:
            scratch = None
            while scratch is None and time.monotonic() < deadline:
                row = watcher.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                      (dbname + "\\_restore\\_%",)).fetchone()
                scratch = row[0] if row else None
                time.sleep(0.01)
            assert scratch is not None
            holder.execute(f'ALTER DATABASE "{scratch}" CONNECTION LIMIT -1')
            while time.monotonic() < deadline:
                row = watcher.execute(
                    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE %s", (f"%{scratch}%RENAME%",)).fetchone()
                if row:
                    renaming.append(int(row[0]))
                    return
                time.sleep(0.01)

    pinning = threading.Thread(target=pin_and_wait, daemon=True)
    pinning.start()
    process = subprocess.Popen(argv, env=cli_env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        pinning.join(60)
        assert renaming, "the restore never reached its second rename"
    finally:
        process.kill()
        process.wait()
        with psycopg.connect(admin_dsn(pg_db), autocommit=True) as conn:
            for pid in renaming:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        holder.rollback()
        holder.close()
    _settle(pg_db, dbname)
    databases = _catalog(pg_db, dbname)
    assert dbname in databases, f"{dbname} lost in the swap: {databases}"
    assert databases[dbname][0] == before, f"{dbname} is not the original any more"
    if databases[dbname][1]:
        assert asyncio.run(_fingerprint(pg_db)) == old
    else:
        _closed_is_reported_and_recovered(config, cli_env, argv, tmp_path / "next.log",
                                          "after the kill")
        assert asyncio.run(_fingerprint(pg_db)) == new
