"""The headless check and retry/requeue/purge commands for Redis queues, run as subprocesses."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from console.sandbox.redis_server import RedisServer
from tests.conftest import OPSCONSOLE


@pytest.fixture
def client(scratch_redis: RedisServer) -> Iterator[Redis]:
    redis = Redis.from_url(scratch_redis.url, socket_timeout=5)
    yield redis
    redis.close()


def _config(url: str) -> str:
    return f"""
[[redis]]
name = "crawl"
url = "{url}"
timeout = 1
  [[redis.queues]]
  name = "auto_record"
  queue = "crawl:auto_record:queue"
  processing = "crawl:auto_record:processing"
  failed = "crawl:auto_record:failed"
  warn = 1000
  crit = 10000
"""


def _run(cli_env: dict[str, str], config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args],
                          env=cli_env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_check_exit_codes_and_perfdata(scratch_redis: RedisServer, client: Redis,
                                       write_config: Callable[[str], Path],
                                       cli_env: dict[str, str]) -> None:
    config = write_config(_config(scratch_redis.url))
    client.rpush("crawl:auto_record:queue", *range(42))
    ok = _run(cli_env, config, "check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "'auto_record_depth'=42;1000;10000;0" in ok.stdout
    client.rpush("crawl:auto_record:queue", *range(10_000))
    crit = _run(cli_env, config, "check", "--only", "queue:crawl/auto_record")
    assert crit.returncode == 2 and "depth 10,042" in crit.stdout
    client.set("crawl:auto_record:failed", "oops")
    wrong = _run(cli_env, config, "check")
    assert wrong.returncode == 2
    assert "crawl:auto_record:failed is a string" in wrong.stdout
    scratch_redis.pause()
    try:
        hung = _run(cli_env, config, "check")
    finally:
        scratch_redis.resume()
    assert hung.returncode == 2 and "no answer within 1s" in hung.stdout


def test_retry_requeue_purge_exit_codes(scratch_redis: RedisServer, client: Redis,
                                        write_config: Callable[[str], Path],
                                        cli_env: dict[str, str]) -> None:
    config = write_config(_config(scratch_redis.url))
    client.sadd("crawl:auto_record:failed", *[f"f{i}" for i in range(1234)])
    client.sadd("crawl:auto_record:processing", "p1", "p2")
    dry = _run(cli_env, config, "retry", "queue:crawl/auto_record", "--dry-run")
    assert dry.returncode == 0 and "would move 1,234 items" in dry.stdout
    assert client.scard("crawl:auto_record:failed") == 1234
    refused = _run(cli_env, config, "retry", "queue:crawl/auto_record")
    assert refused.returncode == 3 and "pass --yes" in refused.stderr
    read_only = _run(cli_env, config, "--read-only", "retry", "queue:crawl/auto_record",
                     "--yes")
    assert read_only.returncode == 3 and client.scard("crawl:auto_record:failed") == 1234
    done = _run(cli_env, config, "retry", "queue:crawl/auto_record", "--yes")
    assert done.returncode == 0 and "retried 1,234 failed items" in done.stdout
    assert client.llen("crawl:auto_record:queue") == 1234
    assert client.exists("crawl:auto_record:failed") == 0
    unknown = _run(cli_env, config, "retry", "queue:crawl/nope", "--yes")
    assert unknown.returncode == 2
    client.sadd("crawl:auto_record:failed", "bad")
    client.delete("crawl:auto_record:queue")
    client.hset("crawl:auto_record:queue", "k", "v")
    wrong = _run(cli_env, config, "retry", "queue:crawl/auto_record", "--yes")
    assert wrong.returncode == 1 and "is a hash, not a list or set" in wrong.stderr
    assert client.smembers("crawl:auto_record:failed") == {b"bad"}
    audit = _run(cli_env, config, "audit", "--format", "json")
    assert audit.returncode == 0 and "retry" in audit.stdout


def test_purge_and_requeue_through_the_dispatcher(scratch_redis: RedisServer, client: Redis,
                                    write_config: Callable[[str], Path],
                                    cli_env: dict[str, str]) -> None:
    """No headless purge/requeue command exists; the dispatcher path is exercised in-process."""
    import asyncio

    from backends.redis.backend import RedisBackend
    from console.assembly import build_backends
    from console.config import parse_config
    from console.core.identity import current_identity
    from console.dispatcher import Dispatcher
    from console.poller import BackendState, poll_once

    path = write_config(_config(scratch_redis.url))
    config = parse_config(path.read_text(), path)
    client.sadd("crawl:auto_record:failed", *range(77))
    client.sadd("crawl:auto_record:processing", "busy-1", "busy-2")
    client.rpush("crawl:auto_record:queue", "waiting")

    async def scenario() -> tuple[str, str, str]:
        backend = build_backends(config)[0]
        assert isinstance(backend, RedisBackend)
        dispatcher = Dispatcher(state_dir=config.console.state_dir, read_only=False,
                                redactor=config.redactor, identity=current_identity())
        try:
            result = await poll_once(backend, BackendState(), config.redactor)
            spec = next(s for s in backend.actions(result.snapshot, "queue:crawl/auto_record")
                        if s.verb == "purge")
            assert spec.type_to_confirm == "auto_record"

            async def wrong_name(_: object) -> bool:
                return False

            async def typed(_: object) -> bool:
                return True

            refused = await dispatcher.run(spec, wrong_name)
            done = await dispatcher.run(spec, typed)
            requeue = next(s for s in backend.actions(result.snapshot, "queue:crawl/auto_record")
                           if s.verb == "requeue")
            assert "move 2 items from crawl:auto_record:processing" in requeue.effect
            moved = await dispatcher.run(requeue, typed)
            return (refused.state, done.outcome.message if done.outcome else "",
                    moved.outcome.message if moved.outcome else "")
        finally:
            await backend.close()

    refused, message, requeued = asyncio.run(scenario())
    assert requeued.startswith("requeued 2 items")
    assert client.lrange("crawl:auto_record:queue", 0, 0) == [b"waiting"]
    assert client.llen("crawl:auto_record:queue") == 3
    assert client.exists("crawl:auto_record:processing") == 0
    assert refused == "refused" and message == "purged crawl:auto_record:failed: 77 items deleted"
    assert client.exists("crawl:auto_record:failed") == 0
    audit = _run(cli_env, path, "audit", "--format", "json")
    assert '"count": "77"' in audit.stdout, audit.stdout
