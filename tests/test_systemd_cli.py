"""`opsconsole --headless check` and `restart unit:NAME` against the real systemd in nspawn."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from console.core.audit import AuditLog
from console.sandbox.processes import wait_for
from console.sandbox.systemd_machine import SystemdMachine
from tests.conftest import OPSCONSOLE
from tests.test_systemd_fixtures import UnitFactory, config_text, make_unit, prefix, sleeper

__all__ = ["make_unit", "prefix"]  # fixtures used by name


def opsconsole(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)


def test_check_exit_codes_follow_the_worst_unit(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    good = make_unit(f"{prefix}-good.service", sleeper())
    bad = make_unit(f"{prefix}-bad.service", "[Service]\nExecStart=/bin/sh -c 'exit 3'\n")
    systemd_machine.systemctl("start", good)
    systemd_machine.systemctl("start", bad, check=False)

    healthy = opsconsole(write_config(config_text(systemd_machine, [good]), "ok.toml"),
                         cli_env, "check")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert healthy.stdout.startswith("OPSCONSOLE OK - 1 ok")
    assert f"OK unit:{good} - active (running)" in healthy.stdout

    both = opsconsole(write_config(config_text(systemd_machine, [f"{prefix}-*.service"]),
                                   "both.toml"), cli_env, "check", "--format", "text")
    assert both.returncode == 2, both.stdout + both.stderr
    assert both.stdout.startswith("OPSCONSOLE CRITICAL - 1 ok, 0 warning, 1 critical")
    assert f"CRITICAL unit:{bad} - failed since " in both.stdout
    assert f"'{good}_restarts'=0;3;6;0" in both.stdout.splitlines()[0]


def test_check_with_an_unreachable_bus_is_critical(tmp_path: Path,
                                                   write_config: Callable[..., Path],
                                                   cli_env: dict[str, str]) -> None:
    config = write_config(f'[[systemd]]\nunits = ["app*.service"]\n'
                          f'bus = "unix:path={tmp_path}/nothing"\n')
    result = opsconsole(config, cli_env, "check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "CRITICAL unit:app*.service - unreachable since " in result.stdout
    assert f"cannot reach unix:path={tmp_path}/nothing" in result.stdout


def test_headless_restart_exit_codes(systemd_machine: SystemdMachine, make_unit: UnitFactory,
                                     prefix: str, write_config: Callable[..., Path],
                                     cli_env: dict[str, str], state_dir: Path) -> None:
    name = make_unit(f"{prefix}-api.service", sleeper())
    systemd_machine.systemctl("start", name)
    pid_before = systemd_machine.systemctl("show", "-P", "MainPID", name).stdout.strip()
    config = write_config(config_text(systemd_machine, [f"{prefix}-*.service"]))

    refused = opsconsole(config, cli_env, "restart", f"unit:{name}")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "pass --yes" in refused.stderr
    assert systemd_machine.systemctl("show", "-P", "MainPID", name).stdout.strip() == pid_before

    done = opsconsole(config, cli_env, "restart", f"unit:{name}", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().startswith(f"restarted {name}: active (running)")
    assert systemd_machine.systemctl("show", "-P", "MainPID", name).stdout.strip() != pid_before

    short = opsconsole(config, cli_env, "restart", f"unit:{prefix}-api", "--yes")
    assert short.returncode == 0, short.stdout + short.stderr  # .service is implied
    assert short.stdout.startswith(f"restarted {name}: ")

    missing = opsconsole(config, cli_env, "restart", f"unit:{prefix}-gone.service", "--yes")
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert missing.stderr.strip() == (f"{prefix}-gone.service: no such unit on "
                                      f"{systemd_machine.bus_address}")

    elsewhere = opsconsole(config, cli_env, "restart", "unit:sshd.service", "--yes")
    assert elsewhere.returncode == 2
    assert elsewhere.stderr.startswith("opsconsole: unit:sshd.service is not in ")

    read_only = opsconsole(config, cli_env, "restart", f"unit:{name}", "--yes", "--read-only")
    assert read_only.returncode == 3 and "read-only mode" in read_only.stderr

    phases = [(r.phase, r.verb, r.target) for r in AuditLog(state_dir).records()]
    assert ("finished", "restart", f"unit:{name}") in phases
    assert ("failed", "restart", f"unit:{prefix}-gone.service") in phases


def test_bad_config_values_are_one_line_errors(write_config: Callable[..., Path],
                                               cli_env: dict[str, str]) -> None:
    cases = {
        '[[systemd]]\nunits = []\n': "'units': needs at least one unit name or glob",
        '[[systemd]]\nunits = ["a b.service"]\n': "'a b.service' is not a unit name or glob",
        '[[systemd]]\nunits = ["a.service"]\nbus = "/run/dbus/socket"\n':
            "'bus': expected a D-Bus address such as",
        '[[systemd]]\nunits = ["a.service"]\nrestart = 3\n': "'restart': unknown key",
    }
    for text, expected in cases.items():
        result = opsconsole(write_config(text), cli_env, "check")
        assert result.returncode == 3, text  # the entry is not checked: UNKNOWN, with why
        assert expected in result.stdout, (text, result.stdout)
        assert expected in result.stderr, (text, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


DENY_RESTART = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy context="mandatory">
<deny send_destination="org.freedesktop.systemd1"
      send_interface="org.freedesktop.systemd1.Manager" send_member="RestartUnit"/>
</policy></busconfig>
"""
RELOAD_DBUS = ("busctl", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
               "org.freedesktop.DBus", "ReloadConfig")


def test_permission_denied_is_one_line_that_suggests_root(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    """The bus refuses RestartUnit (as it does for a user without a polkit rule)."""
    name = make_unit(f"{prefix}-api.service", sleeper())
    systemd_machine.systemctl("start", name)
    policy = f"/etc/dbus-1/system.d/{prefix}-deny.conf"
    systemd_machine.run_inside("sh", "-c", f"cat > {policy} <<'EOF'\n{DENY_RESTART}EOF\n")
    try:
        systemd_machine.run_inside(*RELOAD_DBUS)
        result = opsconsole(write_config(config_text(systemd_machine, [name])), cli_env,
                            "restart", f"unit:{name}", "--yes")
    finally:
        systemd_machine.run_inside("rm", "-f", policy)
        systemd_machine.run_inside(*RELOAD_DBUS)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"permission denied: systemd refused to restart {name} (")
    assert lines[0].endswith("run opsconsole as root (sudo opsconsole ...) or add a polkit "
                             "rule for this user")


def test_flapping_is_seen_across_check_runs_from_cron(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    name = make_unit(f"{prefix}-crashy.service", (
        "[Unit]\nStartLimitIntervalSec=0\n[Service]\n"
        "ExecStart=/bin/sh -c 'sleep 0.3; exit 1'\nRestart=always\nRestartSec=100ms\n"))
    systemd_machine.systemctl("start", name)
    config = write_config(config_text(systemd_machine, [name],
                                      "restarts = { warn = 2, crit = 1000 }"))
    # The journal tells the first run about the restarts before it; later runs count on
    # from the state the earlier runs kept.
    wait_for(lambda: int(systemd_machine.systemctl("show", "-P", "NRestarts", name).stdout
                         .strip() or 0) >= 3, timeout=30, what="three restarts")
    first = opsconsole(config, cli_env, "check")
    assert "but flapping: restarted" in first.stdout, first.stdout
    time.sleep(2.5)
    second = opsconsole(config, cli_env, "check")
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"WARNING unit:{name} - " in second.stdout
    assert "but flapping: restarted" in second.stdout and "in 10m (" in second.stdout
