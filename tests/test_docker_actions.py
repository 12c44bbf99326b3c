"""Container and volume actions through the dispatcher, against a real dockerd."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from backends.docker.inspect import HELPER_LABEL
from backends.docker.volumes import apply_retention, list_backups
from console.config import Config
from console.core.actions import ActionSpec
from console.core.audit import AuditLog
from console.core.identity import current_identity
from console.core.secrets import Redactor
from console.dispatcher import ActionRun, Dispatcher
from console.poller import BackendState, poll_once
from tests.test_docker_support import DockerLab, backend_for, docker_lab, wait_for

__all__ = ["docker_lab"]


async def _yes(spec: ActionSpec) -> bool:
    return True


def run_action(config: Config, target: str, verb: str,
               options: dict[str, Any] | None = None) -> ActionRun:
    """Poll, pick the action by verb, run it through the dispatcher (as the CLI does)."""
    backend = backend_for(config)

    async def go() -> ActionRun:
        try:
            result = await poll_once(backend, BackendState(), Redactor())
            spec = next(s for s in backend.actions(result.snapshot, target, options)
                        if s.verb == verb)
            dispatcher = Dispatcher(state_dir=config.console.state_dir, read_only=False,
                                    redactor=config.redactor, identity=current_identity())
            return await dispatcher.run(spec, _yes)
        finally:
            await backend.close()

    return asyncio.run(go())


def test_restart_stop_start_through_the_dispatcher_are_audited(docker_lab: DockerLab) -> None:
    docker_lab.run("app", ["sleep", "3600"], restart_policy={"Name": "unless-stopped"})
    config = docker_lab.config()
    target = f"container:{docker_lab.name('app')}"
    started_at = docker_lab.state("app")["State"]["StartedAt"]

    restart = run_action(config, target, "restart")
    assert restart.state == "ok", restart.outcome
    assert docker_lab.state("app")["State"]["StartedAt"] != started_at

    stop = run_action(config, target, "stop")
    assert stop.state == "ok", stop.outcome
    assert docker_lab.state("app")["State"]["Status"] == "exited"

    start = run_action(config, target, "start")
    assert start.state == "ok", start.outcome
    assert docker_lab.state("app")["State"]["Status"] == "running"

    records = AuditLog(config.console.state_dir).records()
    done = [(r.verb, r.target) for r in records if r.phase == "finished"]
    assert done == [("restart", target), ("stop", target), ("start", target)]
    assert AuditLog(config.console.state_dir).verify().ok


def test_backup_then_restore_gives_back_the_same_files(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "mkdir -p /data/ledger/sub && echo hello > /data/ledger/sub/a.txt"
                            " && echo dot > /data/.hidden"
                            " && dd if=/dev/urandom of=/data/blob bs=1k count=256 2>/dev/null")
    docker_lab.run("svc", ["sleep", "3600"], volumes={volume: {"bind": "/data"}})
    original = docker_lab.listing(volume)
    config = docker_lab.config()

    backup = run_action(config, f"volume:{volume}", "backup")
    assert backup.state == "ok", backup.outcome
    made = list_backups(str(docker_lab.backup_dir), volume)
    assert len(made) == 1 and made[0].good
    digest = hashlib.sha256(Path(made[0].path).read_bytes()).hexdigest()  # the archive itself
    assert Path(made[0].path + ".sha256").read_text().split() == [digest, made[0].name]

    docker_lab.fill(volume, "rm -rf /data/ledger /data/.hidden && echo junk > /data/new.txt")
    assert docker_lab.listing(volume) != original

    restore = run_action(config, f"volume:{volume}", "restore", {"from": made[0].name})
    assert restore.state == "ok", restore.outcome
    assert docker_lab.listing(volume) == original
    assert docker_lab.state("svc")["State"]["Status"] == "running"
    assert any("stopping" in line for line in restore.lines)


def test_restore_refuses_a_damaged_backup_and_keeps_the_volume(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "echo one > /data/file")
    docker_lab.run("svc", ["sleep", "3600"], volumes={volume: {"bind": "/data"}})
    config = docker_lab.config()
    assert run_action(config, f"volume:{volume}", "backup").state == "ok"
    made = list_backups(str(docker_lab.backup_dir), volume)[0]
    with open(made.path, "r+b") as handle:
        handle.seek(20)
        handle.write(b"\x00\x00\x00\x00")
    docker_lab.fill(volume, "echo two > /data/file")
    before = docker_lab.listing(volume)

    restore = run_action(config, f"volume:{volume}", "restore", {"from": made.name})
    assert restore.state == "failed"
    assert restore.outcome is not None and "does not match its sha256" in restore.outcome.message
    assert docker_lab.listing(volume) == before
    assert docker_lab.state("svc")["State"]["Status"] == "running"


def test_interrupted_backup_leaves_nothing_that_looks_complete(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("big")
    docker_lab.fill(volume, "dd if=/dev/urandom of=/data/blob bs=1M count=48 2>/dev/null")
    config = docker_lab.config()
    killed: list[str] = []

    def kill_helper() -> None:
        helper = wait_for(lambda: docker_lab.client.containers.list(
            filters={"label": f"{HELPER_LABEL}=backup", "name": volume}), timeout=30,
            what="backup helper")
        wait_for(lambda: any(docker_lab.backup_dir.glob("*.part")), what="partial file")
        helper[0].kill()
        killed.append(helper[0].name)

    killer = threading.Thread(target=kill_helper)
    killer.start()
    run = run_action(config, f"volume:{volume}", "backup")
    killer.join()
    assert killed, run.outcome
    assert run.state == "failed"
    assert run.outcome is not None and run.outcome.message.startswith(
        f"backup of volume:{volume} failed")
    leftovers = sorted(os.listdir(docker_lab.backup_dir))
    assert leftovers == [], leftovers  # not even the .part
    assert list_backups(str(docker_lab.backup_dir), volume) == []


def test_retention_keeps_newest_and_never_the_last_good_one(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("kept")
    docker_lab.fill(volume, "echo x > /data/x")
    config = docker_lab.config()  # keep = 3
    for _ in range(4):
        assert run_action(config, f"volume:{volume}", "backup").state == "ok"
    backups = list_backups(str(docker_lab.backup_dir), volume)
    assert len(backups) == 3 and all(b.good for b in backups)
    newest_good = backups[0]

    # Newer files without a checksum (say, copied in by hand) must not push the good one out.
    for n in range(2):
        fake = docker_lab.backup_dir / f"{volume}-2999010{n}T000000Z.tar.gz"
        fake.write_bytes(b"not verified")
    removed = apply_retention(str(docker_lab.backup_dir), volume, keep=1)
    left = [b.name for b in list_backups(str(docker_lab.backup_dir), volume)]
    assert newest_good.name in left
    assert f"{volume}-29990101T000000Z.tar.gz" in left
    assert len(removed) == 3


def test_per_volume_settings_pause_the_users_during_the_copy(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("paused")
    docker_lab.fill(volume, "echo x > /data/x")
    docker_lab.run("user", ["sleep", "3600"], volumes={volume: {"bind": "/data"}})
    own_dir = docker_lab.tmp_path / "own-dir"
    config = docker_lab.config(f'[[docker.volumes]]\nname = "{volume}"\ndir = "{own_dir}"\n'
                               'keep = 1\nquiesce = "pause"\n')
    run = run_action(config, f"volume:{volume}", "backup")
    assert run.state == "ok", run.outcome
    assert f"paused {docker_lab.name('user')} for the copy" in run.lines
    assert f"unpaused {docker_lab.name('user')}" in run.lines
    assert docker_lab.state("user")["State"]["Status"] == "running"
    assert len(list_backups(str(own_dir), volume)) == 1
    assert list_backups(str(docker_lab.backup_dir), volume) == []


def test_a_volume_name_with_a_path_is_not_offered(docker_lab: DockerLab) -> None:
    backend = backend_for(docker_lab.config())
    assert not backend.answers_for("volume:../../etc")
    assert backend.actions(None, "volume:../../etc", {}) == []
