"""The `[[docker]]` config section: which engine, which containers, and volume backups."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Container names may use globs; Docker names are [a-zA-Z0-9][a-zA-Z0-9_.-]*.
CONTAINER_PATTERN = re.compile(r"^[A-Za-z0-9*?\[][A-Za-z0-9_.*?\[\]!-]*$")
VOLUME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]*(=.*)?$")
QUIESCE_CHOICES = ("none", "pause", "stop")


@dataclass(frozen=True)
class BackupSettings:
    """Where one volume's backups go and how many are kept."""

    dir: str
    keep: int
    max_age: float | None
    quiesce: str  # "none", "pause" or "stop" the containers using the volume during the copy


@dataclass(frozen=True)
class VolumeConfig:
    name: str
    backup: BackupSettings


@dataclass(frozen=True)
class DockerConfig:
    name: str
    host: str
    containers: tuple[str, ...]
    labels: tuple[tuple[str, str | None], ...]
    backup: BackupSettings | None
    volumes: tuple[VolumeConfig, ...]
    timeout: float
    interval: float
    crash_window: float
    crash_restarts: int
    log_lines: int
    stats: bool
    stats_interval: float
    stop_timeout: int
    helper_image: str
    backup_timeout: float

    def is_glob(self, pattern: str) -> bool:
        return any(ch in pattern for ch in "*?[")

    @property
    def exact_names(self) -> tuple[str, ...]:
        return tuple(p for p in self.containers if not self.is_glob(p))

    def volume(self, name: str) -> VolumeConfig | None:
        return next((v for v in self.volumes if v.name == name), None)


def _backup(table: Table | None, fallback: BackupSettings | None) -> BackupSettings | None:
    """A `backup = { dir, keep, max_age, quiesce }` table, its missing keys taken from `fallback`."""
    if table is None:
        return fallback
    directory = table.text("dir", fallback.dir if fallback else None)
    table.check(directory is not None, "dir", "is required: the directory backups are written to")
    table.check(os.path.isabs(directory), "dir", f"expected an absolute path, got {directory!r}")
    keep = table.integer("keep", fallback.keep if fallback else 7, minimum=1)
    max_age = table.duration("max_age", fallback.max_age if fallback else None)
    quiesce = table.text("quiesce", fallback.quiesce if fallback else "none",
                         choices=QUIESCE_CHOICES)
    table.done()
    return BackupSettings(directory, keep, max_age, quiesce)


def _volume(table: Table, default: BackupSettings | None) -> VolumeConfig:
    """One `[[docker.volumes]]` entry; keys it leaves out come from the section's `backup`."""
    name = table.text("name", pattern=VOLUME_PATTERN,
                      what="a volume name of letters, digits and _ . -")
    directory = table.text("dir", default.dir if default else None)
    table.check(directory is not None, "dir",
                "is required here or in the section's backup = { dir = \"/path\" }")
    table.check(os.path.isabs(directory), "dir", f"expected an absolute path, got {directory!r}")
    backup = BackupSettings(
        dir=directory,
        keep=table.integer("keep", default.keep if default else 7, minimum=1),
        max_age=table.duration("max_age", default.max_age if default else None),
        quiesce=table.text("quiesce", default.quiesce if default else "none",
                           choices=QUIESCE_CHOICES))
    table.done()
    return VolumeConfig(name, backup)


def _label(table: Table, raw: str) -> tuple[str, str | None]:
    table.check(bool(LABEL_PATTERN.match(raw)), "labels",
                f"expected \"key\" or \"key=value\", got {raw!r}")
    key, sep, value = raw.partition("=")
    return key, (value if sep else None)


def parse(table: Table) -> DockerConfig:
    host = table.text("host", None)
    if host is None:
        host = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    else:
        host = table.expand("host", host)
    table.check(host.startswith(("unix://", "tcp://", "ssh://", "http://", "https://")),
                "host", f"expected unix:///path/docker.sock or tcp://HOST:PORT, got {host!r}")
    containers = table.str_list("containers", [])
    for pattern in containers:
        table.check(bool(CONTAINER_PATTERN.match(pattern)), "containers",
                    f"expected container names or globs, got {pattern!r}")
    labels = tuple(_label(table, raw) for raw in table.str_list("labels", []))
    table.check(bool(containers or labels), "containers",
                "give container names (globs allowed) or labels = [\"key=value\"]")
    backup = _backup(table.table("backup"), None)
    volumes = tuple(_volume(t, backup) for t in table.tables("volumes"))
    unique_names("docker.volumes", [v.name for v in volumes])
    timeout = table.duration("timeout", 5.0)
    table.check(timeout > 0, "timeout", "must be more than 0")
    config = DockerConfig(
        name=table.name("name", "docker"),
        host=host,
        containers=tuple(containers),
        labels=labels,
        backup=backup,
        volumes=volumes,
        timeout=timeout,
        interval=table.duration("interval", 30.0),
        crash_window=table.duration("crash_window", 600.0),
        crash_restarts=table.integer("crash_restarts", 1, minimum=1),
        log_lines=table.integer("log_lines", 10, minimum=1),
        stats=table.flag("stats", True),
        stats_interval=table.duration("stats_interval", 10.0),
        stop_timeout=table.integer("stop_timeout", 10, minimum=0),
        helper_image=table.text("helper_image", "busybox:latest"),
        backup_timeout=table.duration("backup_timeout", 3600.0),
    )
    table.done()
    return config


def validate(entries: list[DockerConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("docker", [entry.name for entry in entries])
