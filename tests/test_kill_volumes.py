"""Volume backups and restores SIGKILLed at random moments, on a real dockerd (seeded:
OPSCONSOLE_KILL_SEED).

After every kill: an archive under its final name matches its recorded sha256 and lists with
tar; a container the run paused or stopped is on record for the next run to release; once
the helper container left behind has finished, the volume holds its old or its restored
content, whole. The next run releases and cleans everything and succeeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from pathlib import Path
from typing import Any

from backends.docker.volumes import HELD, VOLUME_LABEL
from tests.conftest import OPSCONSOLE
from tests.support.kill_runs import FinalFiles, Ran, kill_repeatedly, run_to_end, tar_lists
from tests.test_docker_support import BUSYBOX_IMAGE, DockerLab, docker_lab, wait_for

__all__ = ["docker_lab"]
KILLS = 20


def _config(lab: DockerLab, quiesce: str) -> Path:
    return lab.write_config(
        f'[[docker]]\nhost = "{lab.engine.host}"\ncontainers = ["{lab.prefix}-*"]\n'
        f'helper_image = "{BUSYBOX_IMAGE}"\ntimeout = 10\nstop_timeout = 1\n'
        f'backup = {{ dir = "{lab.backup_dir}", keep = 50, quiesce = "{quiesce}" }}\n')


def _helpers(lab: DockerLab, volume: str) -> list[dict[str, Any]]:
    """The volume's helper containers, in one call (a run may be removing one meanwhile)."""
    found: list[dict[str, Any]] = lab.client.api.containers(
        all=True, filters={"label": f"{VOLUME_LABEL}={volume}"})
    return found


def _settle(lab: DockerLab, volume: str) -> None:
    """Wait until no helper a killed run left is still working on the volume.

    A run killed just after asking the engine to start a helper leaves it `created` for a
    moment before it runs: such a helper is given a few seconds to start, then waited for.
    Each decision is taken on one listing, since a helper may start between two.
    """
    def states() -> set[str]:
        return {h["State"] for h in _helpers(lab, volume)}

    def idle() -> bool:
        return not states() & {"running", "restarting"}

    wait_for(idle, 60, "the helper containers to finish")
    if "created" in states():
        with contextlib.suppress(AssertionError):  # never started: nothing will change
            wait_for(lambda: "created" not in states(), 5, "a created helper to start")
    wait_for(idle, 60, "the helper containers to finish")


def _mountpoint(lab: DockerLab, volume: str) -> Path:
    """Where the engine keeps the volume's files: read and written from here, no container
    needed (the tests run as root)."""
    return Path(lab.client.api.inspect_volume(volume)["Mountpoint"])


def _listing(root: Path) -> dict[str, str]:
    """Every path in the volume with its type or content hash."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        found[key] = ("dir" if path.is_dir() else
                      hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def _held_on_record(lab: DockerLab, volume: str, app: Any, when: str) -> None:
    """A container the killed run left paused or stopped is on record for the next run."""
    app.reload()
    if app.status != "running":
        assert (lab.backup_dir / f".{volume}{HELD}").exists(), \
            f"{when}: {app.name} left {app.status} with no record for the next run to undo"


def _finals(lab: DockerLab) -> FinalFiles:
    return FinalFiles(lab.backup_dir,
                      lambda name: name.startswith(".") or name.endswith(".sha256"),
                      tar_lists(b"./data.bin"))


def _all_clean(lab: DockerLab, volume: str, app: Any, last: Ran) -> None:
    assert last.returncode == 0, last.output
    app.reload()
    assert app.status == "running", f"{app.name} is {app.status} after the last run"
    assert _helpers(lab, volume) == [], "helper containers left behind"


def test_a_volume_backup_killed_at_any_moment(docker_lab: DockerLab, tmp_path: Path,
                                              cli_env: dict[str, str]) -> None:
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "head -c 1000000 /dev/urandom > /data/data.bin && "
                            "echo notes > /data/notes")
    app = docker_lab.run("app", ["sleep", "3600"], volumes={volume: {"bind": "/data"}})
    config = _config(docker_lab, "pause")
    argv = [*OPSCONSOLE, "--config", str(config), "--headless", "backup", f"volume:{volume}",
            "--yes"]
    finals = _finals(docker_lab)

    def after_kill(when: str) -> None:
        finals.check(when)
        _held_on_record(docker_lab, volume, app, when)

    kill_repeatedly(argv, cli_env, tmp_path, KILLS, after_kill)
    last = run_to_end(argv, cli_env, tmp_path / "last.log")
    finals.check("after the last run")
    _all_clean(docker_lab, volume, app, last)
    finals.only_published(".tar.gz", (".sha256",))


def test_a_volume_restore_killed_at_any_moment(docker_lab: DockerLab, tmp_path: Path,
                                               cli_env: dict[str, str]) -> None:
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "head -c 1000000 /dev/urandom > /data/data.bin && "
                            "mkdir /data/dir && echo new > /data/dir/file")
    root = _mountpoint(docker_lab, volume)
    new = _listing(root)
    app = docker_lab.run("app", ["sleep", "3600"], volumes={volume: {"bind": "/data"}})
    config = _config(docker_lab, "none")
    backup = run_to_end([*OPSCONSOLE, "--config", str(config), "--headless", "backup",
                         f"volume:{volume}", "--yes"], cli_env, tmp_path / "backup.log")
    assert backup.returncode == 0, backup.output
    name = next(docker_lab.backup_dir.glob("*.tar.gz")).name

    def make_old() -> None:
        for path in root.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        (root / "old").write_text("old\n")

    make_old()
    old = _listing(root)
    argv = [*OPSCONSOLE, "--config", str(config), "--headless", "restore", f"volume:{volume}",
            "--from", name, "--yes"]
    seen = {"old": 0, "new": 0}

    def after_kill(when: str) -> None:
        _held_on_record(docker_lab, volume, app, when)
        _settle(docker_lab, volume)
        content = _listing(root)
        assert content in (old, new), f"{when}: the volume holds neither its old nor its " \
                                      f"restored content: {sorted(content)}"
        seen["old" if content == old else "new"] += 1

    kill_repeatedly(argv, cli_env, tmp_path, KILLS, after_kill, before=make_old)
    make_old()
    last = run_to_end(argv, cli_env, tmp_path / "last.log")
    _all_clean(docker_lab, volume, app, last)
    assert _listing(root) == new
    _finals(docker_lab).only_published(".tar.gz", (".sha256",))
    print(f"after the kills: {seen}")
