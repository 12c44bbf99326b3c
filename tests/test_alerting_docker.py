"""A maintenance window that stops a real container and starts it again at its end."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import OPSCONSOLE
from tests.support.receivers import recording_server
from tests.test_docker_support import DockerLab, docker_lab, wait_for

__all__ = ["docker_lab"]


def opsconsole(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)


def test_maintenance_stop_and_end_start_the_container(docker_lab: DockerLab,
                                                      cli_env: dict[str, str]) -> None:
    docker_lab.run("api", ["sleep", "3600"])
    target = f"container:{docker_lab.name('api')}"
    with recording_server() as (address, received):
        config = str(docker_lab.config_path(
            f"\n[[notify]]\nname = 'ops'\nurl = 'json://{address}/hook'\n"))
        assert opsconsole(cli_env, "check", "--config", config).returncode == 0

        started = opsconsole(cli_env, "maintenance", "start", target, "--stop", "--for", "1h",
                             "--reason", "ledger migration", "--yes", "--config", config)
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"stopped {target}" in started.stdout
        wait_for(lambda: not docker_lab.state("api")["State"]["Running"], what="the stop")
        assert f"now CRITICAL {target}" in started.stdout

        during = opsconsole(cli_env, "check", "--config", config)
        assert during.returncode == 0, during.stdout
        assert f"SILENCED CRITICAL {target}" in during.stdout
        assert received.bodies("/hook") == []

        ended = opsconsole(cli_env, "maintenance", "end", target, "--yes", "--config", config)
        assert ended.returncode == 0, ended.stdout + ended.stderr
        assert f"started {target}" in ended.stdout
        assert docker_lab.state("api")["State"]["Running"]
        assert f"now OK {target}" in ended.stdout

        after = opsconsole(cli_env, "check", "--config", config)
        assert after.returncode == 0
        assert received.bodies("/hook") == [], "down and up inside the window: nothing to tell"
        audit = opsconsole(cli_env, "audit", "--config", config).stdout
        for verb in ("maintenance", "stop", "start", "maintenance-end"):
            assert f" {verb} {target}" in audit, audit
        assert json.loads(opsconsole(cli_env, "silences", "--format", "json", "--config",
                                     config).stdout)["silences"] == []
