"""[[supervisor]] against a real supervisord: states, causes, login errors, headless actions, logs.

The test bed's supervisord runs `steady`, `crasher` (exits at once, FATAL after its retries)
and `idle` (autostart=false, STOPPED), behind a login on its unix socket and its HTTP port.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.discovery import supervisor as supervisor_probe
from backends.supervisor.backend import SupervisorBackend
from console.config import parse_config
from console.core.audit import AuditLog
from console.sandbox.processes import wait_for
from console.sandbox.supervisor_daemon import SupervisorDaemon
from tests.conftest import OPSCONSOLE

Factory = Callable[..., SupervisorDaemon]


def opsconsole(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=90, check=False,
                          stdin=subprocess.DEVNULL)


def entry(daemon: SupervisorDaemon, url: str | None = None, password: str | None = None) -> str:
    return (f'[[supervisor]]\nname = "main"\nurl = "{url or daemon.url}"\n'
            f'username = "ops"\npassword = "{password or daemon.password}"\n'
            'action_timeout = "20s"\n')


def test_check_shows_each_program_with_its_state_and_the_cause_of_a_fatal_one(
        supervisor_factory: Factory, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    daemon = supervisor_factory()
    daemon.wait_state("crasher", ("FATAL",))
    for url in (daemon.url, daemon.http_url):
        result = opsconsole(write_config(entry(daemon, url)), cli_env, "check")
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].startswith("OPSCONSOLE CRITICAL - 1 ok, 1 warning, 1 critical"), lines
        assert any(line.startswith("CRITICAL program:crasher - FATAL: Exited too quickly")
                   and line.endswith("· Fatal: ledger directory already exists")
                   for line in lines), lines
        assert any(line.startswith("WARNING program:idle - STOPPED") for line in lines), lines
        assert any(line.startswith("OK program:steady - RUNNING ") and ", PID " in line
                   for line in lines), lines
        assert daemon.password not in result.stdout + result.stderr


def test_login_and_socket_errors_are_one_line_and_hide_the_password(
        supervisor_factory: Factory, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    daemon = supervisor_factory()
    wrong = opsconsole(write_config(entry(daemon, password="not-the-password"), "wrong.toml"),
                       cli_env, "check")
    assert wrong.returncode == 2, wrong.stdout + wrong.stderr
    assert ("refused the login: wrong username or password" in wrong.stdout), wrong.stdout
    assert "not-the-password" not in wrong.stdout + wrong.stderr

    missing = opsconsole(write_config(entry(daemon, url=f"unix://{tmp_path}/none.sock"),
                                      "missing.toml"), cli_env, "check")
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert f"no supervisord socket at {tmp_path}/none.sock: is supervisord running" \
        in missing.stdout

    bad_url = opsconsole(write_config('[[supervisor]]\nurl = "/var/run/supervisor.sock"\n',
                                      "bad.toml"), cli_env, "check")
    assert bad_url.returncode == 3  # the entry is not checked: UNKNOWN, with its reason
    assert "'url': expected \"unix:///path/to/supervisor.sock\"" in bad_url.stdout
    assert "'url': expected \"unix:///path/to/supervisor.sock\"" in bad_url.stderr
    assert len(bad_url.stderr.strip().splitlines()) == 1


def test_headless_start_stop_restart_go_through_the_dispatcher(
        supervisor_factory: Factory, write_config: Callable[..., Path],
        cli_env: dict[str, str], state_dir: Path) -> None:
    daemon = supervisor_factory()
    daemon.wait_state("crasher", ("FATAL",))
    config = write_config(entry(daemon))

    not_confirmed = opsconsole(config, cli_env, "start", "program:idle")
    assert not_confirmed.returncode == 3 and "pass --yes" in not_confirmed.stderr
    read_only = opsconsole(config, cli_env, "start", "program:idle", "--yes", "--read-only")
    assert read_only.returncode == 3 and "read-only mode" in read_only.stderr
    assert daemon.state("idle") == "STOPPED"

    started = opsconsole(config, cli_env, "start", "program:idle", "--yes")
    assert started.returncode == 0, started.stdout + started.stderr
    assert started.stdout.strip().splitlines()[-1].startswith("started idle: RUNNING")
    assert daemon.state("idle") == "RUNNING"

    pid_before = daemon.proxy().supervisor.getProcessInfo("steady")["pid"]
    restarted = opsconsole(config, cli_env, "restart", "program:steady", "--yes")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert daemon.proxy().supervisor.getProcessInfo("steady")["pid"] != pid_before

    stopped = opsconsole(config, cli_env, "stop", "program:idle", "--yes")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert daemon.state("idle") == "STOPPED"

    crashed = opsconsole(config, cli_env, "restart", "program:crasher", "--yes")
    assert crashed.returncode == 1, crashed.stdout + crashed.stderr
    assert "restart crasher failed: FATAL" in crashed.stderr
    assert "Fatal: ledger directory already exists" in crashed.stdout

    unknown = opsconsole(config, cli_env, "restart", "program:nosuch", "--yes")
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr
    assert "has no program 'nosuch'" in unknown.stderr

    phases = [(r.phase, r.verb, r.target) for r in AuditLog(state_dir).records()]
    assert ("finished", "start", "program:idle") in phases
    assert ("finished", "restart", "program:steady") in phases
    assert ("failed", "restart", "program:crasher") in phases
    assert ("refused", "start", "program:idle") in phases


def test_program_logs_are_followed_through_supervisord(supervisor_factory: Factory,
                                                       tmp_path: Path) -> None:
    daemon = supervisor_factory()
    config = parse_config(entry(daemon), tmp_path / "c.toml")
    from console.assembly import build_backends

    backend = next(b for b in build_backends(config) if isinstance(b, SupervisorBackend))
    sources = {s.label: s for s in backend.log_sources("program:steady")}
    assert set(sources) == {"program:steady stdout", "program:steady stderr"}
    out = sources["program:steady stdout"]
    assert [line.text for line in out.read()] == ["steady up"]
    assert [line.text for line in sources["program:steady stderr"].read()] == ["steady warming"]
    daemon.proxy().supervisor.stopProcess("steady")
    daemon.proxy().supervisor.startProcess("steady")
    seen: list[str] = []
    wait_for(lambda: bool(seen.extend(line.text for line in out.read()) or seen), timeout=20,
             what="the restarted program's line")
    assert seen == ["steady up"]
    assert out.status is None


def test_discovery_finds_a_local_supervisord_and_init_writes_it(
        supervisor_factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    open_daemon = supervisor_factory(password=None)
    monkeypatch.setenv("SUPERVISOR_SERVER_URL", open_daemon.url)
    result = asyncio.run(supervisor_probe.probe(5.0))
    assert result.found, result.missing
    assert result.summary.startswith("3 programs (")
    assert result.findings[0].table == {"name": "supervisor", "url": open_daemon.url}

    from backends.discovery.model import DiscoveryReport
    from console.config_writer import render

    text = render(DiscoveryReport((result,), 0.1))
    assert f'[[supervisor]]\nname = "supervisor"\nurl = "{open_daemon.url}"' in text
    config = parse_config(text, tmp_path / "written.toml")
    assert [s.url for s in config.sections["supervisor"]] == [open_daemon.url]

    locked = supervisor_factory()
    monkeypatch.setenv("SUPERVISOR_SERVER_URL", locked.url)
    refused = asyncio.run(supervisor_probe.probe(5.0))
    assert not refused.found
    assert refused.missing == (f"supervisord at {locked.url} needs a login: add a "
                               "[[supervisor]] entry with username and password_file")
