"""Alerting from cron: `opsconsole --headless check` as a subprocess against real receivers.

A test HTTP server is the watched endpoint (switched between 200 and 500), receives the JSON
webhooks and the heartbeat pings; aiosmtpd receives e-mail; promtool checks the textfile.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.core.model import Status
from tests.conftest import OPSCONSOLE
from tests.support.http_server import hung_listener
from tests.support.receivers import Received, recording_server, smtp_server, wait_until

SECRET = "Hook5ecret99"


@pytest.fixture
def receiver() -> Iterator[tuple[str, Received]]:
    with recording_server() as found:
        yield found


def opsconsole(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def config_text(address: str, notify: str = "", console: str = "") -> str:
    return (f"[console]\ndeadline = 10\n{console}\n"
            f"[[http]]\nname = 'api'\nurl = 'http://{address}/health'\ntimeout = 2\n\n{notify}")


def webhook(address: str, extra: str = "") -> str:
    return f"[[notify]]\nname = 'ops'\nurl = 'json://alert:{SECRET}@{address}/hook'\n{extra}\n"


def titles(received: Received) -> list[str]:
    return [json.loads(body)["title"] for body in received.bodies("/hook")]


def test_ok_critical_critical_ok_sends_exactly_two_messages(
        receiver: tuple[str, Received], write_config: Callable[[str], Path],
        cli_env: dict[str, str], state_dir: Path) -> None:
    address, received = receiver
    config = str(write_config(config_text(
        address, webhook(address), f"heartbeat = 'http://{address}/ping/abc123'")))
    codes = []
    for health in (200, 500, 500, 200):
        received.status = health
        result = opsconsole(cli_env, "check", "--config", config)
        codes.append(result.returncode)
        assert SECRET not in result.stdout + result.stderr
    assert codes == [0, 2, 2, 0], result.stdout
    assert [t.split("] ", 1)[1] for t in titles(received)] == [
        "CRITICAL http:api", "RECOVERED http:api"]
    assert "500" in json.loads(received.bodies("/hook")[0])["message"]
    # The heartbeat: /start before each run, then the plain URL on OK and /fail otherwise.
    assert received.paths("/ping") == [
        "/ping/abc123/start", "/ping/abc123", "/ping/abc123/start", "/ping/abc123/fail",
        "/ping/abc123/start", "/ping/abc123/fail", "/ping/abc123/start", "/ping/abc123"]
    assert b"CRITICAL http:api" in received.bodies("/ping/abc123/fail")[0]
    with sqlite3.connect(state_dir / "state.db") as db:
        rows = db.execute("SELECT from_status, to_status FROM transitions "
                          "WHERE target = 'http:api' ORDER BY id").fetchall()
    assert rows == [(None, Status.OK), (Status.OK, Status.CRITICAL), (Status.CRITICAL, Status.OK)]


def test_renotify_reminds_while_still_broken(receiver: tuple[str, Received],
                                            write_config: Callable[[str], Path],
                                            cli_env: dict[str, str]) -> None:
    address, received = receiver
    config = str(write_config(config_text(address, webhook(address, "renotify = '1s'"))))
    received.status = 500
    assert opsconsole(cli_env, "check", "--config", config).returncode == 2
    first = time.time()
    wait_until(lambda: time.time() > first + 1.5, what="the renotify interval to pass")
    assert opsconsole(cli_env, "check", "--config", config).returncode == 2
    assert [t.split("] ", 1)[1] for t in titles(received)] == [
        "CRITICAL http:api", "STILL CRITICAL http:api"]


def test_flapping_is_told_once_with_the_count(receiver: tuple[str, Received],
                                              write_config: Callable[[str], Path],
                                              cli_env: dict[str, str]) -> None:
    address, received = receiver
    config = str(write_config(config_text(address, webhook(address, "flap_changes = 3"))))
    for health in (200, 500, 200, 500, 200, 500):
        received.status = health
        opsconsole(cli_env, "check", "--config", config)
    sent = [t.split("] ", 1)[1] for t in titles(received)]
    # Two changes are told; the third within the hour makes it flapping, told once.
    assert sent == ["CRITICAL http:api", "RECOVERED http:api", "FLAPPING http:api"]
    assert "changed status 3 times" in json.loads(received.bodies("/hook")[-1])["message"]


def test_email_reaches_an_smtp_server(receiver: tuple[str, Received],
                                      write_config: Callable[[str], Path],
                                      cli_env: dict[str, str]) -> None:
    address, received = receiver
    with smtp_server() as (port, mailbox):
        mail = (f"[[notify]]\nname = 'mail'\nmin_status = 'critical'\nurl = 'mailto://127.0.0.1:"
                f"{port}?from=opsconsole@example.com&to=oncall@example.com&mode=insecure'\n")
        config = str(write_config(config_text(address, mail)))
        received.status = 500
        result = opsconsole(cli_env, "check", "--config", config)
        assert result.returncode == 2
        assert "NOTIFY mail - sent 1 message" in result.stdout
        wait_until(lambda: mailbox, what="the e-mail")
    assert "CRITICAL http:api" in mailbox[0]["Subject"]
    assert mailbox[0]["To"] == "oncall@example.com"


def test_hung_endpoint_keeps_the_deadline_and_is_retried(
        receiver: tuple[str, Received], write_config: Callable[[str], Path],
        cli_env: dict[str, str]) -> None:
    address, received = receiver
    received.status = 500
    with hung_listener() as hung:
        hung_address = hung.removeprefix("http://").rstrip("/")
        notify = f"[[notify]]\nname = 'ops'\nurl = 'json://{hung_address}/hook'\ntimeout = 60\n"
        config = write_config(config_text(address, notify))
        started = time.monotonic()
        result = opsconsole(cli_env, "check", "--config", str(config), "--timeout", "4")
        elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout
    assert "CRITICAL http:api" in result.stdout
    assert "NOTIFY ops - delivery failed" in result.stdout
    assert "will be retried on the next run" in result.stdout
    assert elapsed < 15  # the endpoint's 60 s timeout did not apply: the 4 s deadline did
    # The next run, with the endpoint answering, delivers the queued message once.
    write_config(config_text(address, webhook(address)))
    retry = opsconsole(cli_env, "check", "--config", str(config))
    assert retry.returncode == 2
    assert "NOTIFY ops - sent 1 message" in retry.stdout
    assert [t.split("] ", 1)[1] for t in titles(received)] == ["CRITICAL http:api"]


def test_hung_heartbeat_spends_the_deadline_it_does_not_extend_it(
        write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    """The start ping waits up to 5 s on a heartbeat that never answers; the targets are
    then polled in what is left of the 10 s deadline, not for 10 s more."""
    with hung_listener() as hung:
        config = write_config(f"[console]\ndeadline = 10\nheartbeat = '{hung}'\n"
                              f"[[http]]\nname = 'api'\nurl = '{hung}'\ntimeout = 60\n")
        started = time.monotonic()
        result = opsconsole(cli_env, "check", "--config", str(config))
        elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout  # the endpoint was cut by the deadline
    assert "CRITICAL http:api" in result.stdout
    assert "HEARTBEAT - start ping failed: no answer within 5s" in result.stdout
    assert "HEARTBEAT - end ping failed: no time left before the check's deadline" in result.stdout
    # Wide: 10 s plus start-up when the deadline holds, 20 s and more if the ping's 5 s
    # were added to it.
    assert elapsed < 16, elapsed


def test_prometheus_textfile_passes_promtool(receiver: tuple[str, Received], tmp_path: Path,
                                             write_config: Callable[[str], Path],
                                             cli_env: dict[str, str]) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: console/sandbox/install.sh installs prometheus"
    address, received = receiver
    received.status = 500
    textfile = tmp_path / "textfile" / "opsconsole.prom"
    result = opsconsole(cli_env, "check", "--config", str(write_config(config_text(address))),
                        "--prometheus", str(textfile))
    assert result.returncode == 2
    content = textfile.read_text()
    assert 'opsconsole_status{target="http:api"} 2.0' in content
    assert 'opsconsole_perfdata{check="",label="api_time",target="http:api",unit="s"}' in content
    assert "opsconsole_check_duration_seconds " in content
    assert "opsconsole_check_timestamp_seconds " in content
    lint = subprocess.run([promtool, "check", "metrics"], input=content, capture_output=True,
                          text=True, timeout=30, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert not list(textfile.parent.glob("*.part"))


def test_silence_changes_exit_code_and_messages(receiver: tuple[str, Received],
                                                write_config: Callable[[str], Path],
                                                cli_env: dict[str, str]) -> None:
    address, received = receiver
    config = str(write_config(config_text(address, webhook(address))))
    received.status = 500
    silenced = opsconsole(cli_env, "silence", "http:*", "--for", "2h", "--reason",
                          "replacing the load balancer", "--config", config)
    assert silenced.returncode == 0, silenced.stderr
    result = opsconsole(cli_env, "check", "--config", config)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("OPSCONSOLE OK - 0 ok, 0 warning, 0 critical, 0 unknown, "
                                    "1 silenced")
    assert "SILENCED CRITICAL http:api - 500" in result.stdout
    assert "replacing the load balancer" in result.stdout
    assert titles(received) == []
    listing = opsconsole(cli_env, "silences", "--config", config)
    assert "http:*" in listing.stdout and "replacing the load balancer" in listing.stdout
    audit = opsconsole(cli_env, "audit", "--config", config)
    assert "silence http:*" in audit.stdout

    assert opsconsole(cli_env, "unsilence", "http:*", "--config", config).returncode == 0
    loud = opsconsole(cli_env, "check", "--config", config)
    assert loud.returncode == 2
    assert [t.split("] ", 1)[1] for t in titles(received)] == ["CRITICAL http:api"]


def test_silence_expires_by_itself_with_one_message(receiver: tuple[str, Received],
                                                    write_config: Callable[[str], Path],
                                                    cli_env: dict[str, str]) -> None:
    address, received = receiver
    config = str(write_config(config_text(address, webhook(address))))
    received.status = 500
    assert opsconsole(cli_env, "silence", "http:api", "--for", "1s", "--reason", "short",
                      "--config", config).returncode == 0
    wait_until(lambda: "no active silences" in opsconsole(cli_env, "silences", "--config",
                                                          config).stdout, what="expiry")
    for _ in range(2):
        assert opsconsole(cli_env, "check", "--config", config).returncode == 2
    sent = [t.split("] ", 1)[1] for t in titles(received)]
    assert sent == ["silence ended: http:api", "CRITICAL http:api"]


def test_maintenance_window_without_stopping(receiver: tuple[str, Received],
                                             write_config: Callable[[str], Path],
                                             cli_env: dict[str, str]) -> None:
    address, received = receiver
    config = str(write_config(config_text(address, webhook(address))))
    received.status = 500
    unknown = opsconsole(cli_env, "maintenance", "start", "http:nope", "--yes", "--config", config)
    assert unknown.returncode == 2 and "http:nope: not in" in unknown.stderr
    refused = opsconsole(cli_env, "maintenance", "start", "http:api", "--config", config)
    assert refused.returncode == 3, "no terminal and no --yes: refused"
    started = opsconsole(cli_env, "maintenance", "start", "http:api", "--for", "30m",
                         "--reason", "router swap", "--yes", "--config", config)
    assert started.returncode == 0, started.stderr
    assert "now CRITICAL http:api" in started.stdout
    during = opsconsole(cli_env, "check", "--config", config)
    assert during.returncode == 0
    assert "SILENCED CRITICAL http:api" in during.stdout and "in maintenance" in during.stdout
    assert titles(received) == []
    ended = opsconsole(cli_env, "maintenance", "end", "http:api", "--yes", "--config", config)
    assert ended.returncode == 0, ended.stderr
    assert "maintenance ended" in ended.stdout
    after = opsconsole(cli_env, "check", "--config", config)
    assert after.returncode == 2
    assert [t.split("] ", 1)[1] for t in titles(received)] == ["CRITICAL http:api"]
    audit = opsconsole(cli_env, "audit", "--config", config).stdout
    assert "maintenance http:api" in audit and "maintenance-end http:api" in audit


def test_notify_url_secret_and_bad_url_in_config(write_config: Callable[[str], Path],
                                                 cli_env: dict[str, str]) -> None:
    bad = write_config("[[notify]]\nurl = 'nosuchservice://x'\n")
    result = opsconsole(cli_env, "check", "--config", str(bad))
    assert result.returncode == 3  # the check cannot run as configured: UNKNOWN, on stdout
    assert result.stdout.startswith("OPSCONSOLE UNKNOWN - ")
    assert "[[notify]] #1 'url'" in result.stdout and "Apprise" in result.stdout
