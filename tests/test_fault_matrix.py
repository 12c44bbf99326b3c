"""Every backend kind against real broken servers made here: down (a closed port or a missing
socket), hung (a listener that never answers), slow (answers after a delay within the
timeout), auth refused and bad data (a socket speaking another protocol, a key of the wrong
type). Each cell runs the real headless check and asserts its deadline, its exit code and a
one-line reason in the user's words, with no traceback or library placeholder text."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import OPSCONSOLE
from tests.support.faults import HTTP_PAGE, SSH_BANNER, Listener, closed_port, listening
from tests.support.http_server import health_server

DEADLINE = 8  # the run's --timeout; each backend has timeout = 1
BOUND = DEADLINE + 20  # wide: proves the deadline held, nothing about speed
INTERNALS = ("Traceback", "DBusBaseError", "did not see that coming", "Expecting value",
             "object at 0x", "Errno", "BadStatusLine")


@pytest.fixture(scope="module")
def hung() -> Iterator[Listener]:
    """One TCP listener that never answers, shared by every hung cell."""
    listener = Listener(None)
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def ssh() -> Iterator[Listener]:
    """One TCP socket that speaks SSH to whoever connects: the wrong protocol for all."""
    listener = Listener(SSH_BANNER)
    yield listener
    listener.close()


def check(cli_env: dict[str, str], write_config: Callable[[str], Path], toml: str,
          ) -> tuple[int, list[str]]:
    config = write_config(toml)
    started = time.monotonic()
    done = subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", str(config),
                           "--timeout", str(DEADLINE)], env=cli_env, capture_output=True,
                          text=True, timeout=BOUND + 30, stdin=subprocess.DEVNULL)
    assert time.monotonic() - started < BOUND, "the run's deadline did not hold"
    out = done.stdout + done.stderr
    assert not any(word in out for word in INTERNALS), out
    assert all(c.isprintable() for line in out.splitlines() for c in line), out
    lines = [line for line in done.stdout.splitlines() if not line.startswith("OPSCONSOLE")]
    return done.returncode, lines


def one_reason(lines: list[str], target: str, *words: str) -> str:
    mine = [line for line in lines if f" {target} - " in line]
    assert mine, lines
    line = mine[0]
    assert all(w in line for w in words), (words, line)
    return line


# -- http ---------------------------------------------------------------------------------
def test_http_down_hung_and_not_http(cli_env, write_config, hung, ssh) -> None:  # type: ignore[no-untyped-def]
    toml = "".join(f"[[http]]\nname = '{name}'\nurl = 'http://127.0.0.1:{port}/'\ntimeout = 1\n"
                   for name, port in (("down", closed_port()), ("hung", hung.port),
                                      ("garbage", ssh.port)))
    code, lines = check(cli_env, write_config, toml)
    assert code == 2
    one_reason(lines, "http:down", "CRITICAL", "refused")
    one_reason(lines, "http:hung", "CRITICAL", "no answer within 1s")
    one_reason(lines, "http:garbage", "CRITICAL")


def test_http_slow_but_within_its_timeout_is_ok(cli_env, write_config) -> None:  # type: ignore[no-untyped-def]
    with health_server(slow_seconds=0.5) as url:
        code, lines = check(cli_env, write_config,
                            f"[[http]]\nname = 'slow'\nurl = '{url}/slow'\ntimeout = 5\n")
    assert code == 0, lines
    one_reason(lines, "http:slow", "OK")


# -- redis --------------------------------------------------------------------------------
def _redis(name: str, url: str, queue: str = "q") -> str:
    return (f"[[redis]]\nname = '{name}'\nurl = '{url}'\ntimeout = 1\n"
            f"  [[redis.queues]]\n  name = 'jobs'\n  queue = '{queue}'\n")


def test_redis_down_hung_not_redis_and_wrong_type(cli_env, write_config, hung, ssh,  # type: ignore[no-untyped-def]
                                                   shared_redis_url) -> None:
    key = f"octest:{uuid.uuid4().hex[:8]}:queue"
    client = redis.Redis.from_url(shared_redis_url)
    client.hset(key, "not", "a list")
    try:
        code, lines = check(cli_env, write_config, "".join((
            _redis("down", f"redis://127.0.0.1:{closed_port()}/0"),
            _redis("hung", f"redis://127.0.0.1:{hung.port}/0"),
            _redis("garbage", f"redis://127.0.0.1:{ssh.port}/0"),
            _redis("typed", shared_redis_url, key))))
    finally:
        client.delete(key)
        client.close()
    assert code == 2
    one_reason(lines, "queue:down/jobs", "CRITICAL", "refused")
    one_reason(lines, "queue:hung/jobs", "CRITICAL", "no answer within 1s")
    one_reason(lines, "queue:garbage/jobs", "CRITICAL")
    assert any("queue:typed/jobs" in line for line in lines), lines


def test_redis_wrong_password_is_refused_in_words(cli_env, write_config, scratch_redis) -> None:  # type: ignore[no-untyped-def]
    admin = redis.Redis(host="127.0.0.1", port=scratch_redis.port)
    admin.config_set("requirepass", "right-one")
    admin.close()
    url = f"redis://:wrong-one@127.0.0.1:{scratch_redis.port}/0"
    code, lines = check(cli_env, write_config, _redis("auth", url))
    assert code == 2
    line = one_reason(lines, "queue:auth/jobs", "CRITICAL")
    assert "password" in line or "authentication" in line
    assert "wrong-one" not in line


# -- celery -------------------------------------------------------------------------------
def test_celery_down_and_hung(cli_env, write_config, hung) -> None:  # type: ignore[no-untyped-def]
    code, lines = check(cli_env, write_config, "".join(
        f"[[celery]]\nname = '{name}'\nbroker = 'redis://127.0.0.1:{port}/1'\ntimeout = 1\n"
        for name, port in (("down", closed_port()), ("hung", hung.port))))
    assert code == 2
    one_reason(lines, "celery:down", "CRITICAL")
    one_reason(lines, "celery:hung", "CRITICAL")


def test_one_celery_queue_of_the_wrong_type_spoils_that_queue_only(
        cli_env, write_config, shared_redis_url) -> None:  # type: ignore[no-untyped-def]
    db = shared_redis_url.rsplit("/", 1)[0] + "/7"
    bad, good = f"bad-{uuid.uuid4().hex[:6]}", f"good-{uuid.uuid4().hex[:6]}"
    client = redis.Redis.from_url(db)
    client.set(bad, "someone else's string")
    client.rpush(good, "m1", "m2")
    try:
        code, lines = check(cli_env, write_config,
                            f"[[celery]]\nname = 'app'\nbroker = '{db}'\ntimeout = 2\n"
                            f"queues = ['{bad}', '{good}']\nexpect_workers = 0\n")
    finally:
        client.delete(bad, good)
        client.close()
    text = "\n".join(lines)
    assert "unreachable" not in text and "WRONGTYPE" not in text, text
    assert any("failed in the last hour" in line for line in lines), text  # failed tasks stay
    assert any("workers" in line for line in lines), text  # the worker check stays
    queues = next(line for line in lines if "queued" in line)
    assert queues.startswith("UNKNOWN") and f"{bad}: key {bad} is not a list" in queues
    assert f"{good} 2" in queues
    assert code == 2  # no worker is online: the worker check, which stays, says so


# -- postgres -----------------------------------------------------------------------------
def test_postgres_down_hung_and_not_postgres(cli_env, write_config, hung, ssh) -> None:  # type: ignore[no-untyped-def]
    code, lines = check(cli_env, write_config, "".join(
        f"[[postgres]]\nname = '{name}'\ndsn = 'postgresql://u@127.0.0.1:{port}/db'\n"
        "timeout = 1\n" for name, port in (("down", closed_port()), ("hung", hung.port),
                                           ("garbage", ssh.port))))
    assert code == 2
    one_reason(lines, "postgres:down", "CRITICAL")
    one_reason(lines, "postgres:hung", "CRITICAL")
    one_reason(lines, "postgres:garbage", "CRITICAL")


# -- docker -------------------------------------------------------------------------------
def test_docker_missing_hung_and_not_docker(cli_env, write_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def entry(path: Path) -> str:
        return f"[[docker]]\nhost = 'unix://{path}'\ncontainers = ['ledger']\ntimeout = 1\n"

    with listening(None, tmp_path / "hung.sock"), \
            listening(HTTP_PAGE, tmp_path / "web.sock", greeting_first=False):
        code, lines = check(cli_env, write_config, entry(tmp_path / "missing.sock"))
        assert code == 2
        one_reason(lines, "container:ledger", "CRITICAL", "does not exist", "dockerd")
        code, lines = check(cli_env, write_config, entry(tmp_path / "hung.sock"))
        assert code == 2
        one_reason(lines, "container:ledger", "CRITICAL", "did not answer within 1s")
        code, lines = check(cli_env, write_config, entry(tmp_path / "web.sock"))
        assert code == 2
        one_reason(lines, "container:ledger", "CRITICAL", "not a Docker engine",
                   "answers HTTP, but not the Docker API", "host =")


# -- systemd ------------------------------------------------------------------------------
def test_systemd_missing_hung_and_not_dbus(cli_env, write_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def entry(path: Path) -> str:
        return f"[[systemd]]\nbus = 'unix:path={path}'\nunits = ['app.service']\ntimeout = 1\n"

    with listening(None, tmp_path / "hung.sock"), \
            listening(HTTP_PAGE, tmp_path / "web.sock", greeting_first=False, repeat=True):
        for sock, words in (("missing.sock", ("cannot reach", "bus address")),
                            ("hung.sock", ("no answer from systemd within 1s",)),
                            ("web.sock", ("did not accept a D-Bus connection",
                                          "bus address"))):
            code, lines = check(cli_env, write_config, entry(tmp_path / sock))
            assert code in (2, 3), lines
            one_reason(lines, "unit:app.service", *words)
