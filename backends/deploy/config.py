"""The `[[deploy]]` section: a git working tree, its units, commands, database and health check."""

from __future__ import annotations

import pwd
from dataclasses import dataclass
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table
from console.core.errors import ConfigError


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
    user: str | None = None  # after_checkout runs as this user (and its primary group)


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
        user=table.text("user", None),
    )
    table.check(config.repo.startswith("/"), "repo", "must be an absolute path to a git working tree")
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
        for field, section in ((entry.database, "postgres"), (entry.health, "http")):
            if field is None:
                continue
            names = [getattr(e, "name", None) for e in sections.get(section, [])]
            if field not in names:
                known = ", ".join(str(n) for n in names) or "none configured"
                key = "database" if section == "postgres" else "health"
                raise ConfigError(f"[[deploy]] {entry.name!r} '{key}': {field!r} names no "
                                  f"[[{section}]] entry (known: {known})")
