"""A volume backup's and restore's steps, in order, against a real dockerd: nothing is made
for a volume that does not exist; the backup directory and the partial file are private from
the start; containers are on record before they are paused or stopped, so a killed run can
be undone by the next one."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from backends.docker import volumes
from backends.docker.volumes import (
    HELD,
    BackupFile,
    VolumeError,
    backup_volume,
    hold,
    list_backups,
    restore_volume,
)
from tests.test_docker_support import BUSYBOX_IMAGE, DockerLab, docker_lab, wait_for

__all__ = ["docker_lab"]


def _backup(lab: DockerLab, volume: str, directory: Path, quiesce: str = "none",
            log: list[str] | None = None) -> None:
    backup_volume(lab.client, volume, str(directory), keep=5, image=BUSYBOX_IMAGE,
                  quiesce=quiesce, timeout=120, log=(log if log is not None else []).append)


def _backed_up(lab: DockerLab) -> tuple[str, BackupFile]:
    """A new volume holding `file` = v1, and its one backup."""
    volume = lab.volume("data")
    lab.fill(volume, "echo v1 > /data/file")
    _backup(lab, volume, lab.backup_dir)
    [made] = list_backups(str(lab.backup_dir), volume)
    return volume, made


def test_a_backup_of_a_missing_volume_makes_nothing(docker_lab: DockerLab) -> None:
    missing = docker_lab.name("missing")
    with pytest.raises(VolumeError, match=f"^volume {missing} does not exist on this engine$"):
        _backup(docker_lab, missing, docker_lab.backup_dir)
    assert docker_lab.client.volumes.list(filters={"name": missing}) == []
    assert not docker_lab.backup_dir.exists()


def test_the_backup_directory_and_partial_file_are_private_from_the_start(
        docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("big")
    docker_lab.fill(volume, "dd if=/dev/urandom of=/data/blob bs=1M count=32 2>/dev/null")
    directory = docker_lab.tmp_path / "new" / "backups"
    first_seen: list[int] = []

    def watch() -> None:
        part = wait_for(lambda: next(directory.glob("*.part"), None), timeout=60,
                        what="the partial file")
        first_seen.append(stat.S_IMODE(os.stat(part).st_mode))

    watcher = threading.Thread(target=watch)
    watcher.start()
    _backup(docker_lab, volume, directory)
    watcher.join()
    assert first_seen == [0o600]  # before the helper wrote a byte into it
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    [made] = list_backups(str(directory), volume)
    assert stat.S_IMODE(os.stat(made.path).st_mode) == 0o600


def _record(directory: Path, volume: str) -> dict[str, object]:
    return dict(json.loads((directory / f".{volume}{HELD}").read_text()))


@pytest.mark.parametrize("quiesce", ["pause", "stop"])
def test_containers_are_on_record_before_a_backup_pauses_or_stops_them(
        docker_lab: DockerLab, quiesce: str) -> None:
    volume = docker_lab.volume("data")
    user = docker_lab.run("app", ["sleep", "600"], volumes={volume: {"bind": "/data"}})
    seen: list[dict[str, object]] = []

    class Log(list[str]):
        def append(self, line: str) -> None:
            super().append(line)
            if line.endswith(" for the copy"):  # just after the container was quiesced
                seen.append(_record(docker_lab.backup_dir, volume)
                            | {"status": docker_lab.state("app")["State"]["Status"]})

    lines = Log()
    _backup(docker_lab, volume, docker_lab.backup_dir, quiesce, lines)
    held = {"pause": "paused", "stop": "exited"}[quiesce]
    assert seen == [{"how": quiesce, "containers": [user.id], "status": held}]
    assert not (docker_lab.backup_dir / f".{volume}{HELD}").exists()  # released: forgotten
    assert docker_lab.state("app")["State"]["Status"] == "running"
    [made] = list_backups(str(docker_lab.backup_dir), volume)
    assert made.checksum is not None
    assert lines == [
        f"{'paused' if quiesce == 'pause' else 'stopped'} {user.name} for the copy",
        f"writing .{made.name}.part with {BUSYBOX_IMAGE}",
        f"unpaused {user.name}" if quiesce == "pause" else f"started {user.name} again",
        f"wrote {made.name} ({made.size} bytes, sha256 {made.checksum[:12]}…)"]


def test_containers_are_on_record_before_a_restore_stops_them(docker_lab: DockerLab) -> None:
    volume, made = _backed_up(docker_lab)
    user = docker_lab.run("app", ["sleep", "600"], volumes={volume: {"bind": "/data"}})
    seen: list[dict[str, object]] = []
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("stopping "):  # just before the container is stopped
            seen.append(_record(docker_lab.backup_dir, volume))

    restarted = restore_volume(docker_lab.client, volume, made, image=BUSYBOX_IMAGE,
                               stop_timeout=5, timeout=120, log=log)
    assert seen == [{"how": "stop", "containers": [user.id]}]
    assert restarted == [user.name]
    assert not (docker_lab.backup_dir / f".{volume}{HELD}").exists()
    assert [line for line in lines if user.name in line] == [f"stopping {user.name}",
                                                             f"started {user.name}"]


def test_a_container_that_cannot_start_again_after_a_restore_is_named(
        docker_lab: DockerLab) -> None:
    volume, made = _backed_up(docker_lab)
    user = docker_lab.run("app", ["sleep", "600"], volumes={volume: {"bind": "/data"}})
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("unpacking "):  # someone removes the stopped container meanwhile
            user.remove(force=True)

    restarted = restore_volume(docker_lab.client, volume, made, image=BUSYBOX_IMAGE,
                               stop_timeout=5, timeout=120, log=log)
    assert restarted == []
    [told] = [line for line in lines if line.startswith("could not start ")]
    assert told.startswith(f"could not start {user.name}: ") and "No such container" in told


def test_a_backup_that_cannot_take_its_name_leaves_nothing(
        docker_lab: DockerLab, monkeypatch: pytest.MonkeyPatch) -> None:
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "echo v1 > /data/file")
    taken: list[Path] = []

    def taken_meanwhile(volume: str, now: float, directory: Path) -> str:
        """The name chosen, then taken by a directory before the backup can publish."""
        chosen = real_name(volume, now, directory)
        (directory / chosen).mkdir()
        taken.append(directory / chosen)
        return chosen

    real_name = volumes.backup_name
    monkeypatch.setattr(volumes, "backup_name", taken_meanwhile)
    with pytest.raises(VolumeError, match=r"^not finished: Is a directory$"):
        _backup(docker_lab, volume, docker_lab.backup_dir)
    assert sorted(docker_lab.backup_dir.iterdir()) == taken  # no .part, no .sha256


def test_retention_and_restore_say_what_they_did(docker_lab: DockerLab) -> None:
    volume, first = _backed_up(docker_lab)
    lines: list[str] = []
    backup_volume(docker_lab.client, volume, str(docker_lab.backup_dir), keep=1,
                  image=BUSYBOX_IMAGE, quiesce="none", timeout=120, log=lines.append)
    [second] = list_backups(str(docker_lab.backup_dir), volume)
    assert lines[-1] == f"retention (keep 1) removed {first.name}"
    lines.clear()
    restore_volume(docker_lab.client, volume, second, image=BUSYBOX_IMAGE, stop_timeout=5,
                   timeout=120, log=lines.append)
    assert lines == [f"verifying the sha256 of {second.name}",
                     f"unpacking {second.name} into {volume}",
                     f"{volume} now holds the content of {second.name}"]


def test_a_restore_stops_a_paused_user_and_starts_it_again(docker_lab: DockerLab) -> None:
    volume, made = _backed_up(docker_lab)
    docker_lab.fill(volume, "echo v2 > /data/file")
    user = docker_lab.run("app", ["sleep", "600"], volumes={volume: {"bind": "/data"}})
    user.pause()
    restarted = restore_volume(docker_lab.client, volume, made, image=BUSYBOX_IMAGE,
                               stop_timeout=5, timeout=120, log=[].append)
    assert restarted == [user.name]
    assert docker_lab.state("app")["State"]["Status"] == "running"
    assert "v1" in docker_lab.client.containers.run(
        BUSYBOX_IMAGE, ["cat", "/data/file"], remove=True, network_mode="none",
        volumes={volume: {"bind": "/data"}}).decode()


def test_a_backup_dir_that_cannot_be_made_is_one_line(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("data")
    blocker = docker_lab.tmp_path / "not-a-dir"
    blocker.write_text("a file where the backup dir's parent should be")
    with pytest.raises(VolumeError) as failure:
        _backup(docker_lab, volume, blocker / "backups")
    assert str(failure.value) == f"cannot create backup dir {blocker / 'backups'}: Not a directory"


def test_a_backup_never_writes_into_a_part_file_it_did_not_create(
        docker_lab: DockerLab, monkeypatch: pytest.MonkeyPatch) -> None:
    volume = docker_lab.volume("data")
    others: list[Path] = []

    def part_taken_meanwhile(volume: str, now: float, directory: Path) -> str:
        """Another run's .part appears under the chosen name before this one opens it."""
        chosen = real_name(volume, now, directory)
        other = directory / f".{chosen}.part"
        other.write_text("another run's archive")
        others.append(other)
        return chosen

    real_name = volumes.backup_name
    monkeypatch.setattr(volumes, "backup_name", part_taken_meanwhile)
    with pytest.raises(VolumeError) as failure:
        _backup(docker_lab, volume, docker_lab.backup_dir)
    [other] = others
    assert str(failure.value) == f"cannot write {other.name} in {docker_lab.backup_dir}: File exists"
    assert sorted(docker_lab.backup_dir.iterdir()) == [other]
    assert other.read_text() == "another run's archive"


def test_a_restore_first_undoes_what_a_killed_run_left(docker_lab: DockerLab) -> None:
    volume, made = _backed_up(docker_lab)
    other = docker_lab.run("other", ["sleep", "600"])  # paused by a backup that was killed
    hold(docker_lab.backup_dir, volume, "pause", [other])
    other.pause()
    lines: list[str] = []
    restore_volume(docker_lab.client, volume, made, image=BUSYBOX_IMAGE, stop_timeout=5,
                   timeout=120, log=lines.append)
    assert f"unpaused {other.name}, left paused by an interrupted run" in lines
    assert docker_lab.state("other")["State"]["Status"] == "running"
