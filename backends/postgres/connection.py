"""Connections to PostgreSQL: a small async pool tagged `opsconsole`, with every timeout set.

Each session carries `application_name`, `statement_timeout` and `lock_timeout`, so a
monitoring query can never hang behind a lock; connect errors become one-line reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg import AsyncConnection

from backends.postgres.config import PostgresConfig
from console.core.errors import ConsoleError

APPLICATION_NAME = "opsconsole"


class PostgresUnavailable(ConsoleError):
    """The server could not be reached or refused us; the message says why."""


def session_options(statement_timeout: float, lock_timeout: float) -> str:
    return (f"-c statement_timeout={int(statement_timeout * 1000)} "
            f"-c lock_timeout={int(lock_timeout * 1000)}")


def describe(exc: BaseException, config: PostgresConfig) -> str:
    """One line saying what went wrong and what to fix."""
    text = " ".join(str(exc).split())
    lowered = text.lower()
    where = config.where
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (f"authentication failed for user {config.user} at {where}: "
                "check the password (dsn, ${ENV} or password_file)")
    if "connection refused" in lowered:
        return f"connection refused at {where}: is PostgreSQL running and listening there?"
    if "not currently accepting connections" in lowered:
        return (f"database {config.dbname} does not accept connections at {where} (a restore "
                "stopped during its swap leaves it so): run the restore again, or ALTER "
                f"DATABASE {config.dbname} WITH ALLOW_CONNECTIONS true")
    if "does not exist" in lowered and "database" in lowered:
        return f"database {config.dbname} does not exist at {where}"
    if "timeout expired" in lowered or isinstance(exc, TimeoutError):
        return f"no answer from {where} within {config.timeout:g}s (server hung or unreachable)"
    if "fatal:" in lowered:
        text = text[lowered.index("fatal:") + 6:].strip()
    return f"{where}: {text[:240]}"


async def connect(config: PostgresConfig, *, dbname: str | None = None,
                  statement_timeout: float | None = None,
                  application_name: str = APPLICATION_NAME,
                  admin: bool = False) -> AsyncConnection[tuple[object, ...]]:
    """One autocommit session with the console's tag and timeouts; with `admin`, through
    `admin_dsn` when the config has one."""
    options = session_options(
        config.statement_timeout if statement_timeout is None else statement_timeout,
        config.lock_timeout)
    try:
        async with asyncio.timeout(config.timeout + 1):
            conninfo = (config.admin_conninfo(dbname) if admin else None) or config.conninfo(dbname)
            return await AsyncConnection.connect(
                conninfo, autocommit=True, application_name=application_name,
                connect_timeout=max(1, int(config.timeout)), options=options)
    except (psycopg.Error, TimeoutError, OSError) as exc:
        raise PostgresUnavailable(describe(exc, config)) from None


class SessionPool:
    """Up to `size` monitoring sessions, opened on demand and reused between polls."""

    def __init__(self, config: PostgresConfig, size: int = 3) -> None:
        self.config = config
        self._idle: list[AsyncConnection[tuple[object, ...]]] = []
        self._slots = asyncio.Semaphore(size)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncConnection[tuple[object, ...]]]:
        async with self._slots:
            conn = self._idle.pop() if self._idle else await connect(self.config)
            healthy = False
            try:
                yield conn
                healthy = not conn.closed and conn.info.transaction_status == \
                    psycopg.pq.TransactionStatus.IDLE
            finally:
                if healthy:
                    self._idle.append(conn)
                else:
                    await _close_quietly(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await _close_quietly(conn)


async def _close_quietly(conn: AsyncConnection[tuple[object, ...]]) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await conn.close()
