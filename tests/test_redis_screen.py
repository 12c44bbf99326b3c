"""The Queues screen driven with Pilot against a real redis-server: select, act, confirm, see it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.config import load_config
from console.sandbox.redis_server import RedisServer
from screens.app import OpsConsoleApp


@pytest.fixture
def client(scratch_redis: RedisServer) -> Iterator[Redis]:
    redis = Redis.from_url(scratch_redis.url, socket_timeout=5)
    yield redis
    redis.close()


@pytest.fixture
def app_config(scratch_redis: RedisServer, write_config: Callable[[str], Path]) -> Path:
    families = "".join(
        f'  [[redis.queues]]\n  name = "{name}"\n  queue = "{name}:queue"\n'
        f'  processing = "{name}:processing"\n  failed = "{name}:failed"\n'
        for name in ("alpha", "beta"))
    return write_config(f'[console]\nrefresh = "0.3s"\n[[redis]]\nname = "crawl"\n'
                        f'url = "{scratch_redis.url}"\ntimeout = 2\n{families}')


def rows(app: OpsConsoleApp) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)]
            for i in range(table.row_count)]


def row(app: OpsConsoleApp, name: str) -> list[str]:
    return next((r for r in rows(app) if r[1] == name), [])


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_retry_from_the_queues_screen(app_config: Path, client: Redis) -> None:
    client.rpush("beta:queue", "b1", "b2")
    client.sadd("beta:failed", *[f"f{i}" for i in range(25)])
    client.rpush("alpha:queue", "\x1b[2Jclear-screen", "a2")
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("3")
        assert app.current_mode == "queues"
        await wait_for(pilot, lambda: row(app, "crawl/beta")[7:8] == ["25"])
        assert row(app, "crawl/beta")[0] == "WARN" and row(app, "crawl/beta")[2] == "2"
        await pilot.press("down")  # rows are sorted: alpha, then beta
        await pilot.press("t")
        assert type(app.screen).__name__ == "ConfirmScreen"
        effect = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "move 25 items from beta:failed back to beta:queue" in effect
        await pilot.press("y")
        await wait_for(pilot, lambda: row(app, "crawl/beta")[2] == "27"
                       and row(app, "crawl/beta")[7] == "0")
        assert row(app, "crawl/beta")[0] == "OK"
        assert client.llen("beta:queue") == 27 and client.exists("beta:failed") == 0
        # enter peeks: the escape sequence is shown escaped, never sent to the terminal
        await pilot.press("up", "enter")
        assert type(app.screen).__name__ == "QueueDetailScreen"
        peek = app.screen.query_one("#peek", Static)
        await wait_for(pilot, lambda: "clear-screen" in str(peek.render()))
        assert "\\x1b[2Jclear-screen" in str(peek.render())
        await pilot.press("escape")
        assert type(app.screen).__name__ == "QueuesScreen"


async def test_purge_needs_the_family_name_typed(app_config: Path, client: Redis) -> None:
    client.sadd("alpha:failed", "x", "y", "z")
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: row(app, "crawl/alpha")[7:8] == ["3"])
        await pilot.press("x")
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press(*"alph", "enter")
        assert client.scard("alpha:failed") == 3  # a wrong name does nothing
        await pilot.press("a", "enter")
        await wait_for(pilot, lambda: row(app, "crawl/alpha")[7] == "0")
        assert client.exists("alpha:failed") == 0
