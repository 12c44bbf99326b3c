"""Shared pieces of the systemd tests: unique units in the test machine, configs, backends.

Imported by the other test_systemd_* files; the machine itself is the session-scoped
`systemd_machine` of the test bed (one boot per test session).
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.base import Runtime
from backends.systemd.backend import SystemdBackend
from backends.systemd.config import SystemdConfig, parse
from console.core.configtable import Table
from console.core.secrets import Redactor
from console.sandbox.systemd_machine import SystemdMachine

UnitFactory = Callable[[str, str], str]


def unique_prefix() -> str:
    return f"oct-{secrets.token_hex(4)}"


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
def make_unit(systemd_machine: SystemdMachine) -> Iterator[UnitFactory]:
    """make_unit(name, text): drop a unit file, daemon-reload; stopped and removed after."""
    made: list[str] = []

    def make(name: str, text: str) -> str:
        systemd_machine.add_unit(name, text)
        made.append(name)
        systemd_machine.daemon_reload()
        return name

    yield make
    if made:
        with contextlib.suppress(subprocess.SubprocessError):
            systemd_machine.systemctl("stop", *made, timeout=30, check=False)
            systemd_machine.systemctl("reset-failed", *made, timeout=30, check=False)
        for name in made:
            (systemd_machine.units_dir / name).unlink(missing_ok=True)
        with contextlib.suppress(subprocess.SubprocessError):
            systemd_machine.daemon_reload()


def sleeper(description: str = "a sleeping test service", extra: str = "") -> str:
    return (f"[Unit]\nDescription={description}\n[Service]\nExecStart=/bin/sleep infinity\n"
            f"{extra}")


def config_text(machine: SystemdMachine, units: list[str], extra: str = "") -> str:
    quoted = ", ".join(f'"{u}"' for u in units)
    return (f'[[systemd]]\nunits = [{quoted}]\nbus = "{machine.bus_address}"\n'
            f'journal_dir = "{machine.journal_dir}"\n{extra}\n')


def parse_entry(data: dict[str, object]) -> SystemdConfig:
    return parse(Table(dict(data), "[[systemd]] #1", "config.toml", Redactor()))


def make_backend(machine: SystemdMachine | None, units: list[str], state_dir: Path,
                 **extra: object) -> SystemdBackend:
    data: dict[str, object] = {"units": units}
    if machine is not None:
        data.update(bus=machine.bus_address, journal_dir=str(machine.journal_dir))
    data.update(extra)
    return SystemdBackend(parse_entry(data), Runtime(Redactor(), state_dir))
