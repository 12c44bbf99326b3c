"""What a watched bridge sends over real ssh: changes only while nobody looks at the host,
every poll (and snapshots of the backends on screen) while the console shows it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from redis import Redis

from backends.redis.snapshot import RedisSnapshot
from console.config import load_config
from console.core.rebuild import rebuild
from console.fleet.client import BridgeClient
from console.sandbox.redis_server import RedisServer
from console.sandbox.sshd_host import SimulatedFleet
from tests.test_fleet_views import queue_section
from tests.test_redis_screen import client

__all__ = ["client"]  # a fixture used by name


async def until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds}s: {what}"
        await asyncio.sleep(0.05)


async def test_a_quiet_host_sends_changes_and_an_open_one_every_poll(
        ssh_fleet: SimulatedFleet, scratch_redis: RedisServer, client: Redis) -> None:
    section = queue_section(scratch_redis, "s1").replace("  failed =", "  warn = 5\n  failed =")
    ssh_fleet.add("web1", section.replace('timeout = 2\n', 'timeout = 2\ninterval = "0.2s"\n'))
    config = load_config(str(ssh_fleet.console_config()))
    assert config.fleet is not None
    polls: list[dict[str, Any]] = []
    bridge = BridgeClient(config.fleet.settings, config.fleet.hosts[0], operator="op@console",
                          on_event=lambda m: polls.append(m) if m["type"] == "poll" else None)
    try:
        hello = await bridge.connect(30)
        assert [(b["id"], b["class"]) for b in hello["backends"]] == [
            ("redis:jobs", "backends.redis.backend:RedisBackend")]
        await bridge.request({"type": "watch"}, 30)
        await until(lambda: len(polls) == 1, "the first poll")
        assert polls[0]["checks"][0]["status"] == "OK" and "snapshot" not in polls[0]
        await asyncio.sleep(2)  # ten polls of an unchanged queue: nothing sent
        pong = await bridge.request({"type": "ping"}, 10)
        assert len(polls) == 1 and pong["last_poll"] > polls[0]["polled_at"]

        client.rpush("s1:queue", *range(8))  # over warn: a fleet row changes
        await until(lambda: len(polls) == 2, "the change")
        assert polls[1]["checks"][0]["status"] == "WARNING"

        await bridge.request({"type": "view", "snapshots": ["redis:jobs"], "every_poll": True},
                             10)
        await until(lambda: len(polls) >= 6, "every poll while the host is on screen")
        latest = polls[-1]
        snapshot = rebuild(RedisSnapshot, latest["snapshot"])
        assert isinstance(snapshot, RedisSnapshot)
        assert [(f.name, f.depth) for f in snapshot.families] == [("s1", 8)]
        assert [a["verb"] for a in latest["actions"]["queue:jobs/s1"]].count("retry") == 1

        await bridge.request({"type": "view", "snapshots": [], "every_poll": False}, 10)
        client.delete("s1:queue")  # a problem's cause is news (its rate changes); OK is not
        await until(lambda: polls[-1]["checks"][0]["status"] == "OK", "back to OK")
        settled = len(polls)
        await asyncio.sleep(2)
        assert len(polls) == settled  # quiet again
    finally:
        await bridge.close()
