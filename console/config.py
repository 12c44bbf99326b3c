"""Loading config.toml into typed settings and parsed backend entries.

The file is found at `--config PATH`, else `$OPSCONSOLE_CONFIG`, else
`~/.config/opsconsole/config.toml`, else `/etc/opsconsole/config.toml`. Each `[[section]]`
is parsed by its backend's module (see console.registry); only used modules are imported.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console import registry
from console.broken import BrokenEntry, names_of
from console.core.configtable import Table
from console.core.errors import ConfigError
from console.core.secrets import Redactor, url_tokens
from console.fleet_config import Fleet, parse_fleet
from console.services.spec import parse_services

_FLEET_SECTIONS = ("fleet", "hosts", "hosts_from")

SERVICE_SECTION = "service"  # [[service]]: not a backend, a rollup over other sections' targets
DEFAULT_PATHS = (Path("~/.config/opsconsole/config.toml"), Path("/etc/opsconsole/config.toml"))


def default_state_dir() -> Path:
    """`$OPSCONSOLE_STATE_DIR`, else `$XDG_STATE_HOME/opsconsole`, else ~/.local/state/opsconsole."""
    if os.environ.get("OPSCONSOLE_STATE_DIR"):
        return Path(os.environ["OPSCONSOLE_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path("~/.local/state").expanduser())
    return Path(base) / "opsconsole"


@dataclass(frozen=True)
class ConsoleSettings:
    """The `[console]` table."""

    refresh: float = 2.0
    read_only: bool = False
    timeout: float = 5.0
    deadline: float = 30.0
    state_dir: Path = field(default_factory=default_state_dir)
    title: str = ""
    retention: float = 30 * 86400.0  # how long status transitions are kept
    heartbeat: str | None = None  # healthchecks.io-style URL the headless check pings
    prometheus: Path | None = None  # node_exporter textfile the headless check writes


@dataclass
class Config:
    """A loaded config: where it came from, console settings and each section's entries."""

    path: Path | None
    searched: list[Path]
    console: ConsoleSettings
    sections: dict[str, list[Any]]
    redactor: Redactor
    warnings: list[str] = field(default_factory=list)
    broken: list[BrokenEntry] = field(default_factory=list)  # entries kept out, with why
    discovery: Any = None  # a backends.discovery DiscoveryReport when the entries were discovered
    notify: list[Any] = field(default_factory=list)  # console.notify.NotifyEntry, one per [[notify]]
    services: list[Any] = field(default_factory=list)  # console.services.ServiceSpec entries
    fleet: Fleet | None = None  # [fleet], [[hosts]] and [[hosts_from]], when any is given

    @property
    def display_path(self) -> str:
        return str(self.path) if self.path else "(no config file)"


def find_config(explicit: str | None) -> tuple[Path | None, list[Path]]:
    """The config file to use and every place looked at, as absolute paths (a relative
    --config keeps meaning the same file for work handed to another process)."""
    if explicit:
        path = Path(explicit).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file (check --config)")
        return path, [path]
    from_env = os.environ.get("OPSCONSOLE_CONFIG")
    if from_env:
        path = Path(from_env).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file (check $OPSCONSOLE_CONFIG)")
        return path, [path]
    searched = [p.expanduser() for p in DEFAULT_PATHS]
    for path in searched:
        if path.is_file():
            return path, searched
    return None, searched


def load_config(explicit: str | None = None, *, discover_if_missing: bool = False,
                force_discovery: bool = False, tolerant: bool = False) -> Config:
    """Find and load the config.

    With no file, a config that watches this host only, or (`discover_if_missing`, as the
    command line asks) what discovery finds on this machine plus the host checks.
    `force_discovery` uses discovery even when a file exists (`opsconsole --discover`).
    `tolerant` keeps a broken `[[section]]` entry out instead of failing (see parse_config).
    """
    if force_discovery:
        explicit_path = Path(explicit).expanduser() if explicit else None
        return discovered_config(([explicit_path] if explicit_path else
                                  [p.expanduser() for p in DEFAULT_PATHS]), forced=True)
    path, searched = find_config(explicit)
    if path is None:
        return discovered_config(searched) if discover_if_missing else _without_file(searched)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, path, searched, tolerant=tolerant)


