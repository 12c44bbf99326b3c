"""`[[command]]` checks: real monitoring plugins, hangs, missing programs, perfdata."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from backends.command import parse_plugin_output
from console.core.model import Perf, Status
from tests.conftest import OPSCONSOLE
from tests.testbed.fixtures import require_service

CHECK_DISK = "/usr/lib/nagios/plugins/check_disk"


def run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "check"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_check_disk_status_text_and_perfdata(write_config: Callable[..., Path],
                                             cli_env: dict[str, str]) -> None:
    if not os.access(CHECK_DISK, os.X_OK):
        require_service("monitoring-plugins", f"{CHECK_DISK} missing (console/sandbox/install.sh)")
    config = write_config(
        f"[[command]]\nname = 'root_disk'\ncommand = ['{CHECK_DISK}', '-w', '1%', '-c', '1%', "
        "'-p', '/']\n"
        f"[[command]]\nname = 'root_full'\ncommand = ['{CHECK_DISK}', '-w', '100%', "
        "'-c', '100%', '-p', '/']\n")
    result = run(config, cli_env)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "OK command:root_disk - DISK OK - free space: /" in result.stdout
    assert "CRITICAL command:root_full - DISK CRITICAL - free space: /" in result.stdout
    # the plugin's perfdata is passed on; two checks share the label '/', so each is prefixed
    assert "'root_disk_/'=" in lines[0] and "'root_full_/'=" in lines[0]


def test_hang_is_killed_and_missing_program_is_unknown(tmp_path: Path,
                                                       write_config: Callable[..., Path],
                                                       cli_env: dict[str, str]) -> None:
    pid_file = tmp_path / "plugin.pid"
    script = tmp_path / "check_hang"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    script.chmod(0o755)
    config = write_config(
        f"[[command]]\nname = 'hang'\ncommand = ['{script}']\ntimeout = 1\n"
        "[[command]]\nname = 'missing'\ncommand = ['/opt/nowhere/check_nothing', '-v']\n")
    result = run(config, cli_env)
    assert result.returncode == 3, result.stdout
    assert "UNKNOWN command:hang - check_hang did not finish within 1s and was killed" \
        in result.stdout
    assert "UNKNOWN command:missing - program not found: /opt/nowhere/check_nothing" \
        in result.stdout
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the hung plugin was left running"


def test_home_made_plugin_with_long_text_and_multiline_perfdata(
        tmp_path: Path, write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    script = tmp_path / "check_queue"
    script.write_text(
        "#!/bin/sh\n"
        "echo \"QUEUE WARNING - 42 jobs waiting | 'jobs waiting'=42;40;100;0 oldest=95s\"\n"
        "echo 'auto_record: 30'\n"
        "echo 'crawl: 12 | crawl=12;;;0'\n"
        "echo 'retry=0'\n"
        "exit 1\n")
    script.chmod(0o755)
    config = write_config(f"[[command]]\nname = 'queue'\ncommand = ['{script}']\n")
    result = run(config, cli_env)
    assert result.returncode == 1
    assert "WARNING command:queue - QUEUE WARNING - 42 jobs waiting" in result.stdout
    assert "'jobs waiting'=42;40;100;0 'oldest'=95s 'crawl'=12;;;0 'retry'=0" \
        in result.stdout.splitlines()[0]


def test_plugin_output_parsing_rules() -> None:
    out = parse_plugin_output(2, b"PROCS CRITICAL: 0 processes | procs=0;1:;1:;0\n")
    assert out.status is Status.CRITICAL and out.summary == "PROCS CRITICAL: 0 processes"
    assert out.perfdata == (Perf("procs", 0.0, "", None, None, 0.0),)  # ranges kept out
    out = parse_plugin_output(127, b"")
    assert out.status is Status.UNKNOWN and out.summary == "exited with code 127: (no output)"
    out = parse_plugin_output(0, b"OK \xff bytes | load1=U;1;2\n")
    assert out.summary == "OK \\xff bytes" and out.perfdata == ()
