"""Redis queues: depths, trends, stuck work, and moves of failed items that never lose one."""

from __future__ import annotations

from typing import Any

from backends.base import Backend, BackendKind, Runtime
from backends.redis.config import RedisConfig, parse, validate


def build(entries: list[RedisConfig], runtime: Runtime) -> list[Backend[Any]]:
    from backends.redis.backend import RedisBackend  # its client library: only when used

    return [RedisBackend(entry, runtime) for entry in entries]


KIND = BackendKind(section="redis", parse=parse, build=build, validate=validate)
