"""`opsconsole init`: a config that loads, gives the same overview, keeps secrets out, 0600."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from console.config import load_config
from console.sandbox.processes import free_port
from console.sandbox.redis_server import RedisServer
from tests.conftest import OPSCONSOLE

PASSWORD = "s3cret-pass-word"


@pytest.fixture
def locked_redis() -> Any:
    """An own Redis that needs a password, holding one queue family."""
    server = RedisServer(requirepass=PASSWORD)
    try:
        server.start()
    except Exception as error:  # the test bed's start errors
        from tests.testbed.fixtures import require_service

        require_service("redis", str(error))
    client = redis.Redis.from_url(server.url)
    client.rpush("billing:queue", *range(12))
    client.sadd("billing:failed", "b1", "b2")
    client.close()
    yield server
    server.stop()


@pytest.fixture
def init_env(cli_env: dict[str, str], tmp_path: Path, locked_redis: Any) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return dict(cli_env, HOME=str(home), REDIS_URL=locked_redis.url,
                DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock",
                DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus",
                DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")


def opsconsole(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=env["HOME"])


# Servers other tests start meanwhile listen on ephemeral ports (32768 and up) and come and
# go between the two discoveries; the services this test compares listen below that.
_LISTENER = re.compile(r"^(?:host:vm port |http:httpd-)(\d+)$")


def _ephemeral(key: str) -> bool:
    match = _LISTENER.match(key)
    return match is not None and int(match[1]) >= 32768


def check_keys(result: subprocess.CompletedProcess[str]) -> set[str]:
    document = json.loads(result.stdout)
    keys = {f"{c['target']} {c.get('check') or ''}".strip() for c in document["checks"]}
    return {key for key in keys if not _ephemeral(key)}


def test_init_writes_a_private_file_that_loads_and_gives_the_same_overview(
        init_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    written = opsconsole(init_env, "init")
    assert written.returncode == 0, written.stderr
    path = Path(init_env["HOME"]) / ".config" / "opsconsole" / "config.toml"
    assert f"Wrote {path}" in written.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert PASSWORD not in text and 'url = "${REDIS_URL}"' in text
    assert 'queue = "billing:queue"' in text and 'failed = "billing:failed"' in text
    assert "# Not found on this machine:" in text and "no-docker.sock" in text

    monkeypatch.setenv("REDIS_URL", init_env["REDIS_URL"])
    config = load_config(str(path))
    assert config.warnings == []
    families = [q for entry in config.sections["redis"] for q in entry.queues]
    assert any(q.queue == "billing:queue" and q.failed == "billing:failed" for q in families)

    from_file = opsconsole(init_env, "--headless", "check", "--format", "json",
                           "--config", str(path))
    empty_home = Path(init_env["HOME"] + "-none")
    empty_home.mkdir()
    discovered = opsconsole(dict(init_env, HOME=str(empty_home)),
                            "--headless", "check", "--format", "json")
    assert "queue:redis-env/billing" in from_file.stdout
    assert check_keys(from_file) == check_keys(discovered)
    assert PASSWORD not in from_file.stdout + from_file.stderr


def test_init_never_overwrites_without_force(init_env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "mine.toml"
    target.write_text("# my hand-written config\n")
    refused = opsconsole(init_env, "init", "--output", str(target))
    assert refused.returncode == 2
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert target.read_text() == "# my hand-written config\n"

    forced = opsconsole(init_env, "init", "--output", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "billing:queue" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_init_into_an_unwritable_place_is_one_clear_line(init_env: dict[str, str],
                                                         tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = opsconsole(init_env, "init", "--output", str(blocker / "config.toml"))
    assert result.returncode == 2
    assert "cannot write" in result.stderr and "--output" in result.stderr
    assert "Traceback" not in result.stderr
