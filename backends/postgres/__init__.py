"""PostgreSQL: health, slow and blocked queries, maintenance, verified backups and restores.

The backend polls through a small pool of sessions tagged `opsconsole` (see connection.py),
evaluates the checks below and offers the actions of actions.py. Targets are `postgres:NAME`.
"""

from __future__ import annotations

from typing import Any

from backends.base import Backend, BackendKind, Runtime
from backends.postgres.config import PostgresConfig, parse, validate


def build(entries: list[PostgresConfig], runtime: Runtime) -> list[Backend[Any]]:
    from backends.postgres.backend import PostgresBackend  # its client library: only when used

    return [PostgresBackend(entry) for entry in entries]


KIND = BackendKind(section="postgres", parse=parse, build=build, validate=validate)
