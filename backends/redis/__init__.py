"""Redis queues: depths, trends, stuck work, and moves of failed items that never lose one."""

from __future__ import annotations

from backends.base import BackendKind
from backends.redis.backend import RedisBackend, build
from backends.redis.config import parse, validate

KIND = BackendKind(section="redis", parse=parse, build=build, validate=validate)

__all__ = ["KIND", "RedisBackend"]
