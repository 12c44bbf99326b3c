"""The `[[systemd]]` config entry: unit patterns, the bus, the journal and flapping limits.

    [[systemd]]
    units = ["archivist-*.service", "update_cstr_identifiers.*"]   # names or globs
    # name = "system"            this entry's name (systemd:NAME), unique
    # bus = "unix:path=/run/dbus/system_bus_socket"   default: the system bus
    # journal_dir = "/var/log/journal"   read journals from here (journalctl --directory)
    # restarts = { warn = 3, crit = 6 }  restarts within restarts_window = flapping
    # restarts_window = "10m"
    # interval = "2s"            default: [console] refresh
    # timeout = 5                each D-Bus request
    # action_timeout = "30s"     how long an action waits for the unit to settle
    # settle = "1s"              a started unit must stay up this long to count as started
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table

# Unit names and globs: letters, digits, and : - _ . \ @ plus the glob characters * ? [ ].
UNIT_PATTERN = re.compile(r"^[A-Za-z0-9:_.\\@*?\[\]-]+$")
UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\@-]+\.[a-z]+$")
BUS_ADDRESS = re.compile(r"^[a-z-]+:[A-Za-z0-9_-]+=\S+$")


@dataclass(frozen=True)
class SystemdConfig:
    name: str
    units: tuple[str, ...]
    bus: str | None
    journal_dir: Path | None
    restarts_warn: float | None
    restarts_crit: float | None
    restarts_window: float
    interval: float | None
    timeout: float
    action_timeout: float
    settle: float

    @property
    def bus_label(self) -> str:
        return self.bus or "the system bus"


def parse(table: Table) -> SystemdConfig:
    units = table.str_list("units")
    table.check(bool(units), "units", 'needs at least one unit name or glob, e.g. ["myapp*.service"]')
    for pattern in units:
        table.check(bool(UNIT_PATTERN.match(pattern)), "units",
                    f"{pattern!r} is not a unit name or glob (letters, digits, : - _ . @ "
                    "and * ? [ ] only)")
    bus = table.text("bus", None, what='a D-Bus address such as "unix:path=/run/dbus/'
                                        'system_bus_socket"')
    if bus is not None:
        table.check(bool(BUS_ADDRESS.match(bus)), "bus",
                    f'expected a D-Bus address such as "unix:path=/run/dbus/system_bus_socket", '
                    f"got {bus!r}")
    journal_dir = table.text("journal_dir", None, what="the path of a journal directory")
    if journal_dir is not None:
        table.check(journal_dir.startswith("/"), "journal_dir",
                    f"expected an absolute path, got {journal_dir!r}")
    warn, crit = table.thresholds("restarts")
    if not table.has("restarts"):
        warn, crit = 3.0, 6.0
    config = SystemdConfig(
        name=table.name("name", "system"),
        units=tuple(units),
        bus=bus,
        journal_dir=Path(journal_dir) if journal_dir else None,
        restarts_warn=warn,
        restarts_crit=crit,
        restarts_window=table.duration("restarts_window", 600.0),
        interval=table.duration("interval", None),
        timeout=table.duration("timeout", 5.0),
        action_timeout=table.duration("action_timeout", 30.0),
        settle=table.duration("settle", 1.0),
    )
    table.check(config.timeout > 0, "timeout", "must be more than 0")
    table.check(config.action_timeout > 0, "action_timeout", "must be more than 0")
    table.check(config.restarts_window > 0, "restarts_window", "must be more than 0")
    table.done()
    return config


def validate(entries: list[SystemdConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("systemd", [entry.name for entry in entries])
