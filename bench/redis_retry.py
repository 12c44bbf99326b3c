"""Retry throughput: the chunked server-side move against a naive per-item client loop.

Starts its own redis-server, fills a failed set with 100,000 items, moves them to the queue
with backends.redis.moves.move_items, and compares the rate with a loop doing SRANDMEMBER,
RPUSH and SREM per item (measured on 10,000 items, same run). Prints items/s and the ratio.
Run: .venv/bin/python bench/redis_retry.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis
from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.redis.moves import move_items
from console.sandbox.redis_server import RedisServer

ITEMS = 100_000
NAIVE_ITEMS = 10_000


def fill(client: Redis, count: int) -> None:
    client.delete("failed", "queue")
    pipe = client.pipeline(transaction=False)
    for start in range(0, count, 5000):
        pipe.sadd("failed", *(f"job-{i}" for i in range(start, min(count, start + 5000))))
    pipe.execute()


async def chunked(url: str, chunk: int) -> float:
    client = aioredis.Redis.from_url(url)
    try:
        started = time.perf_counter()
        result = await move_items(client, "failed", "queue", chunk=chunk)
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
    assert result.moved == ITEMS
    return elapsed


def naive(client: Redis) -> float:
    started = time.perf_counter()
    while True:
        item = client.srandmember("failed")
        if not isinstance(item, bytes):
            break
        client.rpush("queue", item)
        client.srem("failed", item)
    return time.perf_counter() - started


def main() -> None:
    server = RedisServer()
    server.start()
    client = Redis.from_url(server.url)
    try:
        fill(client, NAIVE_ITEMS)
        naive_rate = NAIVE_ITEMS / naive(client)
        assert client.llen("queue") == NAIVE_ITEMS
        print(f"naive per-item loop ({NAIVE_ITEMS:,} items): {naive_rate:>12,.0f} items/s")
        for chunk in (500, 1000, 5000):
            fill(client, ITEMS)
            elapsed = asyncio.run(chunked(server.url, chunk))
            assert client.llen("queue") == ITEMS and client.scard("failed") == 0
            rate = ITEMS / elapsed
            print(f"chunked move, chunk {chunk:>5} ({ITEMS:,} items): {rate:>12,.0f} items/s "
                  f"in {elapsed * 1000:.0f} ms  ratio {rate / naive_rate:.0f}x")
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()
