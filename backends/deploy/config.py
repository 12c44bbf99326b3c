"""The `[[deploy]]` section: a git working tree, its units, commands, database and health check."""

from __future__ import annotations

import pwd
from dataclasses import dataclass
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table
from console.core.errors import ConfigError


@dataclass(frozen=True)
class WatchLimits:
    """What counts as a regression during a deploy's watch."""

    health_failures: int = 2  # health checks failing in a row
    error_factor: float = 2.0  # error rate above `factor` times the rate before the deploy...
    error_floor: float = 1.0  # ...and above this many per minute
    restarts: int = 0  # restarts of the deploy's units beyond this many


@dataclass(frozen=True)
class DeployConfig:
    name: str
    repo: str
    units: tuple[str, ...]
    after_checkout: tuple[tuple[str, ...], ...]
    database: str | None
    health: str | None
    health_timeout: float
    command_timeout: float
    bus: str | None
    restart_order: tuple[str, ...] = ()
    reload: tuple[str, ...] = ()
    watch: float = 1800.0
    logs: tuple[str, ...] = ()
    watch_limits: WatchLimits = WatchLimits()
    user: str | None = None  # after_checkout runs as this user (and its primary group)


    @property
    def restart_units(self) -> tuple[str, ...]:
        """The units a deploy restarts, in the order it restarts them."""
        return self.restart_order or self.units


def _limits(table: Table) -> WatchLimits:
    sub = table.table("watch_limits")
    if sub is None:
        return WatchLimits()
    limits = WatchLimits(
        health_failures=sub.integer("health_failures", 2, minimum=1),
        error_factor=sub.number("error_factor", 2.0, minimum=1.0),
        error_floor=sub.number("error_floor", 1.0, minimum=0.0),
        restarts=sub.integer("restarts", 0, minimum=0),
    )
    sub.done()
    return limits


def parse(table: Table) -> DeployConfig:
    config = DeployConfig(
        name=table.name(),
        repo=table.text("repo"),
        units=tuple(table.str_list("units", [])),
        after_checkout=tuple(tuple(c) for c in table.argv_list("after_checkout", [])),
        database=table.text("database", None),
        health=table.text("health", None),
        health_timeout=table.duration("health_timeout", 60.0),
        command_timeout=table.duration("command_timeout", 600.0),
        bus=table.text("bus", None),
        restart_order=tuple(table.str_list("restart_order", [])),
        reload=tuple(table.str_list("reload", [])),
        watch=table.duration("watch", 1800.0),
        logs=tuple(table.str_list("logs", [])),
        watch_limits=_limits(table),
        user=table.text("user", None),
    )
    table.check(config.repo.startswith("/"), "repo", "must be an absolute path to a git working tree")
    stray = [u for u in config.restart_order if u not in config.units]
    table.check(not stray, "restart_order",
                f"{stray[0] if stray else ''!r} is not in 'units': list the same units in the "
                "order they restart")
    table.check(config.watch >= 0, "watch", "must be 0 (no watch) or a duration such as \"30m\"")
    if config.user is not None:
        try:
            pwd.getpwnam(config.user)
        except KeyError:
            raise table.error("user", f"no user {config.user!r} on this host: name the "
                                      "account the app runs as (useradd, or fix the name)") \
                from None
    table.done()
    return config


def validate(entries: list[DeployConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("deploy", [e.name for e in entries])
    for entry in entries:
        named = [("database", "postgres", entry.database), ("health", "http", entry.health)]
        named += [("logs", "logs", name) for name in entry.logs]
        for key, section, field in named:
            if field is None:
                continue
            names = [getattr(e, "name", None) for e in sections.get(section, [])]
            if field not in names:
                known = ", ".join(str(n) for n in names) or "none configured"
                raise ConfigError(f"[[deploy]] {entry.name!r} '{key}': {field!r} names no "
                                  f"[[{section}]] entry (known: {known})")
