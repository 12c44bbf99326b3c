"""The `[[redis]]` config section: servers, their queue families, discovery and Celery queues."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table
from console.core.errors import ConfigError

KEY_PATTERN = re.compile(r"^[^\s\x00-\x1f\x7f]{1,512}$")
_KEY_WHAT = "a Redis key name (no spaces or control characters)"


@dataclass(frozen=True)
class QueueConfig:
    """One queue family: the work list, what is being worked on, and what failed."""

    name: str
    queue: str
    processing: str | None = None
    failed: str | None = None
    warn: float | None = None
    crit: float | None = None
    failed_warn: float | None = None
    failed_crit: float | None = None
    growing_for: float | None = None
    stuck_for: float | None = 600.0
    push: str = "rpush"
    celery: bool = False

    def keys(self) -> tuple[str, ...]:
        return tuple(k for k in (self.queue, self.processing, self.failed) if k)


@dataclass(frozen=True)
class TlsConfig:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True


@dataclass(frozen=True)
class RedisConfig:
    """One Redis server and the queue families kept in it."""

    name: str
    url: str
    password: str | None
    tls: TlsConfig | None
    timeout: float
    interval: float | None
    queues: tuple[QueueConfig, ...]
    discover: tuple[str, ...] = ()
    discover_limit: int = 200
    discover_warn: float | None = None
    discover_crit: float | None = None
    celery_queues: tuple[str, ...] = ()
    chunk: int = 1000


def _queue(table: Table) -> QueueConfig:
    config = QueueConfig(
        name=table.name(),
        queue=table.text("queue", pattern=KEY_PATTERN, what=_KEY_WHAT),
        processing=table.text("processing", None, pattern=KEY_PATTERN, what=_KEY_WHAT),
        failed=table.text("failed", None, pattern=KEY_PATTERN, what=_KEY_WHAT),
        warn=table.number("warn", None, minimum=0),
        crit=table.number("crit", None, minimum=0),
        failed_warn=table.number("failed_warn", None, minimum=0),
        failed_crit=table.number("failed_crit", None, minimum=0),
        growing_for=table.duration("growing_for", None),
        stuck_for=table.duration("stuck_for", 600.0),
        push=table.text("push", "rpush", choices=("rpush", "lpush")),
    )
    keys = config.keys()
    table.check(len(set(keys)) == len(keys), "queue",
                "queue, processing and failed must be three different keys")
    _ordered(table, config.warn, config.crit, "crit")
    _ordered(table, config.failed_warn, config.failed_crit, "failed_crit")
    table.done()
    return config


def _ordered(table: Table, warn: float | None, crit: float | None, key: str) -> None:
    if warn is not None and crit is not None:
        table.check(crit >= warn, key, f"must not be below its warn threshold ({warn:g})")


def _tls(table: Table) -> TlsConfig | None:
    sub = table.table("tls")
    if sub is None:
        return None
    tls = TlsConfig(ca_file=sub.text("ca_file", None), cert_file=sub.text("cert_file", None),
                    key_file=sub.text("key_file", None), verify=sub.flag("verify", True))
    sub.done()
    return tls


def parse(table: Table) -> RedisConfig:
    url = table.url("url", ("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0")
    discover = table.str_list("discover", [])
    for pattern in discover:
        table.check(bool(KEY_PATTERN.match(pattern)), "discover",
                    f"expected SCAN patterns such as \"jobs:*:queue\", got {pattern!r}")
    celery = table.str_list("celery_queues", [])
    for name in celery:
        table.check(bool(KEY_PATTERN.match(name)), "celery_queues",
                    f"expected Celery queue names, got {name!r}")
    config = RedisConfig(
        name=table.name(),
        url=url,
        password=table.secret("password"),
        tls=_tls(table),
        timeout=table.duration("timeout", 3.0),
        interval=table.duration("interval", None),
        queues=tuple(table.each("queues", _queue)),
        discover=tuple(discover),
        discover_limit=table.integer("discover_limit", 200, minimum=1),
        discover_warn=table.number("discover_warn", None, minimum=0),
        discover_crit=table.number("discover_crit", None, minimum=0),
        celery_queues=tuple(celery),
        chunk=table.integer("chunk", 1000, minimum=1),
    )
    table.check(config.timeout > 0, "timeout", "must be more than 0")
    table.check(config.chunk <= 5000, "chunk",
                "must be at most 5000 (bigger chunks hit Lua's unpack limit)")
    table.check(bool(config.queues or config.discover or config.celery_queues), "queues",
                "add at least one [[redis.queues]] family, a discover pattern or celery_queues")
    unique_names(f"redis '{config.name}' queues",
                 [q.name for q in config.queues] + list(config.celery_queues))
    table.done()
    return config


def validate(entries: list[RedisConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("redis", [entry.name for entry in entries])
    for entry in entries:
        if entry.url.startswith("unix:") and entry.tls is not None:
            raise ConfigError(f"[[redis]] {entry.name!r}: tls does not apply to a unix socket URL")


def celery_family(queue: str) -> QueueConfig:
    """A Celery queue watched by name: its priority lists are counted together."""
    return QueueConfig(name=queue, queue=queue, celery=True, stuck_for=None)


def discovered_family(key: str, config: RedisConfig) -> QueueConfig:
    return QueueConfig(name=key, queue=key, warn=config.discover_warn,
                       crit=config.discover_crit, stuck_for=None)
