"""`opsconsole --headless check` against real local HTTP servers: output, exit codes, deadlines."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import OPSCONSOLE
from tests.support.http_server import body_server, health_server, hung_listener


@pytest.fixture
def server() -> Iterator[str]:
    with health_server(slow_seconds=1.5) as url:
        yield url


def run(config: Path, env: dict[str, str], *args: str,
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)


def endpoint(name: str, url: str, extra: str = "", timeout: float = 10) -> str:
    """An endpoint that a loaded machine's answer stays OK for: neither slow nor timed out
    (the tests of latency and timeouts set their own limits)."""
    if "latency_warn" not in extra:
        extra += "\nlatency_warn = '30s'"
    return f"[[http]]\nname = '{name}'\nurl = '{url}'\ntimeout = {timeout:g}\n{extra}\n"


def test_all_ok_exits_0_with_plugin_output(server: str, write_config: Callable[[str], Path],
                                           cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("api", f"{server}/ok", "expect_json = { status = 'ok' }")
                          + endpoint("text", f"{server}/text", "expect_body = 'systems go'"))
    result = run(config, cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    first, *rest = result.stdout.splitlines()
    assert first.startswith("OPSCONSOLE OK - 2 ok, 0 warning, 0 critical, 0 unknown | ")
    assert "'api_time'=" in first and "s;30;;0" in first
    assert sorted(line.split(" - ")[0] for line in rest) == ["OK http:api", "OK http:text"]


def test_server_error_is_critical(server: str, write_config: Callable[[str], Path],
                                  cli_env: dict[str, str]) -> None:
    result = run(write_config(endpoint("api", f"{server}/fail")), cli_env)
    assert result.returncode == 2
    assert "CRITICAL http:api - 500 in" in result.stdout
    assert "(expected 200)" in result.stdout


def test_wrong_json_field_is_critical(server: str, write_config: Callable[[str], Path],
                                      cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("api", f"{server}/degraded",
                                   "expect_json = { status = 'ok', 'checks.db' = 'ok' }"))
    result = run(config, cli_env)
    assert result.returncode == 2
    assert "JSON status is 'degraded', expected 'ok'" in result.stdout


def test_a_huge_json_field_is_cut_on_the_summary_line(
        server: str, write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("api", f"{server}/huge", "expect_json = { status = 'ok' }"))
    result = run(config, cli_env)
    assert result.returncode == 2
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("CRITICAL http:api"))
    assert "JSON status is 'degraded degraded" in line and ", expected 'ok'" in line
    assert len(line) < 300, line


def test_slow_endpoint_is_a_warning(server: str, write_config: Callable[[str], Path],
                                    cli_env: dict[str, str]) -> None:
    config = write_config(f"[[http]]\nname = 'slow'\nurl = '{server}/slow'\ntimeout = 5\n"
                          "latency_warn = '1s'\nlatency_crit = '4s'\n")
    result = run(config, cli_env)
    assert result.returncode == 1, result.stdout
    assert "WARNING http:slow - 200 in" in result.stdout and "(slow)" in result.stdout


def test_refused_connection_is_critical(write_config: Callable[[str], Path],
                                        cli_env: dict[str, str]) -> None:
    result = run(write_config(endpoint("gone", "http://127.0.0.1:9/")), cli_env)
    assert result.returncode == 2
    assert "CRITICAL http:gone - connection refused" in result.stdout


def test_hung_server_fails_within_its_timeout(write_config: Callable[[str], Path],
                                              cli_env: dict[str, str], server: str) -> None:
    with hung_listener() as url:
        config = write_config(endpoint("hung", url, timeout=1) + endpoint("api", f"{server}/ok"))
        started = time.monotonic()
        result = run(config, cli_env, timeout=20)
        elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert "CRITICAL http:hung - no answer within 1s" in result.stdout
    assert "OK http:api" in result.stdout
    assert elapsed < 15  # far below the 30 s default deadline: the 1 s timeout applied


def test_whole_run_has_a_deadline(write_config: Callable[[str], Path],
                                  cli_env: dict[str, str]) -> None:
    with hung_listener() as url:
        config = write_config(f"[[http]]\nname = 'hung'\nurl = '{url}'\ntimeout = 60\n")
        started = time.monotonic()
        result = run(config, cli_env, "--timeout", "2", timeout=30)
        elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout  # cut by the 2 s run deadline: CRITICAL
    assert "CRITICAL http:hung - " in result.stdout and "no answer within" in result.stdout
    assert elapsed < 20  # wide: only proves the deadline cut the 60 s timeout


def test_json_format_is_one_document(server: str, write_config: Callable[[str], Path],
                                     cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("api", f"{server}/ok") + endpoint("bad", f"{server}/fail"))
    started = time.monotonic()
    result = run(config, cli_env, "--format", "json")
    took = time.monotonic() - started
    document = json.loads(result.stdout)
    assert result.returncode == 2
    assert 0 < document["duration"] < took  # the run's own time, inside the command's
    assert document["status"] == "CRITICAL" and document["exit_code"] == 2
    assert document["counts"] == {"ok": 1, "warning": 0, "critical": 1, "unknown": 0}
    assert [c["target"] for c in document["checks"]] == ["http:bad", "http:api"]
    assert document["checks"][1]["perfdata"][0]["label"] == "api_time"


def test_only_limits_the_run(server: str, write_config: Callable[[str], Path],
                             cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("api", f"{server}/ok") + endpoint("bad", f"{server}/fail"))
    result = run(config, cli_env, "--only", "http:api")
    assert result.returncode == 0
    assert "http:bad" not in result.stdout
    none = run(config, cli_env, "--only", "http:nothing")
    assert none.returncode == 3
    assert "no configured target matches http:nothing" in none.stdout


def test_only_polls_nothing_but_what_it_names(server: str, write_config: Callable[[str], Path],
                                              cli_env: dict[str, str]) -> None:
    """`--only` leaves the other systems alone: not even a request reaches them."""
    asked: list[float] = []

    def answer() -> bytes:
        asked.append(time.monotonic())
        return b"ok"

    with body_server(answer) as other:
        config = write_config(endpoint("api", f"{server}/ok") + endpoint("bad", f"{server}/fail")
                              + endpoint("other", f"{other}/"))
        two = run(config, cli_env, "--only", "http:api", "http:bad")
        assert asked == []
        every = run(config, cli_env)
        assert len(asked) == 1
    assert two.returncode == 2
    assert [line.split(" - ")[0] for line in two.stdout.splitlines()[1:]] == [
        "CRITICAL http:bad", "OK http:api"]
    assert "OK http:other" in every.stdout


def test_host_checks_appear_like_any_backend(write_config: Callable[[str], Path],
                                             cli_env: dict[str, str]) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    open_port = listener.getsockname()[1]
    try:
        config = write_config(f"[[host]]\nname = 'web1'\ndisks = ['/']\nports = [{open_port}, 9]\n"
                              "disk_warn = 0\n")
        result = run(config, cli_env)
    finally:
        listener.close()
    lines = result.stdout.splitlines()
    assert result.returncode == 2
    assert f"OK host:web1 port {open_port} - port {open_port} listening" in lines
    assert "CRITICAL host:web1 port 9 - port 9 not listening" in lines
    assert any(line.startswith("WARNING host:web1 disk / - / ") for line in lines)
    assert any(line.startswith("OK host:web1 memory - memory ") for line in lines)


def test_a_bad_entry_is_unknown_with_its_one_line_reason(write_config: Callable[[str], Path],
                                                         cli_env: dict[str, str]) -> None:
    result = run(write_config("[[http]]\nname = 'api'\nurl = 'localhost'\n"), cli_env)
    assert result.returncode == 3, result.stdout + result.stderr
    reason = ("config.toml: [[http]] #1 'url': expected a http:// URL or a https:// URL, "
              "got 'localhost'")
    assert f"UNKNOWN http:api - not checked: [[http]] #1 in the config: {reason}" in result.stdout
    assert result.stderr.strip() == f"opsconsole: warning: [[http]] #1 is not checked: {reason}"


def test_a_missing_env_var_leaves_the_other_targets_checked(
        server: str, write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    text = (endpoint("api", f"{server}/ok")
            + "[[postgres]]\nname = 'app'\n"
              "dsn = 'postgresql://app:${OPSCONSOLE_TEST_UNSET_PW}@127.0.0.1/app'\n")
    env = {k: v for k, v in cli_env.items() if k != "OPSCONSOLE_TEST_UNSET_PW"}
    result = run(write_config(text), env)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("OPSCONSOLE UNKNOWN - 1 ok, 0 warning, 0 critical, 1 unknown")
    assert "OK http:api - 200 in" in result.stdout
    assert "UNKNOWN postgres:app - not checked:" in result.stdout
    assert "OPSCONSOLE_TEST_UNSET_PW" in result.stdout
    only = run(write_config(text), env, "--only", "http:api")
    assert only.returncode == 0 and only.stdout.startswith("OPSCONSOLE OK"), only.stdout


def test_an_unusable_config_still_prints_a_status_line_and_exits_3(
        write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    result = run(write_config("[[http]\nname = 'api'\n"), cli_env)
    assert result.returncode == 3
    assert result.stdout.startswith("OPSCONSOLE UNKNOWN - ")
    assert "not valid TOML" in result.stdout and "Traceback" not in result.stderr
    missing = subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", "/nonexistent.toml"],
                             capture_output=True, text=True, env=cli_env, timeout=60)
    assert missing.returncode == 3
    assert missing.stdout.startswith("OPSCONSOLE UNKNOWN - /nonexistent.toml: no such config file")


def test_a_closed_stdout_ends_quietly(server: str, write_config: Callable[[str], Path],
                                      cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("api", f"{server}/ok") + endpoint("text", f"{server}/ok"))
    for command in (["check"], ["audit"], ["status"]):
        reader = subprocess.Popen([*OPSCONSOLE, "--headless", *command, "--config", str(config)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env)
        assert reader.stdout is not None and reader.stderr is not None
        reader.stdout.close()  # as `| head -0` would: nobody reads what it prints
        errors = reader.stderr.read().decode()
        reader.wait(timeout=60)
        assert "Traceback" not in errors and "BrokenPipe" not in errors, (command, errors)


def test_status_names_each_targets_state(server: str, write_config: Callable[[str], Path],
                                         cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("api", f"{server}/ok") + endpoint("bad", f"{server}/fail"))
    result = subprocess.run([*OPSCONSOLE, "--headless", "status", "--config", str(config)],
                            capture_output=True, text=True, env=cli_env, timeout=60)
    assert result.returncode == 0
    lines = sorted(result.stdout.splitlines())
    assert lines[0].startswith("CRITICAL http:bad: 500 in")
    assert lines[1].startswith("OK       http:api: 200 in")


def test_headless_never_imports_textual_nor_unused_backends(
        server: str, write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("api", f"{server}/ok"))
    probe = ("import sys\nfrom console.cli import main\n"
             f"code = main(['--headless', 'check', '--config', {str(config)!r}])\n"
             "loaded = [m for m in ('textual', 'screens', 'widgets', 'screens.app', 'redis', "
             "'docker', 'psycopg', 'celery', 'pystemd', 'backends.redis', 'backends.docker') "
             "if m in sys.modules]\n"
             "print('LOADED', loaded, code)\n")
    result = subprocess.run([OPSCONSOLE[0], "-c", probe], capture_output=True, text=True,
                            env=cli_env, timeout=60, check=False)
    assert "LOADED [] 0" in result.stdout, result.stdout + result.stderr


def test_status_lists_every_target_without_thresholds(server: str,
                                                      write_config: Callable[[str], Path],
                                                      cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("bad", f"{server}/fail"))
    result = subprocess.run([*OPSCONSOLE, "--headless", "status", "--config", str(config),
                             "--format", "json"], capture_output=True, text=True, env=cli_env,
                            timeout=30, check=False)
    assert result.returncode == 0
    document = json.loads(result.stdout)
    assert document[0]["targets"] == ["http:bad"]
    assert document[0]["snapshot"]["status_code"] == 500


def test_a_failed_endpoint_says_what_it_answered(server: str, write_config: Callable[[str], Path],
                                                 cli_env: dict[str, str]) -> None:
    config = write_config(endpoint("db", f"{server}/db-down") + endpoint("gw", f"{server}/gateway"))
    result = run(config, cli_env, "--format", "json")
    assert result.returncode == 2
    checks = {c["target"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["http:db"]["summary"].endswith('(expected 200): "database connection refused"')
    gateway = checks["http:gw"]
    assert "Bad Gateway: upstream app:8000 is not answering" in gateway["summary"]
    assert "retry later" not in gateway["summary"]  # the first line only
    assert "\x1b" not in result.stdout and "\\x1b" in gateway["summary"]  # escaped, not sent
    assert "status 502" in gateway["details"] and "retry later" in gateway["details"]
    assert "latency of the last 1 answers (ms):" in gateway["details"]
