"""The headless commands on Docker targets, run as a subprocess: output and exit codes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from backends.docker.volumes import list_backups
from tests.conftest import OPSCONSOLE
from tests.test_docker_support import LEDGER_SCRIPT, DockerLab, docker_lab, wait_for

__all__ = ["docker_lab"]


def opsconsole(cli_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, *args], env=cli_env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_check_exit_codes_follow_container_state(docker_lab: DockerLab,
                                                 cli_env: dict[str, str]) -> None:
    docker_lab.run("api", ["sleep", "3600"])
    config = str(docker_lab.config_path())
    ok = opsconsole(cli_env, "--config", config, "--headless", "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"OK container:{docker_lab.name('api')} - up " in ok.stdout

    volume = docker_lab.volume("ledger-data")
    docker_lab.run("ledger", ["sh", "-c", LEDGER_SCRIPT],
                   restart_policy={"Name": "unless-stopped"}, volumes={volume: {"bind": "/data"}})
    wait_for(lambda: docker_lab.state("ledger")["State"]["Running"], what="ledger start")
    docker_lab.client.api.restart(docker_lab.name("ledger"), timeout=1)
    wait_for(lambda: docker_lab.state("ledger")["RestartCount"] >= 1, what="crash loop")
    crit = opsconsole(cli_env, "--config", config, "--headless", "check")
    assert crit.returncode == 2, crit.stdout + crit.stderr
    assert crit.stdout.startswith("OPSCONSOLE CRITICAL")
    assert f"CRITICAL container:{docker_lab.name('ledger')} - crash loop" in crit.stdout
    assert "Fatal: On start, ledger directory should not exist" in crit.stdout


def test_restart_and_backup_commands(docker_lab: DockerLab, cli_env: dict[str, str]) -> None:
    volume = docker_lab.volume("data")
    docker_lab.fill(volume, "echo kept > /data/file")
    docker_lab.run("svc", ["sleep", "3600"], volumes={volume: {"bind": "/data"}})
    config = str(docker_lab.config_path())
    target = f"container:{docker_lab.name('svc')}"
    before = docker_lab.state("svc")["State"]["StartedAt"]

    unconfirmed = opsconsole(cli_env, "--config", config, "--headless", "restart", target)
    assert unconfirmed.returncode == 3
    assert "pass --yes" in unconfirmed.stderr
    read_only = opsconsole(cli_env, "--config", config, "--read-only", "--headless", "restart",
                           target, "--yes")
    assert read_only.returncode == 3
    assert docker_lab.state("svc")["State"]["StartedAt"] == before

    restarted = opsconsole(cli_env, "--config", config, "--headless", "restart", target, "--yes")
    assert restarted.returncode == 0, restarted.stderr
    assert f"{target} restarted: now running" in restarted.stdout
    assert docker_lab.state("svc")["State"]["StartedAt"] != before

    backup = opsconsole(cli_env, "--config", config, "--headless", "backup", f"volume:{volume}",
                        "--yes")
    assert backup.returncode == 0, backup.stderr
    made = list_backups(str(docker_lab.backup_dir), volume)
    assert len(made) == 1 and made[0].path in backup.stdout

    gone = opsconsole(cli_env, "--config", config, "--headless", "backup",
                      f"volume:{docker_lab.name('no-such-volume')}", "--yes")
    assert gone.returncode == 1
    assert "does not exist on this engine" in gone.stderr

    audit = opsconsole(cli_env, "--config", config, "--headless", "audit")
    assert audit.returncode == 0
    assert f"restart {target}" in audit.stdout


def test_engine_down_is_critical_with_a_one_line_reason(
        tmp_path: Path, write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    sock = tmp_path / "gone.sock"
    config = write_config(f'[[docker]]\nhost = "unix://{sock}"\ncontainers = ["ledger"]\n')
    result = opsconsole(cli_env, "--config", str(config), "--headless", "check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"Docker engine socket {sock} does not exist" in result.stdout
    restart = opsconsole(cli_env, "--config", str(config), "--headless", "restart",
                         "container:ledger", "--yes")
    assert restart.returncode in (1, 3)
    assert "does not exist" in (restart.stdout + restart.stderr)


def test_headless_stop_then_start_a_container(docker_lab: DockerLab,
                                              cli_env: dict[str, str]) -> None:
    docker_lab.run("worker", ["sleep", "3600"])
    config = str(docker_lab.config_path())
    target = f"container:{docker_lab.name('worker')}"

    stopped = opsconsole(cli_env, "--config", config, "--headless", "stop", target, "--yes")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert docker_lab.state("worker")["State"]["Running"] is False
    again = opsconsole(cli_env, "--config", config, "--headless", "stop", target, "--yes")
    assert again.returncode == 3 and "is not running" in again.stderr

    started = opsconsole(cli_env, "--config", config, "--headless", "start", target, "--yes")
    assert started.returncode == 0, started.stdout + started.stderr
    assert docker_lab.state("worker")["State"]["Running"] is True
    audit = opsconsole(cli_env, "--config", config, "--headless", "audit")
    assert f"stop {target}" in audit.stdout and f"start {target}" in audit.stdout
