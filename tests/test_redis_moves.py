"""Moving failed items back to the queue on a private redis-server: exact, typed, kill-safe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from redis import Redis

from backends.redis import moves
from console.sandbox.redis_server import RedisServer
from tests.conftest import ROOT, seeded_rng

ITEMS = 100_000

_MOVER = """
import asyncio, sys
import redis.asyncio as aioredis
from backends.redis.moves import move_items

async def main() -> None:
    client = aioredis.Redis.from_url(sys.argv[1])
    print("ready", flush=True)
    await move_items(client, sys.argv[2], sys.argv[3], chunk=int(sys.argv[4]))

asyncio.run(main())
"""


@pytest.fixture
def sync_client(scratch_redis: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(scratch_redis.url, socket_timeout=10)
    yield client
    client.close()


def _text_list(client: Redis, key: str) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in client.lrange(key, 0, -1)]


def _fill_set(client: Redis, key: str, items: list[str]) -> None:
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(items), 5000):
        pipe.sadd(key, *items[start:start + 5000])
    pipe.execute()


async def test_retry_of_100k_items_is_exact(scratch_redis: RedisServer,
                                            sync_client: Redis) -> None:
    items = [f"job-{i}" for i in range(ITEMS)]
    _fill_set(sync_client, "f", items)
    sync_client.rpush("q", "older-1", "older-2", "older-3")
    client = aioredis.Redis.from_url(scratch_redis.url)
    seen: list[tuple[int, int]] = []
    try:
        plan = await moves.plan_move(client, "f", "q")
        assert (plan.count, plan.source_type, plan.destination_type) == (ITEMS, "set", "list")
        result = await moves.move_items(client, "f", "q", chunk=1000,
                                        progress=lambda d, t: seen.append((d, t)))
    finally:
        await client.aclose()
    assert result.moved == ITEMS
    assert seen[-1] == (ITEMS, ITEMS) and len(seen) == ITEMS // 1000
    queue = _text_list(sync_client, "q")
    assert queue[:3] == ["older-1", "older-2", "older-3"]
    assert len(queue) == ITEMS + 3 and sorted(queue[3:]) == sorted(items)
    assert sync_client.exists("f") == 0


async def test_wrong_destination_type_refuses_and_keeps_everything(
        scratch_redis: RedisServer, sync_client: Redis) -> None:
    _fill_set(sync_client, "f", [f"x{i}" for i in range(9000)])
    sync_client.hset("q", "field", "value")
    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        with pytest.raises(moves.MoveRefused, match="q is a hash, not a list or set"):
            await moves.move_items(client, "f", "q")
        # the type changes after the check: the chunk script refuses before writing anything
        sync_client.delete("q")
        sync_client.set("q", "now a string")
        with pytest.raises(moves.MoveRefused):
            await moves.move_items(client, "f", "q")
        plan = moves.MovePlan("f", "q", "set", "list", 9000)
        script = client.register_script(moves._MOVE_CHUNK)
        with pytest.raises(Exception, match="OPSWRONGTYPE destination string"):
            await script(keys=["f", "q"], args=[1000, "rpush"])
        assert plan.count == sync_client.scard("f")
        with pytest.raises(moves.MoveRefused, match="not deleted"):
            await moves.purge(client, "q")
    finally:
        await client.aclose()
    assert sync_client.scard("f") == 9000 and sync_client.get("q") == b"now a string"


async def test_list_source_keeps_its_order(scratch_redis: RedisServer,
                                           sync_client: Redis) -> None:
    sync_client.rpush("failed", *[f"i{n}" for n in range(2500)])
    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        result = await moves.move_items(client, "failed", "queue", chunk=700)
        assert await moves.purge(client, "queue") == 2500
    finally:
        await client.aclose()
    assert result.moved == 2500


def test_sigkill_during_retry_loses_and_duplicates_nothing(scratch_redis: RedisServer,
                                                           sync_client: Redis) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    partial_kills = 0
    rng = seeded_rng()
    for round_number in range(20):
        items = [f"r{round_number}-{i}" for i in range(ITEMS)]
        sync_client.delete("f", "q")
        sync_client.rpush("q", "head-1", "head-2")
        _fill_set(sync_client, "f", items)
        mover = subprocess.Popen([sys.executable, "-c", _MOVER, scratch_redis.url, "f", "q",
                                  "250"], env=env, stdout=subprocess.PIPE, cwd=ROOT)
        try:
            assert mover.stdout is not None and mover.stdout.readline() == b"ready\n"
            deadline = time.monotonic() + 10
            while sync_client.scard("f") == ITEMS and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.25))
            os.kill(mover.pid, signal.SIGKILL)
        finally:
            mover.wait(timeout=10)
            if mover.stdout is not None:
                mover.stdout.close()
        left = sync_client.scard("f")
        partial_kills += 0 < left < ITEMS
        rerun = subprocess.run([sys.executable, "-c", _MOVER, scratch_redis.url, "f", "q",
                                "1000"], env=env, capture_output=True, timeout=60, cwd=ROOT)
        assert rerun.returncode == 0, rerun.stderr.decode()[-500:]
        queue = _text_list(sync_client, "q")
        assert queue[:2] == ["head-1", "head-2"]
        moved = queue[2:]
        assert len(moved) == ITEMS, f"round {round_number}: {len(moved) - ITEMS:+d} items"
        assert set(moved) == set(items), f"round {round_number}: items lost"
        assert sync_client.exists("f") == 0
    assert partial_kills > 0, "no kill landed in the middle of a retry"
