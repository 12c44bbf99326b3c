"""Redis queue polling against a real redis-server: depths, types, trends, peeks, faults."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from backends.redis.backend import RedisBackend
from backends.redis.history import History
from backends.redis.peek import safe_text
from backends.redis.snapshot import RedisSnapshot
from console.core.errors import ConfigError
from console.core.model import Status
from console.poller import BackendState
from console.sandbox.redis_server import RedisServer
from tests.test_redis_helpers import backend_for, config_for, family_toml, poll, unique_prefix


@pytest.fixture
def shared(shared_redis_url: str) -> Iterator[tuple[Redis, str]]:
    client = Redis.from_url(shared_redis_url, socket_timeout=5)
    prefix = unique_prefix()
    yield client, prefix
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


async def _snapshot(backend: RedisBackend, state: BackendState | None = None) -> RedisSnapshot:
    result = await poll(backend, state)
    assert result.error is None, result.error
    assert isinstance(result.snapshot, RedisSnapshot)
    return result.snapshot


async def test_depth_of_every_key_type(shared: tuple[Redis, str], shared_redis_url: str,
                                       tmp_path: Path) -> None:
    client, prefix = shared
    client.rpush(f"{prefix}:l:queue", *range(7))
    client.sadd(f"{prefix}:s:queue", *range(5))
    client.zadd(f"{prefix}:z:queue", {f"m{i}": i for i in range(4)})
    for i in range(6):
        client.xadd(f"{prefix}:x:queue", {"n": i})
    client.xgroup_create(f"{prefix}:x:queue", "workers", id="0")
    client.xreadgroup("workers", "c1", {f"{prefix}:x:queue": ">"}, count=2)
    client.sadd(f"{prefix}:l:processing", "a", "b")
    client.rpush(f"{prefix}:l:failed", "f1", "f2", "f3")
    body = "".join(family_toml(n, f"{prefix}:{n}") for n in ("l", "s", "z", "x"))
    backend = backend_for(config_for(shared_redis_url, body, tmp_path))
    try:
        snap = await _snapshot(backend)
        depths = {f.name: (f.queue_type, f.depth) for f in snap.families}
        assert depths == {"l": ("list", 7), "s": ("set", 5), "z": ("zset", 4),
                          "x": ("stream", 6)}
        stream = snap.family("x")
        assert stream is not None and stream.pending == 2
        listed = snap.family("l")
        assert listed is not None and (listed.processing, listed.failed) == (2, 3)
        checks = {c.target: c for c in backend.evaluate(snap)}
        perf = " ".join(p.render() for p in checks["queue:crawl/l"].perfdata)
        assert "'l_depth'=7;;;0" in perf and "'l_failed'=3;1;;0" in perf
        # the second poll reads cached types: one round trip, same answers
        trips = backend.probe.round_trips
        again = await _snapshot(backend)
        assert backend.probe.round_trips == trips + 1
        assert {f.name: f.depth for f in again.families} == {"l": 7, "s": 5, "z": 4, "x": 6}
    finally:
        await backend.close()


async def test_wrong_type_and_retyped_key(shared: tuple[Redis, str], shared_redis_url: str,
                                          tmp_path: Path) -> None:
    client, prefix = shared
    client.rpush(f"{prefix}:q:queue", "a", "b")
    client.set(f"{prefix}:q:failed", "not a set")
    backend = backend_for(config_for(shared_redis_url, family_toml("q", f"{prefix}:q"),
                                     tmp_path))
    try:
        check = backend.evaluate(await _snapshot(backend))[0]
        assert check.status is Status.CRITICAL
        assert f"{prefix}:q:failed is a string" in check.summary
        # the queue key is replaced by a set between polls: WRONGTYPE, re-detected at once
        client.delete(f"{prefix}:q:queue", f"{prefix}:q:failed")
        client.sadd(f"{prefix}:q:queue", "x", "y", "z")
        snap = await _snapshot(backend)
        family = snap.families[0]
        assert (family.queue_type, family.depth, family.problems) == ("set", 3, ())
        # the key disappears: an empty queue, not an error
        client.delete(f"{prefix}:q:queue")
        family = (await _snapshot(backend)).families[0]
        assert family.depth == 0
        assert backend.evaluate(await _snapshot(backend))[0].status is Status.OK
    finally:
        await backend.close()


async def test_trend_growth_and_stuck_processing(shared: tuple[Redis, str],
                                                 shared_redis_url: str, tmp_path: Path) -> None:
    client, prefix = shared
    extra = '  growing_for = "0.1s"\n  stuck_for = "0.2s"\n'
    backend = backend_for(config_for(shared_redis_url, family_toml("t", f"{prefix}:t",
                                                                   extra=extra), tmp_path))
    queue = f"{prefix}:t:queue"
    try:
        client.sadd(f"{prefix}:t:processing", "job-1")
        for depth in (10, 20, 30, 40):
            client.delete(queue)
            client.rpush(queue, *range(depth))
            snap = await _snapshot(backend)
            await asyncio.sleep(0.08)
        check = backend.evaluate(snap)[0]
        assert check.status is Status.WARNING
        assert "growing" in check.summary and "STUCK" in check.summary
        assert snap.families[0].trend.samples == (10, 20, 30, 40)
        # draining: the rate turns negative and a time to empty appears
        for depth in (35, 30, 25, 20, 15, 10, 5):
            client.delete(queue)
            client.rpush(queue, *range(depth))
            client.sadd(f"{prefix}:t:processing", f"job-{depth}")  # workers move on
            snap = await _snapshot(backend)
            await asyncio.sleep(0.08)
        family = snap.families[0]
        assert family.trend.rate_per_min is not None and family.trend.rate_per_min < 0
        assert family.trend.drain_seconds is not None
        check = backend.evaluate(snap)[0]
        assert "draining" in check.summary and "empty in" in check.summary
        assert "STUCK" not in check.summary and "growing for" not in check.summary
    finally:
        await backend.close()


def test_history_rate_and_stuck_with_explicit_clock() -> None:
    history = History()
    for second, depth in enumerate((42, 35, 28, 21)):
        trend = history.add("q", 1000.0 + second * 60, depth, 2, ("a", "b"))
    assert trend.rate_per_min == pytest.approx(-7.0)
    assert trend.drain_seconds == pytest.approx(180.0)
    assert trend.processing_unchanged_since == 1000.0
    assert trend.growing_since is None
    trend = history.add("q", 1300.0, 21, 2, ("a", "c"))
    assert trend.processing_unchanged_since == 1300.0


async def test_discover_and_celery_queues(shared: tuple[Redis, str], shared_redis_url: str,
                                          tmp_path: Path) -> None:
    client, prefix = shared
    for name, depth in (("alpha", 3), ("beta", 5)):
        client.rpush(f"{prefix}:jobs:{name}", *range(depth))
    celery = f"{prefix}-celery"
    client.rpush(celery, "m1", "m2")
    client.rpush(celery + "\x06\x163", "m3")
    client.rpush(celery + "\x06\x169", "m4", "m5")
    head = f'discover = "{prefix}:jobs:*"\ncelery_queues = ["{celery}"]\n'
    backend = backend_for(config_for(shared_redis_url, "", tmp_path, head=head))
    try:
        snap = await _snapshot(backend)
        depths = {f.name: f.depth for f in snap.families}
        assert depths == {celery: 5, f"{prefix}:jobs:alpha": 3, f"{prefix}:jobs:beta": 5}
        assert backend.answers_for(f"queue:crawl/{prefix}:jobs:beta")
    finally:
        await backend.close()


async def test_peek_is_cut_and_escaped(shared: tuple[Redis, str], shared_redis_url: str,
                                       tmp_path: Path) -> None:
    client, prefix = shared
    huge = b"x" * 10_000_000
    client.rpush(f"{prefix}:p:queue", b"plain", b"\x1b[31mred\x07\n\xff", huge)
    client.sadd(f"{prefix}:p:failed", b"[bold]markup[/bold]")
    backend = backend_for(config_for(shared_redis_url, family_toml("p", f"{prefix}:p"),
                                     tmp_path))
    try:
        queue, processing, failed = await backend.peek_family("queue:crawl/p")
        texts = [item.text for item in queue.items]
        assert texts[0] == "plain"
        assert texts[1] == "\\x1b[31mred\\x07\\n\\xff"
        assert texts[2].startswith("x" * 200) and texts[2].endswith("… (9.5 MiB)")
        assert len(texts[2]) < 300 and queue.items[2].size == 10_000_000
        assert processing.type == "none" and processing.items == ()
        assert [i.text for i in failed.items] == ["[bold]markup[/bold]"]
    finally:
        await backend.close()


def test_safe_text_escapes_backslashes_and_marks_cuts() -> None:
    assert safe_text(b"a\\x41", 5) == "a\\\\x41"
    assert safe_text("é€".encode(), 5) == "é€"
    assert safe_text(b"abcdef", 6, limit=3) == "abc… (6 B)"


def test_config_errors_name_the_key(tmp_path: Path, shared_redis_url: str) -> None:
    with pytest.raises(ConfigError, match=r"\[\[redis\]\] #1 'url': expected a redis:// URL"):
        config_for("localhost", family_toml("q", "k"), tmp_path)
    with pytest.raises(ConfigError, match="'crit': must not be below its warn threshold"):
        config_for(shared_redis_url, family_toml("q", "k", extra="  warn = 10\n  crit = 5\n"),
                   tmp_path)
    with pytest.raises(ConfigError, match="'stuck_fr': unknown key"):
        config_for(shared_redis_url, family_toml("q", "k", extra='  stuck_fr = "5m"\n'),
                   tmp_path)


async def test_down_hung_and_wrong_password(tmp_path: Path) -> None:
    server = RedisServer(requirepass="s3cret-pass")
    server.start()
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    hung_port = hung.getsockname()[1]
    try:
        cases = {
            "wrong": (server.url.replace("s3cret-pass", "nope-nope"), "authentication failed"),
            "nopass": (server.url.replace(":s3cret-pass@", ""), "wants a password"),
            "hung": (f"redis://127.0.0.1:{hung_port}/0", "no answer within 1s"),
        }
        for name, (url, expected) in cases.items():
            backend = backend_for(config_for(url, family_toml("q", "k"), tmp_path, timeout=1))
            try:
                result = await poll(backend)
            finally:
                await backend.close()
            assert result.error is not None and expected in result.error, (name, result.error)
            assert "s3cret" not in result.error and "nope-nope" not in result.error
            assert result.checks[0].status is Status.CRITICAL
            if name == "hung":
                assert result.duration < 15  # wide: only proves the 1 s timeout cut the hang
        port = server.port
        server.stop()
        backend = backend_for(config_for(f"redis://127.0.0.1:{port}/0", family_toml("q", "k"),
                                         tmp_path))
        result = await poll(backend)
        await backend.close()
        assert result.error is not None and "connection refused" in result.error
        assert result.checks[0].target == "queue:crawl/q"
    finally:
        hung.close()
        server.stop()
