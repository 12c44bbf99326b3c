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
from console.core.configtable import Table
from console.core.errors import ConfigError
from console.core.secrets import Redactor

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


@dataclass
class Config:
    """A loaded config: where it came from, console settings and each section's entries."""

    path: Path | None
    searched: list[Path]
    console: ConsoleSettings
    sections: dict[str, list[Any]]
    redactor: Redactor
    warnings: list[str] = field(default_factory=list)
    discovery: Any = None  # a backends.discovery DiscoveryReport when the entries were discovered

    @property
    def display_path(self) -> str:
        return str(self.path) if self.path else "(no config file)"


def find_config(explicit: str | None) -> tuple[Path | None, list[Path]]:
    """The config file to use and every place looked at."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file (check --config)")
        return path, [path]
    from_env = os.environ.get("OPSCONSOLE_CONFIG")
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file (check $OPSCONSOLE_CONFIG)")
        return path, [path]
    searched = [p.expanduser() for p in DEFAULT_PATHS]
    for path in searched:
        if path.is_file():
            return path, searched
    return None, searched


def load_config(explicit: str | None = None, *, discover_if_missing: bool = False,
                force_discovery: bool = False) -> Config:
    """Find and load the config.

    With no file, a config that watches this host only, or (`discover_if_missing`, as the
    command line asks) what discovery finds on this machine plus the host checks.
    `force_discovery` uses discovery even when a file exists (`opsconsole --discover`).
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
    return parse_config(text, path, searched)


def parse_config(text: str, path: Path, searched: list[Path] | None = None) -> Config:
    """Parse config text; raises ConfigError naming the file, line or key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    redactor = Redactor()
    name = path.name
    root = Table(data, "top level", name, redactor)
    console = _parse_console(root.table("console"))
    sections: dict[str, list[Any]] = {}
    for section in data:
        if section == "console":
            continue
        if section not in registry.ROW_BY_SECTION:
            known = ", ".join(["console", *registry.ROW_BY_SECTION])
            raise root.error(section, f"unknown section (known: {known})")
        tables = root.tables(section)
        if not tables:
            continue
        try:
            kind = registry.load_kind(section)
        except ModuleNotFoundError as exc:
            raise root.error(section, f"not supported by this installation ({exc.name})") from None
        sections[section] = [kind.parse(table) for table in tables]
    root.done()
    for section, entries in sections.items():
        kind = registry.load_kind(section)
        if kind.validate is not None:
            kind.validate(entries, sections)
    config = Config(path, searched or [path], console, sections, redactor)
    config.warnings.extend(_permission_warnings(path, redactor))
    return config


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
    )
    table.check(settings.refresh >= 0.2, "refresh", "must be at least 0.2s")
    table.done()
    return settings


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
