"""Private files and safe paths: modes whatever the umask, no symlink followed, a checked
state dir, confined restores, retention that keeps to its own files, honest dry runs."""

from __future__ import annotations

import os
import stat
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.deploy.runner import spawn
from backends.docker.volumes import remove_stale_parts as remove_volume_parts
from backends.docker.volumes import special_members
from backends.postgres.retention import remove_stale_parts as remove_dump_parts
from console.config import load_config
from console.core.errors import ConfigError
from console.core.files import write_durably
from console.core.identity import current_identity
from console.core.locks import TargetLock
from console.core.statedb import connect
from console.headless_actions import run_action
from tests.conftest import OPSCONSOLE


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o000)
    yield
    os.umask(old)


@pytest.mark.usefixtures("noop_kind", "open_umask")
def test_a_headless_action_creates_a_private_state_dir(
        tmp_path: Path, write_config: Callable[..., Path], state_dir: Path) -> None:
    journal = tmp_path / "journal"
    config = load_config(str(write_config(
        f'[[noop]]\nname = "web"\njournal = "{journal}"\n')))
    assert run_action(config, verb="restart", target="unit:web", options={},
                      assume_yes=True, read_only=False) == 0
    assert mode(state_dir) == 0o700 and mode(state_dir / "locks") == 0o700
    assert mode(state_dir / "state.db") == 0o600
    assert [mode(p) for p in (state_dir / "locks").iterdir()] == [0o600]


@pytest.mark.usefixtures("open_umask")
def test_sidecars_and_deploy_logs_are_0600_whatever_the_umask(
        tmp_path: Path, state_dir: Path, write_config: Callable[..., Path]) -> None:
    sidecar = tmp_path / "backup.dump.sha256"
    write_durably(sidecar, "abc  backup.dump\n")
    assert mode(sidecar) == 0o600
    connect(state_dir).close()
    config = write_config("[[host]]\n")
    pid = spawn(config, state_dir, "no-such-plan")  # the runner starts, finds no plan, ends
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
        with open(f"/proc/{pid}/stat") as proc:
            if proc.read().split(") ")[-1].startswith("Z"):
                os.waitpid(pid, 0)
                break
    log = state_dir / "deploy-no-such-plan.log"
    assert mode(log) == 0o600
    assert "no plan no-such-plan" in log.read_text()


def test_symlinks_planted_in_the_state_dir_are_refused(tmp_path: Path, state_dir: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    connect(state_dir).close()
    lock = TargetLock(state_dir / "locks", "unit:web", current_identity(), "restart")
    lock.path.symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        lock.acquire()
    (state_dir / "deploy-x.log").symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        spawn(None, state_dir, "x")  # type: ignore[arg-type]
    (state_dir / "state.db").unlink()
    (state_dir / "state.db").symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        connect(state_dir)
    part = tmp_path / "manifest.json.part"
    part.symlink_to(victim)
    write_durably(tmp_path / "manifest.json", "{}")
    assert victim.read_text() == "root's file\n"


def test_a_state_dir_others_control_is_refused_with_the_fix(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(ConfigError, match=f"state dir {shared} is writable by other users: "
                                          f"chmod 700 {shared}"):
        connect(shared)
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 65534, 65534)
    with pytest.raises(ConfigError, match=f"state dir {theirs} belongs to uid 65534"):
        connect(theirs)
    if os.geteuid() == 0:
        assert not (theirs / "state.db").exists()


def test_stale_part_cleanup_keeps_to_its_own_target(tmp_path: Path) -> None:
    mine = tmp_path / "app-20260101T000000Z.dump.part"
    theirs = tmp_path / "app-data-20260101T000000Z.dump.part"
    for path in (mine, theirs):
        path.write_text("x")
    assert remove_dump_parts(tmp_path, "app") == [mine.name]
    assert theirs.exists() and not mine.exists()
    vmine = tmp_path / ".app-20260101T000000Z.tar.gz.part"
    vtheirs = tmp_path / ".app-data-20260101T000000Z.tar.gz.part"
    for path in (vmine, vtheirs):
        path.write_text("x")
    assert remove_volume_parts(tmp_path, "app") == [vmine.name]
    assert vtheirs.exists() and not vmine.exists()


def test_archive_members_that_must_not_come_back_are_found(tmp_path: Path) -> None:
    archive = tmp_path / "v.tar.gz"
    with tarfile.open(archive, "w:gz") as out:
        for name, kind, perms in (("ok.txt", tarfile.REGTYPE, 0o644),
                                  ("sh", tarfile.REGTYPE, 0o4755),
                                  ("mem", tarfile.CHRTYPE, 0o600)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, perms
            out.addfile(info, None if kind != tarfile.REGTYPE else open(os.devnull, "rb"))
    found = special_members(archive)
    assert found.devices == ("mem",) and found.set_id == ("sh (set-id 4755)",)


def cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), *args], env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_restore_from_outside_the_backup_dir_needs_force(
        tmp_path: Path, write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    backups = tmp_path / "pg-backups"
    forged = tmp_path / "elsewhere" / "db-20260101T000000Z.dump"
    forged.parent.mkdir()
    forged.write_bytes(b"PGDMP")
    config = write_config('[[postgres]]\nname = "db"\ndsn = "postgresql://app@127.0.0.1:9/app"\n'
                          f'timeout = 1\nbackup = {{ dir = "{backups}" }}\n')
    refused = cli(config, cli_env, "--headless", "restore", "postgres:db", "--from", str(forged),
                  "--yes")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"{forged} is not in the backup dir {backups}: pass --force" in refused.stderr
    forced = cli(config, cli_env, "--headless", "restore", "postgres:db", "--from", str(forged),
                 "--force")
    assert forced.returncode == 3  # now only the confirmation stands in the way
    assert "not confirmed (no terminal)" in forced.stderr


def test_read_only_demo_refuses_before_doing_anything(cli_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    done = subprocess.run([*OPSCONSOLE, "--read-only", "demo", "--yes"], env=cli_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert "--read-only: the demo installs packages and starts" in done.stderr
    assert "Missing:" not in done.stdout + done.stderr


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def test_rollback_dry_run_refuses_what_the_real_run_refuses(
        tmp_path: Path, write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "d@example.com")
    git(repo, "config", "user.name", "D")
    for n in (1, 2):
        (repo / "f").write_text(str(n))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"release {n}")
    released = git(repo, "rev-parse", "HEAD~1")
    # a commit someone pushed but this checkout never had
    stranger = git(repo, "commit-tree", "-p", "HEAD", "-m", "pushed, never deployed",
                   "HEAD^{tree}")
    git(repo, "update-ref", "refs/heads/feature", stranger)
    config = write_config(f'[[deploy]]\nname = "app"\nrepo = "{repo}"\n')
    for dry in (["--dry-run"], ["--yes"]):
        out = cli(config, cli_env, "--headless", "rollback", "deploy:app", "--to", "feature",
                  *dry)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "was never checked out here nor tagged: pass --force" in out.stderr
    ok = cli(config, cli_env, "--headless", "rollback", "deploy:app", "--to", released,
             "--dry-run")
    assert ok.returncode == 0, ok.stderr
    forced = cli(config, cli_env, "--headless", "rollback", "deploy:app", "--to", "feature",
                 "--dry-run", "--force")
    assert forced.returncode == 0, forced.stderr
    assert git(repo, "rev-parse", "HEAD") != stranger
