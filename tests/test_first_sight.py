"""True on first sight: a console or cron check that has never seen a crash loop before
(an empty state dir) counts its restarts from the system's own record, not from memory.

A unit that systemd keeps restarting and a container that its restart policy keeps
restarting are both left to loop before anything looks; the very first poll, in process and
as a headless check, must call them flapping / a crash loop with the right count.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from console.core.model import Status
from console.sandbox.systemd_machine import SystemdMachine
from tests.conftest import OPSCONSOLE
from tests.test_docker_support import DockerLab, backend_for, checks, docker_lab, wait_for
from tests.test_systemd_fixtures import UnitFactory, make_backend, make_unit, prefix

__all__ = ["docker_lab", "make_unit", "prefix"]

CRASHY = ("[Unit]\nStartLimitIntervalSec=0\n[Service]\n"
          "ExecStart=/bin/sh -c 'echo up; sleep 0.2; echo Fatal: cannot open /srv/db >&2; exit 3'\n"
          "Restart=always\nRestartSec=100ms\n")


def _restarts(machine: SystemdMachine, unit: str) -> int:
    out = machine.systemctl("show", "-p", "NRestarts", "--value", unit).stdout
    return int(out.strip() or 0)


async def test_a_fresh_console_sees_a_unit_crash_loop_that_began_before_it(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        tmp_path: Path, cli_env: dict[str, str]) -> None:
    name = make_unit(f"{prefix}-crashy.service", CRASHY)
    systemd_machine.systemctl("start", name)
    wait_for(lambda: _restarts(systemd_machine, name) >= 4, what="four restarts")

    backend = make_backend(systemd_machine, [name], tmp_path / "fresh-state",
                           restarts={"warn": 2, "crit": 3}, restarts_window="10m")
    try:
        [check] = backend.evaluate(await backend.collect())
    finally:
        await backend.close()
    assert check.status is Status.CRITICAL, check.summary
    assert "flapping: restarted" in check.summary
    counted = int(check.summary.split("restarted ")[1].split("×")[0])
    assert counted >= 4
    assert "Fatal: cannot open /srv/db" in check.summary  # the cause is on the row

    config = tmp_path / "unit.toml"
    config.write_text(f'[[systemd]]\nunits = ["{name}"]\nbus = "{systemd_machine.bus_address}"\n'
                      f'journal_dir = "{systemd_machine.journal_dir}"\n'
                      'restarts = { warn = 2, crit = 3 }\n')
    env = dict(cli_env, OPSCONSOLE_STATE_DIR=str(tmp_path / "cron-state"))
    command = [*OPSCONSOLE, "--headless", "check", "--config", str(config)]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True,
                                   env=env, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "flapping: restarted" in done.stdout and "Fatal: cannot open /srv/db" in done.stdout


async def test_a_failed_unit_quotes_its_last_error_line(systemd_machine: SystemdMachine,
                                                  make_unit: UnitFactory, prefix: str,
                                                  tmp_path: Path) -> None:
    name = make_unit(f"{prefix}-broken.service", (
        "[Service]\nExecStart=/bin/sh -c 'echo starting; echo ERROR: missing /etc/app.env >&2;"
        " echo bye; exit 2'\n"))
    systemd_machine.systemctl("start", name, check=False)
    wait_for(lambda: systemd_machine.systemctl("is-failed", name, check=False).stdout.strip()
             == "failed", what="the unit to fail")
    backend = make_backend(systemd_machine, [name], tmp_path / "state")
    try:
        [check] = backend.evaluate(await backend.collect())
    finally:
        await backend.close()
    assert check.status is Status.CRITICAL
    assert check.summary.startswith("failed") and "ERROR: missing /etc/app.env" in check.summary
    assert "last error line in its journal: ERROR: missing /etc/app.env" in check.details


def test_a_fresh_console_counts_a_containers_restarts_from_docker_events(
        docker_lab: DockerLab) -> None:
    docker_lab.run("loop", ["sh", "-c", "echo Fatal: ledger exists >&2; sleep 0.2; exit 1"],
                   restart_policy={"Name": "always"})
    wait_for(lambda: docker_lab.state("loop")["RestartCount"] >= 3, timeout=60,
             what="three policy restarts")
    backend = backend_for(docker_lab.config("crash_restarts = 3\n"))
    result = checks(backend)[f"container:{docker_lab.name('loop')}"]
    assert result.status is Status.CRITICAL, result.summary
    assert result.summary.startswith("crash loop")
    counted = int(result.summary.split("restarted ")[1].split("×")[0])
    assert counted >= 3
