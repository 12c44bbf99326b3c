"""Fleet checks and actions headless, against real sshd hosts on 127.A.B.K (one per host)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sandbox.sshd_host import SimulatedFleet
from tests.conftest import OPSCONSOLE
from tests.support.http_server import health_server


@pytest.fixture
def server() -> Iterator[str]:
    with health_server() as url:
        yield url


def endpoint(name: str, url: str) -> str:
    return f'[[http]]\nname = "{name}"\nurl = "{url}"\ntimeout = 2\n'


def opsconsole(config: Path, env: dict[str, str], *args: str,
               timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args],
                          capture_output=True, text=True, env=env, timeout=timeout,
                          check=False, stdin=subprocess.DEVNULL)


def test_three_hosts_checked_at_once_each_with_its_own_config(
        ssh_fleet: SimulatedFleet, server: str, cli_env: dict[str, str]) -> None:
    ssh_fleet.add("web1", endpoint("api", f"{server}/ok"), group="web")
    ssh_fleet.add("web2", endpoint("api", f"{server}/fail"), group="web")
    ssh_fleet.add("db1", endpoint("stats", f"{server}/ok"), group="db")
    config = ssh_fleet.console_config()

    result = opsconsole(config, cli_env, "check", "--hosts", "all")
    assert result.returncode == 2, result.stdout + result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.startswith("OPSCONSOLE CRITICAL - 3 hosts: 2 ok, 0 warning, 1 critical, "
                            "0 unknown | ")
    assert rest[0].startswith("web2 CRITICAL http:api - ")
    assert "web1 OK http:api - " in result.stdout
    assert "db1 OK http:stats - " in result.stdout

    group = opsconsole(config, cli_env, "check", "--hosts", "web", "--format", "json")
    document = json.loads(group.stdout)
    assert set(document["hosts"]) == {"web1", "web2"}
    assert document["hosts"]["web1"]["status"] == "OK"
    assert document["hosts"]["web2"]["checks"][0]["status"] == "CRITICAL"
    assert document["hosts"]["web1"]["protocol"] == 1
    assert group.returncode == 2

    named = opsconsole(config, cli_env, "check", "--hosts", "db1,web1")
    assert named.returncode == 0, named.stdout
    assert named.stdout.startswith("OPSCONSOLE OK - 2 hosts: 2 ok")

    status = opsconsole(config, cli_env, "status", "--hosts", "web")
    assert status.returncode == 0, status.stdout + status.stderr
    assert [line.split(":")[0] for line in status.stdout.splitlines()] == [
        "web1 http", "web2 http"]
    assert status.stdout.splitlines()[1].startswith("web2 http:api: 500")

    unknown = opsconsole(config, cli_env, "check", "--hosts", "nosuch")
    assert unknown.returncode == 2
    assert "no host or group named nosuch" in unknown.stderr
    assert "groups: db, web" in unknown.stderr


def test_stopped_sshd_is_unknown_with_connection_refused(
        ssh_fleet: SimulatedFleet, server: str, cli_env: dict[str, str]) -> None:
    ssh_fleet.add("web1", endpoint("api", f"{server}/ok"))
    down = ssh_fleet.add("web2", endpoint("api", f"{server}/ok"))
    down.kill_sshd()
    result = opsconsole(ssh_fleet.console_config(), cli_env, "check", "--hosts", "all")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.startswith("OPSCONSOLE UNKNOWN - 2 hosts, 1 unreachable: 1 ok, "
                                    "0 warning, 0 critical, 1 unknown")
    line = next(line for line in result.stdout.splitlines() if line.startswith("web2 "))
    assert line.startswith("web2 UNKNOWN ssh:web2 - unreachable: connection refused (")
    assert "web1 OK http:api" in result.stdout


def test_a_hung_host_hits_its_deadline_while_the_others_report(
        ssh_fleet: SimulatedFleet, server: str, cli_env: dict[str, str]) -> None:
    ssh_fleet.add("web1", endpoint("api", f"{server}/ok"))
    hung = ssh_fleet.add("web2", endpoint("api", f"{server}/ok"))
    # a deadline a loaded machine's healthy host meets with room to spare (a bridge starts
    # a Python process), far below what ssh would wait on a hung host
    config = ssh_fleet.console_config(deadline=20, connect_timeout=30)
    warm = opsconsole(config, cli_env, "check", "--hosts", "all")  # masters are up now
    assert warm.returncode == 0, warm.stdout + warm.stderr
    hung.hang()
    try:
        started = time.monotonic()
        result = opsconsole(config, cli_env, "check", "--hosts", "all")
        took = time.monotonic() - started
    finally:
        hung.resume()
    assert result.returncode == 3, result.stdout + result.stderr
    assert ("web2 UNKNOWN ssh:web2 - unreachable: timed out: no answer within the per-host "
            "deadline of 20s") in result.stdout
    assert "web1 OK http:api" in result.stdout
    assert took < 120  # the deadline fired: without it ssh would wait for good


def test_changed_host_key_is_refused_with_a_clear_reason(
        ssh_fleet: SimulatedFleet, server: str, cli_env: dict[str, str]) -> None:
    host = ssh_fleet.add("web1", endpoint("api", f"{server}/ok"))
    host.new_host_key()
    result = opsconsole(ssh_fleet.console_config(), cli_env, "check", "--hosts", "web1")
    assert result.returncode == 3, result.stdout + result.stderr
    assert ("web1 UNKNOWN ssh:web1 - unreachable: host key changed: ssh refused the "
            "connection") in result.stdout


def test_version_mismatch_is_one_clear_line(ssh_fleet: SimulatedFleet, tmp_path: Path,
                                            cli_env: dict[str, str]) -> None:
    other = tmp_path / "other-opsconsole"
    other.write_text('#!/bin/sh\necho \'{"type":"hello","protocol":2,"version":"9.0.0",'
                     '"host":"web1","read_only":false}\'\nsleep 30\n')
    other.chmod(0o755)
    ssh_fleet.add("web1", remote_command=str(other))
    result = opsconsole(ssh_fleet.console_config(), cli_env, "check", "--hosts", "all")
    assert result.returncode == 3, result.stdout + result.stderr
    assert ("web1 UNKNOWN ssh:web1 - unreachable: version mismatch: the bridge speaks protocol "
            "2 (opsconsole 9.0.0), this console speaks 1 (opsconsole 0.1.0): install the same "
            "opsconsole version on both") in result.stdout
