"""Volume backups are private files, and a restore brings back no device node nor set-id bit
(against a real dockerd)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

from backends.docker.volumes import RESTORE_OLD, list_backups
from tests.test_docker_actions import run_action
from tests.test_docker_support import BUSYBOX_IMAGE, DockerLab, docker_lab

__all__ = ["docker_lab"]


def modes(lab: DockerLab, volume: str) -> str:
    out: bytes = lab.client.containers.run(
        BUSYBOX_IMAGE, ["sh", "-c", "cd /data && for f in *; do stat -c '%n %a %F' \"$f\"; done"],
        remove=True, network_mode="none", volumes={volume: {"bind": "/data"}})
    return out.decode()


def test_archive_is_private_and_set_id_bits_do_not_come_back(docker_lab: DockerLab) -> None:
    docker_lab.backup_dir.mkdir(mode=0o755)
    os.chmod(docker_lab.backup_dir, 0o755)  # a shared dir that was there before
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "echo x > /data/tool && chmod 4755 /data/tool && "
                            "echo y > /data/group && chmod 2755 /data/group && "
                            "echo z > /data/plain && mkdir /data/shared && chmod 2775 /data/shared")
    config = docker_lab.config()
    backup = run_action(config, f"volume:{volume}", "backup")
    assert backup.state == "ok", backup.outcome
    made = list_backups(str(docker_lab.backup_dir), volume)[0]
    assert stat.S_IMODE(os.stat(made.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(made.path + ".sha256").st_mode) == 0o600

    restore = run_action(config, f"volume:{volume}", "restore", {"from": made.name})
    assert restore.state == "ok", restore.outcome
    shown = modes(docker_lab, volume)
    assert "tool 755 regular file" in shown and "group 755 regular file" in shown, shown
    assert sorted(line for line in restore.lines if "set-id" in line) == [
        "./group (set-id 2755): restored without its set-id bits",
        "./tool (set-id 4755): restored without its set-id bits"]  # and no other file


def test_an_archive_with_a_device_node_is_refused(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "echo keep > /data/file")
    before = docker_lab.listing(volume)
    docker_lab.backup_dir.mkdir(mode=0o700)
    name = f"{volume}-20260101T000000Z.tar.gz"
    archive = docker_lab.backup_dir / name
    with tarfile.open(archive, "w:gz") as out:
        for n in range(4):  # a device node is found behind any number of set-id files
            tool = tarfile.TarInfo(f"./tool{n}")
            tool.mode, tool.size = 0o4755, 2
            out.addfile(tool, io.BytesIO(b"x\n"))
        for n in range(4):
            info = tarfile.TarInfo(f"./mem{n}")
            info.type, info.devmajor, info.devminor, info.mode = tarfile.CHRTYPE, 1, 1, 0o666
            out.addfile(info)
        data = tarfile.TarInfo("./file")
        data.size = 4
        out.addfile(data, io.BytesIO(b"new\n"))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    Path(str(archive) + ".sha256").write_text(f"{digest}  {name}\n")

    restore = run_action(docker_lab.config(), f"volume:{volume}", "restore", {"from": name})
    assert restore.state == "failed"
    assert restore.outcome is not None and restore.outcome.message.endswith(
        f"{name} holds 4 device node(s) (./mem0, ./mem1, ./mem2, …): a volume backup never "
        "needs them, so it is not restored")
    assert docker_lab.listing(volume) == before


def test_a_restore_that_finds_an_earlier_one_cut_short_says_what_to_do(
        docker_lab: DockerLab) -> None:
    """The helper refuses when an earlier restore left the previous content aside; its own
    words reach the operator, and the volume is not changed."""
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "echo v1 > /data/file")
    config = docker_lab.config()
    backup = run_action(config, f"volume:{volume}", "backup")
    assert backup.state == "ok", backup.outcome
    made = list_backups(str(docker_lab.backup_dir), volume)[0]
    docker_lab.fill(volume, f"mkdir /data/{RESTORE_OLD} && echo v0 > /data/{RESTORE_OLD}/file"
                            " && echo v2 > /data/file")
    before = docker_lab.listing(volume)

    restore = run_action(config, f"volume:{volume}", "restore", {"from": made.name})
    assert restore.state == "failed"
    assert restore.outcome is not None and restore.outcome.message.endswith(
        f"an earlier restore was interrupted: the volume's previous content is in "
        f"{RESTORE_OLD}; move it back or delete it, then retry")
    assert docker_lab.listing(volume) == before
