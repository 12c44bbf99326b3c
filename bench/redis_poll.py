"""Poll cost of Redis queue families: one pipelined collect() against one redis-cli per key.

Starts its own redis-server on a free port, creates 10, 100 and 1,000 families (a list, a
processing set and a failed set each), and prints the time of one poll both ways and the ratio.
Run: .venv/bin/python bench/redis_poll.py
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.base import Runtime
from backends.redis.backend import RedisBackend
from backends.redis.config import QueueConfig, RedisConfig
from console.core.secrets import Redactor
from console.sandbox.redis_server import RedisServer

FAMILIES = (10, 100, 1000)


def fill(client: Redis, families: int) -> list[QueueConfig]:
    client.flushdb()
    pipe = client.pipeline(transaction=False)
    queues = []
    for i in range(families):
        prefix = f"bench:{i}"
        pipe.rpush(f"{prefix}:queue", *range(i % 50 + 1))
        pipe.sadd(f"{prefix}:processing", "a", "b")
        pipe.sadd(f"{prefix}:failed", *range(i % 7 + 1))
        queues.append(QueueConfig(f"q{i}", f"{prefix}:queue", f"{prefix}:processing",
                                  f"{prefix}:failed"))
    pipe.execute()
    return queues


async def console_poll(url: str, queues: list[QueueConfig], rounds: int = 20) -> float:
    config = RedisConfig("bench", url, None, None, 5.0, None, tuple(queues))
    backend = RedisBackend(config, Runtime(Redactor(), Path("/tmp")))
    try:
        await backend.collect()  # first poll detects the types
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            await backend.collect()
            times.append(time.perf_counter() - started)
    finally:
        await backend.close()
    return statistics.median(times)


def cli_poll(port: int, queues: list[QueueConfig]) -> float:
    started = time.perf_counter()
    for queue in queues:
        for command, key in (("LLEN", queue.queue), ("SCARD", queue.processing),
                             ("SCARD", queue.failed)):
            subprocess.run(["redis-cli", "-p", str(port), command, str(key)], check=True,
                           capture_output=True, timeout=10)
    return time.perf_counter() - started


def main() -> None:
    server = RedisServer()
    server.start()
    client = Redis.from_url(server.url)
    try:
        print(f"{'families':>9} {'keys':>6} {'console poll':>13} {'redis-cli/key':>14} {'ratio':>8}")
        for families in FAMILIES:
            queues = fill(client, families)
            ours = asyncio.run(console_poll(server.url, queues))
            plain = cli_poll(server.port, queues)
            print(f"{families:>9} {families * 3:>6} {ours * 1000:>10.2f} ms {plain * 1000:>11.0f} ms "
                  f"{plain / ours:>7.0f}x")
    finally:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()
