"""The plain data one poll of a Redis server produces, per queue family."""

from __future__ import annotations

from dataclasses import dataclass

from backends.redis.config import QueueConfig
from backends.redis.history import Trend


@dataclass(frozen=True)
class FamilySnapshot:
    """One queue family as read in one poll."""

    name: str
    target: str
    config: QueueConfig
    queue_type: str
    depth: int
    trend: Trend
    pending: int | None = None  # stream consumer groups' unacknowledged entries
    processing: int | None = None
    failed: int | None = None
    problems: tuple[str, ...] = ()  # keys of a type that cannot be a queue


@dataclass(frozen=True)
class RedisSnapshot:
    server: str
    polled_at: float
    families: tuple[FamilySnapshot, ...]
    round_trips: int = 1
    note: str = ""

    def family(self, name: str) -> FamilySnapshot | None:
        return next((f for f in self.families if f.name == name), None)
