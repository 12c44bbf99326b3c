"""Nothing is published before it is verified: a backup gets its final name, its checksum and
its manifest only after the whole archive read back; one that fails leaves nothing behind.

The directory backup is watched through its own log (called just before the read-back); the
PostgreSQL backup through a `pg_restore` on PATH that records the directory and then runs
the real one (or fails, as a corrupt archive would).
"""

from __future__ import annotations

import dataclasses
import gc
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from backends.dirbackup import archive
from backends.dirbackup.config import DirBackupConfig
from backends.postgres import backup as pg_backup_module
from backends.postgres.retention import list_backups as pg_backups
from backends.postgres.retention import new_backup_name
from console.core.actions import ActionOutcome, SupportsProgress
from console.core.errors import ActionFailed
from tests import test_postgres_support as support
from tests.test_postgres_support import (
    failed_backup,
    fill,
    make_backend,
    open_descriptors,
    open_pipes,
    open_under,
)

pg_db = support.pg_db


def _tree(root: Path) -> Path:
    app = root / "app"
    (app / "media").mkdir(parents=True)
    for i in range(4):
        (app / "media" / f"f{i}.bin").write_bytes(bytes([i]) * (50_000 + i))
    (app / "media" / "skip.tmp").write_text("not archived")
    return app


def _dir_config(app: Path, backups: Path, keep: int = 2,
                keep_days: float | None = None) -> DirBackupConfig:
    return DirBackupConfig(name="media", paths=(str(app / "media"),), excludes=("*.tmp",),
                           dir=str(backups), keep=keep, keep_days=keep_days, before=(), after=(),
                           max_age=None, command_timeout=60.0, interval=60.0)


def _names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_dir_archive_is_named_and_checksummed_only_after_it_read_back(tmp_path: Path) -> None:
    app, backups = _tree(tmp_path), tmp_path / "deep" / "backups"
    config = dataclasses.replace(_dir_config(app, backups),
                                 excludes=("*.tmp", str(app / "media" / "f3.bin"), "f2.bin"))
    during: list[list[str]] = []
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if "reading it back" in line:
            during.append(_names(backups))

    backup = archive.write_backup(config, log, timeout=60)
    assert during == [[f".{backup.name}.part"]]  # no final name, no .sha256 yet
    final = backups / backup.name
    assert lines == [
        f"adding {app / 'media'}",
        f"wrote .{backup.name}.part: 3 entries, {final.stat().st_size} bytes; reading it back",
        f"verified {backup.name} (sha256 {backup.checksum[:12] if backup.checksum else ''}…) "
        "and published it"]
    assert _names(backups) == [backup.name, backup.name + ".sha256"]
    digest = hashlib.sha256(final.read_bytes()).hexdigest()
    assert (backups / (backup.name + ".sha256")).read_text() == f"{digest}  {backup.name}\n"
    assert backup.checksum == digest and backup.size == final.stat().st_size
    for path in backups.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (backups, backups.parent):  # both made for the archives: private
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    with tarfile.open(final) as tar:
        assert sorted(tar.getnames()) == [f"{str(app / 'media').lstrip('/')}{suffix}" for suffix
                                          in ("", "/f0.bin", "/f1.bin")]
    archive.verify(archive.list_backups(config)[0])


def _one_member_targz() -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        info = tarfile.TarInfo("only")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    return data.getvalue()


@pytest.mark.parametrize(("damage", "message"), [
    ("truncate", "does not read back"),
    ("fewer", "read back 1 entries of the 5 written"),
])
def test_dir_archive_that_fails_its_read_back_leaves_nothing(tmp_path: Path, damage: str,
                                                             message: str) -> None:
    app, backups = _tree(tmp_path), tmp_path / "backups"

    def log(line: str) -> None:
        if "reading it back" in line:
            part = next(backups.glob(".*.part"))
            if damage == "truncate":
                part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
            else:
                part.write_bytes(_one_member_targz())

    with pytest.raises(archive.BackupError, match=message):
        archive.write_backup(_dir_config(app, backups), log, timeout=60)
    assert _names(backups) == []


