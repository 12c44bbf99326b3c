"""Moving failed items back to the queue on a private redis-server: exact, typed, kill-safe."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

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
    items = [f"i{n}" for n in range(2500)]
    sync_client.rpush("failed", *items)
    sync_client.rpush("queue", "waiting-1", "waiting-2")
    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        result = await moves.move_items(client, "failed", "queue", chunk=700)
    finally:
        await client.aclose()
    assert (result.moved, result.planned) == (2500, 2500)
    # an RPUSH queue is consumed from the left: the waiting items first, then the retried
    # ones oldest first, across chunk boundaries
    assert _text_list(sync_client, "queue") == ["waiting-1", "waiting-2", *items]
    assert sync_client.exists("failed") == 0


async def test_lpush_queue_is_consumed_in_the_failed_lists_order(
        scratch_redis: RedisServer, sync_client: Redis) -> None:
    items = [f"i{n}" for n in range(1500)]
    sync_client.rpush("failed", *items)
    sync_client.lpush("queue", "waiting-1", "waiting-2")  # RPOP takes waiting-1 first
    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        result = await moves.move_items(client, "failed", "queue", chunk=400, push="lpush")
    finally:
        await client.aclose()
    assert result.moved == 1500
    consumed = list(reversed(_text_list(sync_client, "queue")))
    assert consumed == ["waiting-1", "waiting-2", *items]


async def test_sorted_set_source_moves_in_score_order(scratch_redis: RedisServer,
                                                      sync_client: Redis) -> None:
    scores = {f"z{n}": float(1000 - n) for n in range(1200)}  # z1199 has the lowest score
    sync_client.zadd("failed", scores)
    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        plan = await moves.plan_move(client, "failed", "queue")
        assert (plan.source_type, plan.destination_type, plan.count) == ("zset", "none", 1200)
        result = await moves.move_items(client, "failed", "queue", chunk=500)
    finally:
        await client.aclose()
    assert result.moved == 1200
    assert _text_list(sync_client, "queue") == sorted(scores, key=lambda m: scores[m])
    assert sync_client.exists("failed") == 0


async def test_set_into_set_and_empty_or_missing_sources(scratch_redis: RedisServer,
                                                         sync_client: Redis) -> None:
    _fill_set(sync_client, "failed", [f"s{n}" for n in range(3001)])
    sync_client.sadd("pending", "already-there")
    client = aioredis.Redis.from_url(scratch_redis.url)
    seen: list[tuple[int, int]] = []
    try:
        result = await moves.move_items(client, "failed", "pending", chunk=1000,
                                        progress=lambda d, t: seen.append((d, t)))
        assert seen == [(1000, 3001), (2000, 3001), (3000, 3001), (3001, 3001)]
        assert (result.moved, result.planned) == (3001, 3001)
        assert sync_client.scard("pending") == 3002 and sync_client.exists("failed") == 0
        # nothing to move: no write at all, the destination is not even created
        nothing = await moves.move_items(client, "missing", "fresh")
        assert (nothing.moved, nothing.planned) == (0, 0)
        assert sync_client.exists("fresh") == 0
    finally:
        await client.aclose()


async def test_chunk_size_is_bounded(scratch_redis: RedisServer, sync_client: Redis) -> None:
    sync_client.rpush("failed", "a", "b", "c")
    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        for bad in (0, moves.MAX_CHUNK + 1):
            with pytest.raises(ValueError, match="chunk must be between 1 and 5000"):
                await moves.move_items(client, "failed", "queue", chunk=bad)
        assert sync_client.llen("failed") == 3 and sync_client.exists("queue") == 0
        seen: list[int] = []
        await moves.move_items(client, "failed", "queue", chunk=1,
                               progress=lambda d, t: seen.append(d))
        assert seen == [1, 2, 3]
        sync_client.rpush("failed", *[f"d{n}" for n in range(2500)])
        seen.clear()
        await moves.move_items(client, "failed", "queue", progress=lambda d, t: seen.append(d))
        assert seen == [1000, 2000, 2500]  # the default chunk
        sync_client.delete("queue")
        sync_client.rpush("failed", *[f"m{n}" for n in range(moves.MAX_CHUNK)])
        result = await moves.move_items(client, "failed", "queue", chunk=moves.MAX_CHUNK)
        assert result.moved == moves.MAX_CHUNK
    finally:
        await client.aclose()
    assert _text_list(sync_client, "queue")[:2] == ["m0", "m1"]


async def test_items_added_during_a_move_wait_for_the_next_one(
        scratch_redis: RedisServer, sync_client: Redis) -> None:
    sync_client.rpush("failed", *[f"old{n}" for n in range(1000)])

    def producer(done: int, total: int) -> None:
        sync_client.rpush("failed", f"new-after-{done}")

    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        result = await moves.move_items(client, "failed", "queue", chunk=300, progress=producer)
    finally:
        await client.aclose()
    assert (result.moved, result.planned) == (1000, 1000)
    assert _text_list(sync_client, "queue") == [f"old{n}" for n in range(1000)]
    assert _text_list(sync_client, "failed") == ["new-after-300", "new-after-600",
                                                 "new-after-900", "new-after-1000"]


async def test_a_source_drained_by_someone_else_ends_the_move(
        scratch_redis: RedisServer, sync_client: Redis) -> None:
    sync_client.rpush("failed", *[f"d{n}" for n in range(900)])

    def drain(done: int, total: int) -> None:
        if done == 300:
            sync_client.delete("failed")  # another console purged it meanwhile

    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        async with asyncio.timeout(20):
            result = await moves.move_items(client, "failed", "queue", chunk=300, progress=drain)
    finally:
        await client.aclose()
    assert (result.moved, result.planned) == (300, 900)
    assert _text_list(sync_client, "queue") == [f"d{n}" for n in range(300)]


async def test_a_key_retyped_mid_move_stops_it_and_says_how_far_it_got(
        scratch_redis: RedisServer, sync_client: Redis) -> None:
    sync_client.rpush("failed", *[f"x{n}" for n in range(1000)])

    def retype(key: str) -> Callable[[int, int], None]:
        def change(done: int, total: int) -> None:
            if done == 400:
                sync_client.delete(key)
                sync_client.hset(key, "field", "value")
        return change

    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        with pytest.raises(moves.MoveFailed) as failed:
            await moves.move_items(client, "failed", "queue", chunk=400, progress=retype("queue"))
        assert str(failed.value) == ("stopped after moving 400 of 1,000: queue became a hash; "
                                     "the other items are still in failed")
        assert sync_client.llen("failed") == 600
        sync_client.delete("queue")
        with pytest.raises(moves.MoveFailed) as failed:
            await moves.move_items(client, "failed", "queue", chunk=200, progress=retype("failed"))
        assert str(failed.value) == ("stopped after moving 400 of 600: failed became a hash; "
                                     "the other items are still in failed")
    finally:
        await client.aclose()
    assert _text_list(sync_client, "queue") == [f"x{n}" for n in range(400, 800)]
    assert sync_client.hgetall("failed") == {b"field": b"value"}


async def test_purge_deletes_each_kind_and_counts_it(scratch_redis: RedisServer,
                                                     sync_client: Redis) -> None:
    sync_client.rpush("l", *range(7))
    _fill_set(sync_client, "s", [f"s{n}" for n in range(11)])
    sync_client.zadd("z", {f"z{n}": n for n in range(5)})
    sync_client.set("str", "keep me")
    client = aioredis.Redis.from_url(scratch_redis.url)
    try:
        assert [await moves.purge(client, key) for key in ("l", "s", "z", "gone")] == [7, 11, 5, 0]
        with pytest.raises(moves.MoveRefused, match=r"^str is a string, not a list, set or sorted "
                                                    r"set: not deleted$"):
            await moves.purge(client, "str")
    finally:
        await client.aclose()
    assert sync_client.keys("*") == [b"str"]


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
