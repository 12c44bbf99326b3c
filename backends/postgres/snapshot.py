"""One read of a PostgreSQL server: plain frozen data for every panel of the Database view.

Panels are read concurrently through the session pool. A panel that fails for lack of
privilege (or a missing preload) is switched off with a one-line reason and not asked again;
any other panel error blanks that panel for this poll only. Only the server panel is vital.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection, errors, sql

from backends.postgres import queries
from backends.postgres.connection import SessionPool
from console.core.errors import one_line


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    size: int | None
    locked: bool  # under an ACCESS EXCLUSIVE lock: size estimated from relpages
    live_rows: int
    dead_rows: int
    last_vacuum: float | None
    last_analyze: float | None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class SessionInfo:
    pid: int
    user: str
    database: str
    application: str
    client: str
    state: str
    query_seconds: float | None
    xact_seconds: float | None
    wait: str
    blocked_by: tuple[int, ...]
    blocking: bool
    query: str

    @property
    def idle_in_transaction(self) -> bool:
        return self.state.startswith("idle in transaction")


@dataclass(frozen=True)
class IndexInfo:
    schema: str
    table: str
    index: str
    size: int


@dataclass(frozen=True)
class StatementInfo:
    calls: int
    total_seconds: float
    mean_seconds: float
    rows: int
    query: str


@dataclass(frozen=True)
class SlotInfo:
    name: str
    type: str
    database: str
    active: bool
    retained_bytes: int | None


@dataclass(frozen=True)
class ReplicaInfo:
    name: str
    client: str
    state: str
    lag: float


@dataclass(frozen=True)
class BackupInfo:
    path: str
    started: float
    size: int
    verified: bool
    sha256: str = ""
    note: str = ""


@dataclass(frozen=True)
class PostgresSnapshot:
    collected_at: float
    version: str
    uptime: float
    in_recovery: bool
    database: str
    size: int
    max_connections: int
    user: str
    replication_lag: float | None = None
    replicas: tuple[ReplicaInfo, ...] = ()
    tables: tuple[TableInfo, ...] = ()
    connections: tuple[tuple[str, int], ...] = ()
    sessions: tuple[SessionInfo, ...] = ()
    unused_indexes: tuple[IndexInfo, ...] = ()
    cache_hit: float | None = None
    statements: tuple[StatementInfo, ...] | None = None
    slots: tuple[SlotInfo, ...] = ()
    backups: tuple[BackupInfo, ...] = ()
    backup_dir: str = ""
    # (database named like a restore's, in use, its comment)
    scratch: tuple[tuple[str, bool, str], ...] = ()
    panels_off: tuple[tuple[str, str], ...] = field(default=())

    @property
    def connection_count(self) -> int:
        return sum(count for _, count in self.connections)

    @property
    def role(self) -> str:
        return "replica" if self.in_recovery else "primary"

    def panel_off(self, panel: str) -> str | None:
        return dict(self.panels_off).get(panel)


Conn = AsyncConnection[tuple[Any, ...]]
# A lack of privilege or of a preload does not heal between polls: switch the panel off.
_PERMANENT = (errors.InsufficientPrivilege, errors.ObjectNotInPrerequisiteState)


class Collector:
    """Reads every panel; remembers which panels the role may not read."""

    def __init__(self, pool: SessionPool, long_query: float) -> None:
        self.pool = pool
        self.long_query = long_query
        self.disabled: dict[str, str] = {}

    async def collect(self) -> dict[str, Any]:
        """The panel values by name, plus `panels_off`; raises only if the server is unreadable."""
        async with self.pool.session() as conn:
            server = await (await conn.execute(queries.SERVER)).fetchone()
        assert server is not None
        panels: dict[str, Callable[[Conn], Awaitable[Any]]] = {
            "replication": self._replication if not server[2] else self._replica_lag,
            "tables": self._tables,
            "connections": self._connections,
            "sessions": self._sessions,
            "unused_indexes": self._unused_indexes,
            "cache_hit": self._cache_hit,
            "statements": self._statements,
            "slots": self._slots,
            "scratch": self._scratch,
        }
        names = [n for n in panels if n not in self.disabled]
        outcomes = await asyncio.gather(*(self._panel(n, panels[n]) for n in names))
        values: dict[str, Any] = {}
        off = dict(self.disabled)
        for name, (value, problem) in zip(names, outcomes, strict=True):
            if problem is None:
                values[name] = value
            else:
                off[name] = problem
        values["server"] = server
        values["panels_off"] = tuple(sorted(off.items()))
        return values

    async def _panel(self, name: str, read: Callable[[Conn], Awaitable[Any]]
                     ) -> tuple[Any, str | None]:
        try:
            async with self.pool.session() as conn:
                return await read(conn), None
        except _PERMANENT as exc:
            reason = one_line(exc)
            self.disabled[name] = reason
            return None, reason
        except errors.QueryCanceled:
            return None, "took longer than the statement_timeout; skipped this poll"
        except errors.LockNotAvailable:
            return None, "waited on a lock longer than the lock_timeout; skipped this poll"
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            return None, one_line(exc)

    async def _replication(self, conn: Conn) -> tuple[float | None, tuple[ReplicaInfo, ...]]:
        rows = await (await conn.execute(queries.PRIMARY_LAG)).fetchall()
        replicas = tuple(ReplicaInfo(r[0] or "", r[1] or "local", r[2] or "", float(r[3] or 0))
                         for r in rows)
        return (max((r.lag for r in replicas), default=None), replicas)

    async def _replica_lag(self, conn: Conn) -> tuple[float | None, tuple[ReplicaInfo, ...]]:
        row = await (await conn.execute(queries.REPLICA_LAG)).fetchone()
        return ((float(row[0]) if row and row[0] is not None else None), ())

    async def _tables(self, conn: Conn) -> tuple[TableInfo, ...]:
        rows = await (await conn.execute(queries.TOP_TABLES)).fetchall()
        return tuple(TableInfo(r[0], r[1], r[3], bool(r[4]), int(r[5] or 0), int(r[6] or 0),
                               r[7], r[8]) for r in rows)

    async def _connections(self, conn: Conn) -> tuple[tuple[str, int], ...]:
        rows = await (await conn.execute(queries.CONNECTIONS)).fetchall()
        return tuple((str(r[0]), int(r[1])) for r in rows)

    async def _sessions(self, conn: Conn) -> tuple[SessionInfo, ...]:
        cursor = await conn.execute(queries.ACTIVITY, {"long": self.long_query})
        rows = await cursor.fetchall()
        return tuple(SessionInfo(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                                 tuple(int(p) for p in r[9]), bool(r[10]), r[11]) for r in rows)

    async def _unused_indexes(self, conn: Conn) -> tuple[IndexInfo, ...]:
        rows = await (await conn.execute(queries.UNUSED_INDEXES)).fetchall()
        return tuple(IndexInfo(r[0], r[1], r[2], int(r[3])) for r in rows)

    async def _cache_hit(self, conn: Conn) -> float | None:
        row = await (await conn.execute(queries.CACHE_HIT)).fetchone()
        if row is None or not (row[0] or row[1]):
            return None
        return float(row[0]) / float(row[0] + row[1])

    async def _statements(self, conn: Conn) -> tuple[StatementInfo, ...] | None:
        row = await (await conn.execute(queries.HAS_STATEMENTS)).fetchone()
        if row is None:
            return None
        query = sql.SQL(queries.TOP_STATEMENTS).format(schema=sql.Identifier(row[0]))
        rows = await (await conn.execute(query)).fetchall()
        return tuple(StatementInfo(int(r[0]), float(r[1]), float(r[2]), int(r[3]), r[4])
                     for r in rows)

    async def _slots(self, conn: Conn) -> tuple[SlotInfo, ...]:
        rows = await (await conn.execute(queries.SLOTS)).fetchall()
        return tuple(SlotInfo(r[0], r[1], r[2], bool(r[3]),
                              None if r[4] is None else int(r[4])) for r in rows)


    async def _scratch(self, conn: Conn) -> tuple[tuple[str, bool, str], ...]:
        rows = await (await conn.execute(queries.SCRATCH_DATABASES)).fetchall()
        return tuple((str(r[0]), bool(r[1]), str(r[2])) for r in rows)


def build_snapshot(values: dict[str, Any], backups: tuple[BackupInfo, ...],
                   backup_dir: str) -> PostgresSnapshot:
    version, uptime, in_recovery, database, size, max_conn, user = values["server"]
    lag, replicas = values.get("replication") or (None, ())
    return PostgresSnapshot(
        collected_at=time.time(), version=str(version), uptime=float(uptime or 0),
        in_recovery=bool(in_recovery), database=str(database), size=int(size),
        max_connections=int(max_conn), user=str(user), replication_lag=lag, replicas=replicas,
        tables=values.get("tables") or (), connections=values.get("connections") or (),
        sessions=values.get("sessions") or (), unused_indexes=values.get("unused_indexes") or (),
        cache_hit=values.get("cache_hit"), statements=values.get("statements"),
        slots=values.get("slots") or (), backups=backups, backup_dir=backup_dir,
        scratch=values.get("scratch") or (),
        panels_off=values["panels_off"])