def test_dir_catalogue_skips_links_and_a_missing_directory(tmp_path: Path) -> None:
    app, backups = _tree(tmp_path), tmp_path / "backups"
    config = _dir_config(app, backups)
    assert archive.list_backups(config) == [] and archive.apply_retention(config) == []
    made = archive.write_backup(config, lambda line: None, timeout=60)
    elsewhere = tmp_path / "elsewhere.tar.gz"
    shutil.copy(made.path, elsewhere)
    (backups / made.name.replace("Z.tar.gz", "Z-9.tar.gz")).symlink_to(elsewhere)
    assert [b.name for b in archive.list_backups(config)] == [made.name]


def test_dir_archive_refuses_a_missing_path_before_writing(tmp_path: Path) -> None:
    config = _dir_config(tmp_path / "nowhere", tmp_path / "backups")
    with pytest.raises(archive.BackupError, match="does not exist: nothing was written"):
        archive.write_backup(config, lambda line: None, timeout=60)
    assert not (tmp_path / "backups").exists()


def test_reading_an_archive_back_keeps_its_deadline(tmp_path: Path) -> None:
    backup = archive.write_backup(_dir_config(_tree(tmp_path), tmp_path / "b"),
                                  lambda line: None, timeout=60)
    assert archive.read_back(Path(backup.path))[1] == 5
    with pytest.raises(archive.BackupError, match="reading the archive back took longer than 0s"):
        archive.read_back(Path(backup.path), archive._Deadline(0))


def test_dir_archive_past_its_deadline_is_stopped_and_removed(tmp_path: Path) -> None:
    app, backups = _tree(tmp_path), tmp_path / "backups"
    with pytest.raises(archive.BackupError, match=r"the backup took longer than 0s"):
        archive.write_backup(_dir_config(app, backups), lambda line: None, timeout=0)
    assert _names(backups) == []


def test_two_dir_backups_in_one_second_get_two_names_newest_first(tmp_path: Path) -> None:
    app, backups = _tree(tmp_path), tmp_path / "backups"
    config = _dir_config(app, backups, keep=5)
    made = [archive.write_backup(config, lambda line: None, timeout=60) for _ in range(3)]
    assert len({b.name for b in made}) == 3
    stamp = made[0].name.removeprefix("media-").removesuffix(".tar.gz")
    if all(stamp in b.name for b in made):  # the usual case: all three within one second
        assert [b.name for b in made] == [f"media-{stamp}.tar.gz", f"media-{stamp}-2.tar.gz",
                                          f"media-{stamp}-3.tar.gz"]
    for age, backup in zip((30, 20, 10), made, strict=True):
        os.utime(backup.path, (time.time() - age, time.time() - age))
    assert [b.name for b in archive.list_backups(config)] == [b.name for b in reversed(made)]


def test_dir_retention_keeps_newest_and_unverified_and_the_young(tmp_path: Path) -> None:
    app, backups = _tree(tmp_path), tmp_path / "backups"
    config = _dir_config(app, backups, keep=2)
    made = [archive.write_backup(config, lambda line: None, timeout=60) for _ in range(5)]
    now = time.time()
    for days, backup in zip((50, 40, 30, 20, 10), made, strict=True):
        os.utime(backup.path, (now - days * 86400, now - days * 86400))
    Path(made[0].path + ".sha256").unlink()  # unverified: left for a person to look at
    removed = archive.apply_retention(config, now)
    assert removed == [made[2].name, made[1].name]
    assert _names(backups) == sorted([made[0].name, made[3].name, made[3].name + ".sha256",
                                      made[4].name, made[4].name + ".sha256"])
    # keep_days: a verified archive exactly keep_days old goes, one a second younger stays
    aged = _dir_config(app, backups, keep=1, keep_days=20 * 86400.0)
    assert archive.apply_retention(aged, now - 1) == []
    assert archive.apply_retention(aged, now) == [made[3].name]
    # a young archive does not stop the older ones behind it from going
    three = _dir_config(app, tmp_path / "three", keep=1, keep_days=25 * 86400.0)
    trio = [archive.write_backup(three, lambda line: None, timeout=60) for _ in range(3)]
    for days, backup in zip((30, 20, 10), trio, strict=True):
        os.utime(backup.path, (now - days * 86400, now - days * 86400))
    assert archive.apply_retention(three, now) == [trio[0].name]
    # the newest verified one stays whatever its age
    assert archive.apply_retention(_dir_config(app, backups, keep=1, keep_days=0.0),
                                   now + 1e6) == []
    assert archive.list_backups(config)[0].name == made[4].name


