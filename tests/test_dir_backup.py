"""`[[backup]]` directory backups through the headless command line, on real files: backup,
verification, restore in place and elsewhere, retention, the age check, a disk-full failure."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from console.core.audit import AuditLog
from tests.conftest import OPSCONSOLE


@pytest.fixture
def app_tree(tmp_path: Path, rng: random.Random) -> Path:
    """/…/app with media (binary files), a .env and a cache directory to exclude."""
    app = tmp_path / "app"
    (app / "media" / "photos").mkdir(parents=True)
    (app / "cache").mkdir()
    for i in range(5):
        (app / "media" / "photos" / f"p{i}.jpg").write_bytes(rng.randbytes(20_000 + i))
    (app / "media" / "notes.txt").write_text("version 1\n")
    (app / "cache" / "junk.bin").write_bytes(rng.randbytes(1000))
    (app / "media" / "thumb.tmp").write_text("temporary")
    env = app / ".env"
    env.write_text("SECRET_KEY=abc\n")
    env.chmod(0o640)
    return app


def config_for(app: Path, backups: Path, extra: str = "") -> str:
    return (f"[[backup]]\nname = 'media'\npaths = ['{app}/media', '{app}/.env', '{app}/cache']\n"
            f"excludes = ['*.tmp', '{app}/cache/*']\ndir = '{backups}'\nkeep = 2\n{extra}")


def run(config: Path, env: dict[str, str], *args: str,
        preexec: Callable[[], None] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=120, check=False,
                          stdin=subprocess.DEVNULL, preexec_fn=preexec)


def last(done: subprocess.CompletedProcess[str]) -> str:
    """The outcome line (progress lines come before it, indented)."""
    return done.stdout.splitlines()[-1] if done.stdout else ""


def archives(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_backup_then_restore_in_place_brings_back_changed_files(
        app_tree: Path, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str], state_dir: Path) -> None:
    backups = tmp_path / "backups"
    marks = tmp_path / "marks"
    config = write_config(config_for(app_tree, backups,
                                     f"before = [['touch', '{marks}.before']]\n"
                                     f"after = [['touch', '{marks}.after']]\n"))
    original = {p: p.read_bytes() for p in (app_tree / "media").rglob("*") if p.is_file()}

    done = run(config, cli_env, "backup", "dir:media", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert last(done).startswith(f"backed up dir:media to {backups}/media-")
    assert last(done).endswith(", verified)")
    assert f"  running touch {marks}.before" in done.stdout
    assert Path(f"{marks}.before").exists() and Path(f"{marks}.after").exists()
    names = archives(backups)
    assert len(names) == 2 and names[0].endswith(".tar.gz") and names[1].endswith(".sha256")
    for name in names:
        assert stat.S_IMODE((backups / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    # the checksum file is in sha256sum format
    check = subprocess.run(["sha256sum", "-c", names[1]], cwd=backups, capture_output=True,
                           text=True, timeout=60, check=False)
    assert check.returncode == 0 and check.stdout.strip().endswith(": OK"), check
    listing = subprocess.run(["tar", "-tzf", str(backups / names[0])], capture_output=True,
                             text=True, timeout=60, check=True).stdout.split()
    assert not any(n.endswith(".tmp") or "/cache/" in n.rstrip("/") for n in listing)
    assert f"{str(app_tree).lstrip('/')}/cache/" in listing  # the directory, without content

    # changes after the backup: an edited file, a deleted one, a new one, a changed mode
    (app_tree / "media" / "notes.txt").write_text("version 2, not backed up\n")
    (app_tree / "media" / "photos" / "p0.jpg").unlink()
    (app_tree / "media" / "stray.txt").write_text("made after the backup")
    (app_tree / ".env").write_text("SECRET_KEY=changed\n")

    refused = run(config, cli_env, "restore", "dir:media")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert (app_tree / "media" / "notes.txt").read_text().startswith("version 2")

    restored = run(config, cli_env, "restore", "dir:media", "--from", names[0], "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert last(restored).startswith(f"restored {app_tree}/media, {app_tree}/.env")
    now = {p: p.read_bytes() for p in (app_tree / "media").rglob("*") if p.is_file()}
    assert now == {p: b for p, b in original.items() if not p.name.endswith(".tmp")}
    assert (app_tree / ".env").read_text() == "SECRET_KEY=abc\n"
    assert stat.S_IMODE((app_tree / ".env").stat().st_mode) == 0o640
    assert not list(app_tree.glob(".*opsconsole-restore*"))  # nothing left aside
    records = [(r.phase, r.verb, r.target) for r in AuditLog(state_dir).records()]
    assert records == [("started", "backup", "dir:media"), ("finished", "backup", "dir:media"),
                       ("refused", "restore", "dir:media"),  # the run without --yes
                       ("started", "restore", "dir:media"), ("finished", "restore", "dir:media")]


def test_restore_to_another_directory_leaves_the_originals(
        app_tree: Path, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    backups = tmp_path / "backups"
    config = write_config(config_for(app_tree, backups))
    assert run(config, cli_env, "backup", "dir:media", "--yes").returncode == 0
    (app_tree / "media" / "notes.txt").write_text("version 2\n")
    elsewhere = tmp_path / "elsewhere"

    relative = run(config, cli_env, "restore", "dir:media", "--to", "rel", "--yes")
    assert relative.returncode == 3  # refused: nothing was run
    assert "--to rel: give an absolute directory" in relative.stderr
    done = run(config, cli_env, "restore", "dir:media", "--to", str(elsewhere), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    copy = elsewhere / str(app_tree).lstrip("/")
    assert (copy / "media" / "notes.txt").read_text() == "version 1\n"
    assert (copy / ".env").read_text() == "SECRET_KEY=abc\n"
    assert (app_tree / "media" / "notes.txt").read_text() == "version 2\n"

    postgres_to = run(config, cli_env, "restore", "postgres:x", "--to", str(elsewhere))
    assert postgres_to.returncode == 2 and "for dir:NAME targets only" in postgres_to.stderr


def test_a_corrupt_archive_is_refused_and_nothing_changes(
        app_tree: Path, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    backups = tmp_path / "backups"
    config = write_config(config_for(app_tree, backups))
    assert run(config, cli_env, "backup", "dir:media", "--yes").returncode == 0
    archive = next(backups.glob("*.tar.gz"))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    (app_tree / "media" / "notes.txt").write_text("version 2\n")
    done = run(config, cli_env, "restore", "dir:media", "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "is corrupt" in out or "does not read back" in out
    assert (app_tree / "media" / "notes.txt").read_text() == "version 2\n"


def test_retention_keeps_the_newest_and_the_age_check_warns(
        app_tree: Path, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    backups = tmp_path / "backups"
    config = write_config(config_for(app_tree, backups, "max_age = '1h'\n"))
    empty = run(config, cli_env, "check")
    assert empty.returncode == 1 and "WARNING dir:media - no verified backup in" in empty.stdout
    made = []
    for _ in range(3):
        done = run(config, cli_env, "backup", "dir:media", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        made.append(last(done).split(" to ", 1)[1].split(" (", 1)[0])
    kept = sorted(str(p) for p in backups.glob("*.tar.gz"))
    assert kept == sorted(made[1:])  # keep = 2: the oldest went, with its .sha256
    assert len(list(backups.glob("*.sha256"))) == 2

    fresh = run(config, cli_env, "check", "--format", "json")
    checks = json.loads(fresh.stdout)["checks"]
    assert fresh.returncode == 0 and checks[0]["status"] == "OK", checks
    assert "newest verified backup" in checks[0]["summary"] and "2 kept" in checks[0]["summary"]

    old = time.time() - 3 * 3600
    for path in backups.iterdir():
        os.utime(path, (old, old))
    stale = run(config, cli_env, "check")
    assert stale.returncode == 1, stale.stdout
    assert "WARNING dir:media - newest verified backup is 3h 00m old (max_age 1h 00m)" \
        in stale.stdout


def _limit_file_size() -> None:
    # A file may not grow past 64 KiB in the child: the archive of ~100 KB of random data
    # hits it like a full disk would (EFBIG instead of a SIGXFSZ kill).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_disk_full_leaves_nothing_that_looks_complete(
        app_tree: Path, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    backups = tmp_path / "backups"
    marks = tmp_path / "marks"
    config = write_config(config_for(app_tree, backups,
                                     f"after = [['touch', '{marks}.after']]\n"))
    done = run(config, cli_env, "backup", "dir:media", "--yes", preexec=_limit_file_size)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert "backup of dir:media failed: writing media-" in out
    assert "File too large" in out and "nothing was kept" in out
    assert archives(backups) == []  # no archive, no .sha256, no .part
    assert Path(f"{marks}.after").exists()  # the after commands ran all the same
    check = run(config, cli_env, "check")
    assert "dir:media - no verified backup in" in check.stdout

    # the same config works once there is room
    again = run(config, cli_env, "backup", "dir:media", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr


def test_config_errors_name_the_key(tmp_path: Path, write_config: Callable[..., Path],
                                    cli_env: dict[str, str]) -> None:
    inside = write_config(f"[[backup]]\nname = 'x'\npaths = ['{tmp_path}']\n"
                          f"dir = '{tmp_path}/backups'\n")
    done = run(inside, cli_env, "check")
    assert done.returncode == 3 or done.returncode == 2
    assert "dir" in done.stderr + done.stdout and "put the archives elsewhere" in \
        done.stderr + done.stdout
    relative = write_config("[[backup]]\nname = 'x'\npaths = ['media']\ndir = '/tmp/b'\n", "r.toml")
    done = run(relative, cli_env, "check")
    assert "'media' must be an absolute path" in done.stderr + done.stdout


def test_a_backup_killed_between_before_and_after_is_critical_until_after_runs(
        app_tree: Path, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    backups, hold, started = tmp_path / "backups", tmp_path / "hold", tmp_path / "started"
    hold.touch()
    before = ["sh", "-c", f"touch {started}; if [ -e {hold} ]; then exec sleep 120; fi"]
    config = write_config(config_for(app_tree, backups, f"before = [{before!r}]\n"
                                                        f"after = [['rm', '-f', '{started}']]\n"))
    running = subprocess.Popen(
        [*OPSCONSOLE, "--headless", "backup", "dir:media", "--yes", "--config", str(config)],
        env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert running.poll() is None and time.monotonic() < deadline, "before never ran"
            time.sleep(0.05)
        meanwhile = run(config, cli_env, "check")
        assert "never ran" not in meanwhile.stdout, meanwhile.stdout  # still running: fine
    finally:
        os.killpg(running.pid, signal.SIGKILL)
        running.wait(timeout=30)
    told = run(config, cli_env, "check")
    assert told.returncode == 2, told.stdout
    assert f"CRITICAL dir:media - a backup was stopped after its before commands: rm -f " \
           f"{started} never ran; run it, or back up again" in told.stdout
    hold.unlink()
    again = run(config, cli_env, "backup", "dir:media", "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not started.exists()  # its after ran
    assert run(config, cli_env, "check").returncode == 0
