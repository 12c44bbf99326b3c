"""`[[sql]]` checks: one named query returning one number, on a configured PostgreSQL.

The query runs in a read-only transaction with a statement timeout, on a short-lived
session tagged `opsconsole-check`. An error or a hang is UNKNOWN with the reason, within the
check's timeout. `database` names a `[[postgres]]` entry; `dsn` gives the server directly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg

from backends.base import Backend, BackendKind, Runtime, unique_names
from console.core.configtable import Table
from console.core.errors import ConfigError
from console.core.model import CheckResult, Perf, Status, by_thresholds
from console.core.secrets import Redactor


@dataclass(frozen=True)
class SqlConfig:
    name: str
    query: str
    database: str | None  # a [[postgres]] entry's name
    conninfo: str = field(repr=False)  # from `dsn`, or resolved from `database` by validate
    warn: float | None
    crit: float | None
    below: bool
    unit: str
    timeout: float
    interval: float
    where: str  # for config errors found after parsing


def parse(table: Table) -> SqlConfig:
    name = table.name()
    database = table.name("database", None)
    dsn = table.url("dsn", ("postgresql", "postgres"), None)
    if (database is None) == (dsn is None):
        raise table.error("database", "give either 'database' (a [[postgres]] name) or 'dsn'")
    query = table.text("query", what="an SQL query returning one number")
    table.check(bool(query.strip()), "query", "is empty")
    config = SqlConfig(
        name=name, query=query, database=database, conninfo=dsn or "",
        warn=table.number("warn", None), crit=table.number("crit", None),
        below=table.text("direction", "above", choices=("above", "below")) == "below",
        unit=table.text("unit", ""),
        timeout=table.duration("timeout", 5.0), interval=table.duration("interval", 60.0),
        where=f"{table.file}: {table.where}")
    table.check(config.timeout > 0, "timeout", "must be more than 0")
    table.done()
    return config


def validate(entries: list[SqlConfig], sections: dict[str, list[Any]]) -> None:
    """Resolve `database = NAME` to that `[[postgres]]` entry's connection (in place)."""
    unique_names("sql", [entry.name for entry in entries])
    servers = {getattr(p, "name", None): p for p in sections.get("postgres", [])}
    for index, entry in enumerate(entries):
        if entry.database is None:
            continue
        server = servers.get(entry.database)
        if server is None:
            known = ", ".join(sorted(str(n) for n in servers)) or "none configured"
            raise ConfigError(f"{entry.where} 'database': no [[postgres]] entry is named "
                              f"{entry.database!r} (known: {known})")
        resolve = getattr(server, "conninfo", None)
        conninfo = resolve() if callable(resolve) else str(server.dsn)
        entries[index] = dataclasses.replace(entry, conninfo=conninfo)


@dataclass(frozen=True)
class SqlSnapshot:
    value: float | None
    error: str | None
    duration: float


def build(entries: list[SqlConfig], runtime: Runtime) -> list[Backend]:
    return [SqlBackend(entry, runtime.redactor) for entry in entries]


def _number(row: Any) -> float:
    if row is None:
        raise ValueError("the query returned no rows: it must return one number")
    if len(row) != 1:
        raise ValueError(f"the query returned {len(row)} columns: it must return one number")
    value = row[0]
    if value is None:
        raise ValueError("the query returned NULL: wrap it in coalesce(..., 0)")
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise ValueError(f"the query returned {type(value).__name__} {str(value)[:40]!r}, not a number")


class SqlBackend(Backend[SqlSnapshot]):
    kind = "sql"

    def __init__(self, config: SqlConfig, redactor: Redactor) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout + 3.0)
        self.config = config
        self.redactor = redactor

    def targets(self) -> list[str]:
        return [f"sql:{self.name}"]

    async def collect(self) -> SqlSnapshot:
        cfg = self.config
        started = time.monotonic()
        try:
            async with asyncio.timeout(cfg.timeout + 1.0):
                value = await self._query()
        except TimeoutError:
            return SqlSnapshot(None, f"no answer within {cfg.timeout:g}s",
                               time.monotonic() - started)
        except (psycopg.Error, ValueError, OSError) as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return SqlSnapshot(None, self.redactor(text[:300]), time.monotonic() - started)
        return SqlSnapshot(value, None, time.monotonic() - started)

    async def _query(self) -> float:
        cfg = self.config
        connection = await psycopg.AsyncConnection.connect(
            cfg.conninfo, connect_timeout=max(1, int(cfg.timeout)),
            application_name="opsconsole-check")
        try:
            await connection.set_read_only(True)
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT set_config('statement_timeout', %s, true)",
                                     (str(int(cfg.timeout * 1000)),))
                await cursor.execute(cfg.query.encode())
                row = await cursor.fetchone() if cursor.description else None
            await connection.rollback()
        finally:
            await connection.close()
        return _number(row)

    def evaluate(self, snapshot: SqlSnapshot) -> list[CheckResult]:
        cfg = self.config
        target = f"sql:{self.name}"
        where = f"database {cfg.database}" if cfg.database else "dsn"
        if snapshot.error is not None or snapshot.value is None:
            return [CheckResult(target, Status.UNKNOWN, f"query failed: {snapshot.error}",
                                details=f"{where}\n{cfg.query}")]
        status = by_thresholds(snapshot.value, cfg.warn, cfg.crit, below=cfg.below)
        shown = f"{snapshot.value:g}{cfg.unit}"
        limit = cfg.crit if status is Status.CRITICAL else cfg.warn
        if status is not Status.OK and limit is not None:
            shown += f" ({'below' if cfg.below else 'at or above'} {limit:g})"
        return [CheckResult(target, status, shown,
                            perfdata=(Perf(self.name, snapshot.value, "", cfg.warn, cfg.crit),),
                            details=f"{where}\n{cfg.query}")]


KIND = BackendKind(section="sql", parse=parse, build=build, validate=validate)