def parse_config(text: str, path: Path, searched: list[Path] | None = None, *,
                 tolerant: bool = False) -> Config:
    """Parse config text; raises ConfigError naming the file, line or key.

    With `tolerant`, an entry whose own values cannot be used (an unset ${ENV}, an
    unreadable *_file, a bad value) is kept out and listed in `Config.broken` with the reason,
    and the rest of the file is used; a file that is not TOML, an unknown section or a bad
    [console] table still fail as a whole.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    redactor = Redactor()
    name = path.name
    root = Table(data, "top level", name, redactor)
    console = _parse_console(root.table("console"))
    sections: dict[str, list[Any]] = {}
    broken: list[BrokenEntry] = []
    notify: list[Any] = []
    for section in data:
        if section in ("console", SERVICE_SECTION) or section in _FLEET_SECTIONS:
            continue
        if section == "notify":
            from console.notify import parse_notify

            notify = [parse_notify(t, i) for i, t in enumerate(root.tables("notify"), start=1)]
            names = [entry.name for entry in notify]
            for duplicate in sorted({n for n in names if names.count(n) > 1}):
                raise root.error("notify", f"two entries are named {duplicate!r}: give each "
                                           "its own name")
            continue
        if section not in registry.ROW_BY_SECTION:
            known = ", ".join(["console", "notify", *registry.ROW_BY_SECTION, SERVICE_SECTION,
                               *_FLEET_SECTIONS])
            raise root.error(section, f"unknown section (known: {known})")
        tables = root.tables(section)
        if not tables:
            continue
        try:
            kind = registry.load_kind(section)
        except ModuleNotFoundError as exc:
            raise root.error(section, f"not supported by this installation ({exc.name})") from None
        parsed: list[Any] = []
        for index, table in enumerate(tables):
            try:
                parsed.append(kind.parse(table))
            except ConfigError as exc:
                if not tolerant:
                    raise
                broken.append(_broken(section, index, table.data, str(exc)))
        if parsed:
            sections[section] = parsed
    service_tables = root.tables(SERVICE_SECTION)
    fleet = parse_fleet(root)
    root.done()
    for section, entries in list(sections.items()):
        kind = registry.load_kind(section)
        if kind.validate is None:
            continue
        try:
            kind.validate(entries, sections)
        except ConfigError as exc:
            if not tolerant:
                raise
            del sections[section]
            raws = root.tables(section)
            broken.extend(_broken(section, i, t.data, str(exc)) for i, t in enumerate(raws))
    services = parse_services(service_tables, sections) if service_tables else []
    config = Config(path, searched or [path], console, sections, redactor, broken=broken,
                    notify=notify, services=services, fleet=fleet)
    config.warnings.extend(f"{b.where} is not checked: {b.reason}" for b in broken)
    config.warnings.extend(_permission_warnings(path, redactor))
    return config


def _broken(section: str, index: int, raw: dict[str, Any], reason: str) -> BrokenEntry:
    row = registry.ROW_BY_SECTION[section]
    return BrokenEntry(section, index, row.targets[0], names_of(raw), reason)


def _parse_console(table: Table | None) -> ConsoleSettings:
    if table is None:
        return ConsoleSettings()
    table.where = "[console]"
    settings = ConsoleSettings(
        refresh=table.duration("refresh", 2.0),
        read_only=table.flag("read_only", False),
        timeout=table.duration("timeout", 5.0),
        deadline=table.duration("deadline", 30.0),
        state_dir=Path(table.text("state_dir", str(default_state_dir()))).expanduser(),
        title=table.text("title", ""),
        retention=table.duration("retention", 30 * 86400.0),
        heartbeat=table.url("heartbeat", ("http", "https"), None),
        prometheus=_optional_path(table.text("prometheus", None)),
    )
    table.check(settings.refresh >= 0.2, "refresh", "must be at least 0.2s")
    table.check(settings.retention >= 3600, "retention", "must be at least 1h")
    if settings.heartbeat:
        table.redactor.add(*url_tokens(settings.heartbeat))  # the check's UUID is its key
    table.done()
    return settings


def _optional_path(text: str | None) -> Path | None:
    return Path(text).expanduser() if text else None


def _without_file(searched: list[Path]) -> Config:
    redactor = Redactor()
    host_kind = registry.load_kind("host")
    host = host_kind.parse(Table({}, "[[host]] (default)", "(default)", redactor))
    return Config(None, searched, ConsoleSettings(), {"host": [host]}, redactor)


def discovered_config(searched: list[Path], *, forced: bool = False) -> Config:
    """A config built from what discovery finds right now (host checks always included)."""
    from backends.discovery import discover_sync
    from console.discovered import parse_sections

    report = discover_sync(registry.discovery_probes())
    redactor = Redactor()
    try:
        sections = parse_sections(report, redactor)
    except ConfigError as exc:  # a finding its backend rejects: keep the host, say why
        config = _without_file(searched)
        config.warnings.append(f"discovery found something opsconsole cannot watch: {exc}")
        config.discovery = report
        return config
    import socket

    host = socket.gethostname().split(".")[0]
    settings = ConsoleSettings(title=f"{host} ({'--discover' if forced else 'discovered'})")
    return Config(None, searched, settings, sections, redactor, discovery=report)


def _permission_warnings(path: Path, redactor: Redactor) -> list[str]:
    """A warning for the config and each password file that others can read."""
    warnings = []
    holders = ([path] if redactor.has_secrets else []) + redactor.files
    for holder in dict.fromkeys(holders):
        try:
            mode = holder.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.append(f"{holder} holds secrets and is readable by other users: "
                            f"chmod 600 {holder}")
    return warnings
