"""Helpers for the Redis queue tests: build a backend from config text and poll it."""

from __future__ import annotations

import uuid
from pathlib import Path

from backends.redis.backend import RedisBackend
from console.assembly import build_backends
from console.config import Config, parse_config
from console.core.model import PollResult
from console.core.secrets import Redactor
from console.poller import BackendState, poll_once


def unique_prefix() -> str:
    return f"octest:{uuid.uuid4().hex[:10]}"


def family_toml(name: str, prefix: str, *, extra: str = "") -> str:
    return (f'  [[redis.queues]]\n  name = "{name}"\n  queue = "{prefix}:queue"\n'
            f'  processing = "{prefix}:processing"\n  failed = "{prefix}:failed"\n{extra}')


def config_for(url: str, body: str, tmp_path: Path, *, server: str = "crawl",
               head: str = "", timeout: float = 2) -> Config:
    text = f'[[redis]]\nname = "{server}"\nurl = "{url}"\ntimeout = {timeout}\n{head}{body}'
    path = tmp_path / "config.toml"
    path.write_text(text)
    return parse_config(text, path)


def backend_for(config: Config) -> RedisBackend:
    backends = build_backends(config)
    assert len(backends) == 1 and isinstance(backends[0], RedisBackend)
    return backends[0]


async def poll(backend: RedisBackend, state: BackendState | None = None) -> PollResult:
    return await poll_once(backend, state or BackendState(), Redactor())