def test_dir_verify_refuses_an_archive_without_checksum_or_with_another(tmp_path: Path) -> None:
    app, backups = _tree(tmp_path), tmp_path / "backups"
    config = _dir_config(app, backups)
    backup = archive.write_backup(config, lambda line: None, timeout=60)
    sidecar = Path(backup.path + ".sha256")
    sidecar.write_text(f"{'0' * 64}  {backup.name}\n")
    with pytest.raises(archive.BackupError, match="is corrupt: its sha256 differs"):
        archive.verify(archive.list_backups(config)[0])
    sidecar.unlink()
    with pytest.raises(archive.BackupError, match=r"has no \.sha256 file: it was never verified"):
        archive.verify(archive.list_backups(config)[0])
    # trailing bytes after the last member change the checksum: read back counts them
    data = Path(backup.path).read_bytes()
    Path(backup.path).write_bytes(data + gzip.compress(b""))
    digest, members = archive.read_back(Path(backup.path))
    assert digest == hashlib.sha256(data + gzip.compress(b"")).hexdigest() and members == 5


_WATCHER = """#!/bin/sh
# records what the backup directory holds while the archive is being verified
ls -a {directory} > {log}.$$
printf '%s\\n' "$@" >> {log}.$$
{action}
"""


def _pg_restore_on_path(bin_dir: Path, directory: Path, log: Path, fail: bool,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which("pg_restore")
    assert real is not None, "pg_restore is not installed"
    action = ("echo 'pg_restore: error: could not read from input file: end of file' >&2; exit 1"
              if fail else f'exec {real} "$@"')
    bin_dir.mkdir()
    wrapper = bin_dir / "pg_restore"
    wrapper.write_text(_WATCHER.format(directory=directory, log=log, action=action))
    wrapper.chmod(0o700)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def _seen(log: Path) -> list[list[str]]:
    return [[line for line in p.read_text().splitlines() if line not in (".", "..")]
            for p in sorted(log.parent.glob(log.name + ".*"))]


class _Recorder(SupportsProgress):
    """Keeps every progress message too, and how long the whole action took."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.took = 0.0
        self.when_fingerprinting: Callable[[], None] | None = None

    def progress(self, done: float | None, total: float | None = None, message: str = "") -> None:
        super().progress(done, total, message)
        self.messages.append(message)
        if message == "fingerprinting the dumped rows" and self.when_fingerprinting:
            self.when_fingerprinting()


PROGRESS = _Recorder()


async def _pg_backup(dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     fail: bool) -> tuple[Path, Path, ActionOutcome | ActionFailed]:
    """(backup dir, watcher log, outcome or failure) of one backup action with the watcher."""
    fill(dsn, rows=300)
    bk, log = tmp_path / "bk", tmp_path / "seen"
    _pg_restore_on_path(tmp_path / "bin", bk, log, fail, monkeypatch)
    backend = make_backend(dsn, backup={"dir": str(bk), "keep_days": 30, "keep_min": 2})
    PROGRESS.lines.clear()
    PROGRESS.messages.clear()
    started = time.monotonic()
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        try:
            outcome = await spec.run(PROGRESS)
            PROGRESS.took = time.monotonic() - started
            return bk, log, outcome
        except ActionFailed as exc:
            return bk, log, exc
    finally:
        await backend.close()


async def test_pg_backup_is_named_only_after_pg_restore_read_it(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipes = open_pipes()
    bk, log, outcome = await _pg_backup(pg_db, tmp_path, monkeypatch, fail=False)
    assert isinstance(outcome, ActionOutcome) and outcome.ok, outcome
    assert open_pipes() <= pipes  # pg_dump's output pipe is closed on both ends
    [made] = pg_backups(bk, "main")
    final = Path(made.path)
    [listing] = _seen(log)
    # while verifying: only the .part, which is what pg_restore read in full
    assert listing[:1] == [final.name + ".part"] and listing[-3:] == [
        "--file", os.devnull, str(final) + ".part"]
    assert sorted(p.name for p in bk.iterdir()) == [final.name, final.name + ".json",
                                                    final.name + ".sha256"]
    assert open_under(bk) == []
    digest = hashlib.sha256(final.read_bytes()).hexdigest()
    manifest_text = final.with_name(final.name + ".json").read_text()
    assert manifest_text.startswith('{\n  "format": ') and manifest_text.endswith("}\n")
    manifest = json.loads(manifest_text)
    assert (manifest["verified"], manifest["sha256"], manifest["size"]) == (
        True, digest, final.stat().st_size)
    assert final.with_name(final.name + ".sha256").read_text() == f"{digest}  {final.name}\n"
    assert made.verified and made.sha256 == digest
    database = pg_db.rsplit("/", 1)[1]
    assert {k: manifest[k] for k in ("format", "target", "database", "compress", "verified_by")
            } == {"format": "opsconsole-postgres-backup/1", "target": "postgres:main",
                  "database": database, "compress": None,
                  "verified_by": "pg_restore --file /dev/null"}
    assert manifest["server_version"].split(".")[0].isdigit()
    assert manifest["started"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(made.started))
    assert manifest["started"] <= manifest["finished"]
    assert abs(manifest["started_ts"] - made.started) < 1
    assert manifest["tables"]["public.items"]["rows"] == 300
    assert manifest["tables"]["public.notes"]["rows"] == 50
    assert outcome.message.startswith(f"backup {final.name} verified (")
    assert outcome.details == f"sha256 {digest}"
    assert [line.split(" ")[0] for line in PROGRESS.lines] == ["dumping", "dumped", "verified"]
    assert PROGRESS.lines[0] == f"dumping {database} to {final.name}.part"
    phases = [m for m in PROGRESS.messages if not m.endswith("MB written")
              and " · copying " not in m]
    assert phases == ["verifying: reading the whole archive back", "fingerprinting the dumped rows"]
    # the times reported are parts of the time the action took
    dump = float(outcome.message.split(", dump ", 1)[1].split("s,", 1)[0])
    verify = float(outcome.message.split(", verify ", 1)[1].split("s,", 1)[0])
    rows = float(outcome.message.split(", fingerprint ", 1)[1].split("s)", 1)[0])
    assert 0 <= min(dump, verify, rows) and dump + verify + rows <= PROGRESS.took + 0.15


async def test_pg_backup_whose_rows_cannot_be_fingerprinted_is_kept_and_says_why(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table dropped between the dump and the fingerprint: the archive is good, the
    manifest has no fingerprint (a restore compares with the live database), and the log
    says so."""
    def drop_a_table() -> None:
        with psycopg.connect(pg_db, autocommit=True) as conn:
            conn.execute("DROP TABLE notes")

    PROGRESS.when_fingerprinting = drop_a_table
    try:
        bk, _, outcome = await _pg_backup(pg_db, tmp_path, monkeypatch, fail=False)
    finally:
        PROGRESS.when_fingerprinting = None
    assert isinstance(outcome, ActionOutcome) and outcome.ok, outcome
    [made] = pg_backups(bk, "main")
    manifest = json.loads(Path(made.path + ".json").read_text())
    assert manifest["verified"] is True and manifest["tables"] is None
    assert PROGRESS.lines[-1] == ('no content fingerprint in the manifest: '
                                  'relation "public.notes" does not exist')


async def test_pg_backup_closes_its_snapshot_connection(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, _, outcome = await _pg_backup(pg_db, tmp_path, monkeypatch, fail=False)
        gc.collect()
    assert isinstance(outcome, ActionOutcome) and outcome.ok, outcome
    leaks = [str(w.message) for w in caught if "deleted while still open" in str(w.message)]
    assert leaks == []


async def test_pg_backup_that_fails_verification_leaves_nothing(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = open_descriptors()
    bk, log, outcome = await _pg_backup(pg_db, tmp_path, monkeypatch, fail=True)
    assert before.items() <= open_descriptors().items()  # closed only what it opened
    assert isinstance(outcome, ActionFailed)
    assert "is truncated or corrupt: pg_restore: error: could not read from input file" in str(
        outcome)
    assert len(_seen(log)) == 1
    assert list(bk.iterdir()) == []
    assert open_under(bk) == []  # not even the removed .part


async def test_pg_backup_that_cannot_take_its_name_leaves_no_sidecar(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bk = tmp_path / "bk"
    bk.mkdir()
    decoys: set[Path] = set()

    def taken_meanwhile(directory: Path, name: str, started: float) -> str:
        """The name chosen, then taken by a directory before the backup can publish."""
        chosen = new_backup_name(directory, name, started)
        (directory / chosen).mkdir()
        decoys.add(directory / chosen)
        return chosen

    monkeypatch.setattr(pg_backup_module, "new_backup_name", taken_meanwhile)
    _, _, outcome = await _pg_backup(pg_db, tmp_path, monkeypatch, fail=False)
    assert isinstance(outcome, ActionFailed)
    assert str(outcome) == f"cannot write in {bk}: Is a directory (nothing was kept)"
    assert set(bk.iterdir()) == decoys  # no .sha256, no .json, no .part


async def test_pg_backup_never_writes_into_a_part_file_it_did_not_create(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bk = tmp_path / "bk"
    bk.mkdir()
    others: list[Path] = []

    def part_taken_meanwhile(directory: Path, name: str, started: float) -> str:
        """Another run's .part appears under the chosen name before this one opens it."""
        chosen = new_backup_name(directory, name, started)
        other = directory / (chosen + ".part")
        other.write_bytes(b"another run's dump")
        others.append(other)
        return chosen

    monkeypatch.setattr(pg_backup_module, "new_backup_name", part_taken_meanwhile)
    _, _, outcome = await _pg_backup(pg_db, tmp_path, monkeypatch, fail=False)
    assert isinstance(outcome, ActionFailed)
    assert str(outcome) == f"cannot write in {bk}: File exists"
    [other] = others
    assert list(bk.iterdir()) == [other] and other.read_bytes() == b"another run's dump"


def _pg_dump_on_path(bin_dir: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pg_dump that records its arguments and whether it got a password in its
    environment, then runs the real one."""
    real = shutil.which("pg_dump")
    assert real is not None, "pg_dump is not installed"
    bin_dir.mkdir()
    wrapper = bin_dir / "pg_dump"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\n'
                       f'echo "PGPASSWORD=$PGPASSWORD" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o700)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


async def test_pg_backup_gives_pg_dump_the_password_in_its_environment_only(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line is readable by every user of the machine (ps); the environment is
    not."""
    fill(pg_db, rows=10)
    log = tmp_path / "pg_dump.args"
    _pg_dump_on_path(tmp_path / "bin", log, monkeypatch)
    with_password = pg_db.replace("://postgres@", "://postgres:s3cret-pw@", 1)
    assert with_password != pg_db
    backend = make_backend(with_password, backup={"dir": str(tmp_path / "bk")})
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        outcome = await spec.run(SupportsProgress())
    finally:
        await backend.close()
    assert outcome.ok, outcome
    *argv, environment = log.read_text().splitlines()
    assert environment == "PGPASSWORD=s3cret-pw"
    assert argv[0] == "--format=custom" and not any("s3cret" in arg for arg in argv), argv


async def test_pg_backup_dumps_the_rows_its_manifest_describes(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows written while pg_dump starts are in neither the archive nor the manifest: both
    come from the one snapshot the backup took first."""
    def write_meanwhile(line: str) -> None:
        if line.startswith("dumping "):
            with psycopg.connect(pg_db, autocommit=True) as conn:
                conn.execute("INSERT INTO items SELECT g, 'late', 0 "
                             "FROM generate_series(100001, 100500) g")

    monkeypatch.setattr(PROGRESS, "log", lambda line: (PROGRESS.lines.append(line),
                                                        write_meanwhile(line)))
    bk, _, outcome = await _pg_backup(pg_db, tmp_path, monkeypatch, fail=False)
    assert isinstance(outcome, ActionOutcome) and outcome.ok, outcome
    [made] = pg_backups(bk, "main")
    manifest = json.loads(Path(made.path + ".json").read_text())
    assert manifest["tables"]["public.items"]["rows"] == 300
    data = subprocess.run(["pg_restore", "--data-only", "--table=items", "--file=-", made.path],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    rows = data.split("FROM stdin;\n", 1)[1].split("\n\\.\n", 1)[0].splitlines()
    assert len(rows) == 300 and not any("\tlate\t" in row for row in rows)
    with psycopg.connect(pg_db) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (800,)


async def test_pg_backup_whose_pg_dump_cannot_start_says_so_and_leaves_nothing(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(pg_db, rows=10)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    broken = bin_dir / "pg_dump"
    broken.write_text("#!/nonexistent/interpreter\n")  # found on PATH, but exec fails
    broken.chmod(0o700)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    pipes = open_pipes()
    failure = await failed_backup(pg_db, tmp_path / "bk")
    assert str(failure) == (f"cannot run {broken}: No such file or directory (reinstall "
                                  "the PostgreSQL client: apt-get install postgresql-client)")
    assert list((tmp_path / "bk").iterdir()) == []
    assert open_pipes() <= pipes and open_under(tmp_path / "bk") == []
