"""Actions on fleet hosts (`--host NAME`): the remote host's read-only, locks and audit apply."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from console.core.audit import AuditLog
from console.sandbox.sshd_host import SimulatedFleet
from console.sandbox.systemd_machine import SystemdMachine
from tests.conftest import OPSCONSOLE
from tests.test_systemd_fixtures import UnitFactory, config_text, make_unit, prefix, sleeper

__all__ = ["make_unit", "prefix"]  # fixtures used by name


def opsconsole(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)


def main_pid(machine: SystemdMachine, unit: str) -> str:
    return machine.systemctl("show", "-P", "MainPID", unit).stdout.strip()


def test_remote_restart_is_audited_on_the_remote_host_with_the_operator(
        ssh_fleet: SimulatedFleet, systemd_machine: SystemdMachine, make_unit: UnitFactory,
        prefix: str, cli_env: dict[str, str]) -> None:
    unit = make_unit(f"{prefix}-api.service", sleeper())
    systemd_machine.systemctl("start", unit)
    before = main_pid(systemd_machine, unit)
    ssh_fleet.add("web1", config_text(systemd_machine, [f"{prefix}-*.service"]))
    config = ssh_fleet.console_config()

    unconfirmed = opsconsole(config, cli_env, "restart", f"unit:{unit}", "--host", "web1")
    assert unconfirmed.returncode == 3, unconfirmed.stdout + unconfirmed.stderr
    assert "pass --yes" in unconfirmed.stderr
    assert main_pid(systemd_machine, unit) == before

    done = opsconsole(config, cli_env, "restart", f"unit:{unit}", "--host", "web1", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith(f"web1: restarted {unit}: active")
    assert main_pid(systemd_machine, unit) != before

    records = AuditLog(ssh_fleet.state_dir("web1")).records()
    phases = [(r.phase, r.verb, r.target) for r in records]
    assert phases == [("started", "restart", f"unit:{unit}"),
                      ("finished", "restart", f"unit:{unit}")]
    operator = f"root@{socket.gethostname()} via ssh from 127.0.0.1"
    assert all(r.client == operator and r.who == "root" for r in records), records
    assert AuditLog(ssh_fleet.root / "console-state").records() == []  # not the console's log


def test_a_read_only_remote_host_refuses_a_restart(
        ssh_fleet: SimulatedFleet, systemd_machine: SystemdMachine, make_unit: UnitFactory,
        prefix: str, cli_env: dict[str, str]) -> None:
    unit = make_unit(f"{prefix}-api.service", sleeper())
    systemd_machine.systemctl("start", unit)
    before = main_pid(systemd_machine, unit)
    ssh_fleet.add("db1", config_text(systemd_machine, [f"{prefix}-*.service"]),
                  console="read_only = true")
    result = opsconsole(ssh_fleet.console_config(), cli_env, "restart", f"unit:{unit}",
                        "--host", "db1", "--yes")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"read-only mode: 'restart' changes unit:{unit} and is disabled" in result.stderr
    assert main_pid(systemd_machine, unit) == before
    refused = AuditLog(ssh_fleet.state_dir("db1")).records()
    assert [(r.phase, r.verb, r.client.split(" via ")[1]) for r in refused] == [
        ("refused", "restart", "ssh from 127.0.0.1")]
