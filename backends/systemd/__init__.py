"""systemd units over D-Bus: states, restarts, timers, flapping, journal and unit actions.

`[[systemd]]` lists unit globs; each poll is one ListUnitsByPatterns call plus the
properties each row needs, made by a worker process (see bus.py). Targets are `unit:NAME`.
"""

from __future__ import annotations

from backends.base import Backend, BackendKind, Runtime
from backends.systemd.config import SystemdConfig, parse, validate


def build(entries: list[SystemdConfig], runtime: Runtime) -> list[Backend]:
    from backends.systemd.backend import SystemdBackend

    return [SystemdBackend(entry, runtime) for entry in entries]


KIND = BackendKind(section="systemd", parse=parse, build=build, validate=validate)
