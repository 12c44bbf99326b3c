"""What a volume backup or restore holds is given back by the next run when the first was
killed: the record written before pausing or stopping, its release, and the whole recovery
(helpers, held containers, partial files) (against a real dockerd)."""

from __future__ import annotations

import json
from pathlib import Path

from backends.docker.inspect import HELPER_LABEL
from backends.docker.volumes import HELD, VOLUME_LABEL, hold, recover, release_held
from tests.test_docker_support import DockerLab, docker_lab, wait_for

__all__ = ["docker_lab"]


def _status(lab: DockerLab, what: str) -> str:
    return str(lab.state(what)["State"]["Status"])


def test_a_stop_record_unpauses_and_starts_what_it_names_then_is_gone(
        docker_lab: DockerLab) -> None:
    paused = docker_lab.run("paused", ["sleep", "600"])
    stopped = docker_lab.run("stopped", ["sleep", "600"])
    bystander = docker_lab.run("bystander", ["sleep", "600"])
    volume = docker_lab.volume("data")
    directory = docker_lab.tmp_path
    hold(directory, volume, "stop", [paused, stopped])
    record = json.loads((directory / f".{volume}{HELD}").read_text())
    assert record == {"how": "stop", "containers": [paused.id, stopped.id]}
    paused.pause()
    stopped.stop(timeout=1)
    bystander.stop(timeout=1)  # stopped by someone else: not the run's to start

    lines: list[str] = []
    release_held(docker_lab.client, directory, volume, lines.append)
    assert (_status(docker_lab, "paused"), _status(docker_lab, "stopped"),
            _status(docker_lab, "bystander")) == ("running", "running", "exited")
    assert lines == [f"unpaused {paused.name}, left paused by an interrupted run",
                     f"started {stopped.name}, left stopped by an interrupted run"]
    assert not (directory / f".{volume}{HELD}").exists()
    release_held(docker_lab.client, directory, volume, lines.append)  # nothing left to do
    assert len(lines) == 2


def test_a_pause_record_never_starts_a_container_that_is_stopped(
        docker_lab: DockerLab) -> None:
    stopped = docker_lab.run("stopped", ["sleep", "600"])
    paused = docker_lab.run("paused", ["sleep", "600"])
    volume = docker_lab.volume("data")
    directory = docker_lab.tmp_path
    hold(directory, volume, "pause", [stopped, paused])
    stopped.stop(timeout=1)  # its own process ended while the run was away
    paused.pause()
    lines: list[str] = []
    release_held(docker_lab.client, directory, volume, lines.append)
    assert (_status(docker_lab, "stopped"), _status(docker_lab, "paused")) == (
        "exited", "running")
    assert lines == [f"unpaused {paused.name}, left paused by an interrupted run"]
    assert not (directory / f".{volume}{HELD}").exists()


def test_a_damaged_record_or_a_gone_container_is_said_and_forgotten(
        docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("data")
    directory: Path = docker_lab.tmp_path
    record = directory / f".{volume}{HELD}"
    record.write_text('{"how": "stop", "containers": ["0123456789abcdef0123"]}')
    lines: list[str] = []
    release_held(docker_lab.client, directory, volume, lines.append)
    assert len(lines) == 1 and lines[0].startswith("could not release container 0123456789ab: ")
    assert not record.exists()
    record.write_text("{half a record")
    release_held(docker_lab.client, directory, volume, lines.append)
    assert len(lines) == 1 and not record.exists()


def test_recover_settles_helpers_releases_containers_and_removes_partial_files(
        docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("data")
    directory = docker_lab.tmp_path
    helper = docker_lab.run("helper", ["sleep", "600"],
                            labels={HELPER_LABEL: "backup", VOLUME_LABEL: volume})
    paused = docker_lab.run("paused", ["sleep", "600"])
    hold(directory, volume, "pause", [paused])
    paused.pause()
    part = directory / f"{volume}-20260101T000000Z.tar.gz.part"
    part.write_bytes(b"half an archive")
    lines: list[str] = []
    recover(docker_lab.client, directory, volume, 30, lines.append)
    assert docker_lab.client.containers.list(all=True, filters={"id": helper.id}) == []
    assert _status(docker_lab, "paused") == "running"
    assert not part.exists() and not (directory / f".{volume}{HELD}").exists()
    assert lines == [f"removing {helper.name}, left by an interrupted backup",
                     f"unpaused {paused.name}, left paused by an interrupted run",
                     f"removed {part.name} left by an interrupted backup"]


def test_recover_lets_a_restore_helper_finish_and_removes_exited_ones(
        docker_lab: DockerLab) -> None:
    """A restore helper still running is mid-swap: stopping it would leave the volume's old
    content aside, so it is waited for; helpers that already ended are removed too."""
    volume = docker_lab.volume("data")
    restoring = docker_lab.run("restoring", ["sh", "-c", "sleep 2; touch /data/swapped"],
                               labels={HELPER_LABEL: "restore", VOLUME_LABEL: volume},
                               volumes={volume: {"bind": "/data"}})
    ended = docker_lab.run("ended", ["true"], labels={HELPER_LABEL: "backup",
                                                      VOLUME_LABEL: volume})
    wait_for(lambda: _status(docker_lab, "ended") == "exited", what="the helper to end")
    lines: list[str] = []
    recover(docker_lab.client, docker_lab.tmp_path, volume, 60, lines.append)
    for helper in (restoring, ended):
        assert docker_lab.client.containers.list(all=True, filters={"id": helper.id}) == []
    assert "./swapped" in docker_lab.listing(volume)  # it finished its work
    waited = f"waiting for {restoring.name}, left running by an interrupted restore"
    assert sorted(lines) == sorted([waited,
                                    f"removing {restoring.name}, left by an interrupted restore",
                                    f"removing {ended.name}, left by an interrupted backup"])
    assert lines.index(waited) < lines.index(f"removing {restoring.name}, left by an "
                                             "interrupted restore")
