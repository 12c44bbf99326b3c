"""Probe: PostgreSQL through libpq's defaults (PGHOST, the local socket, peer or trust auth as
the current user) and $DATABASE_URL. One short read-only session each."""

from __future__ import annotations

import asyncio
import getpass
import os
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from backends.discovery.model import Finding, ProbeResult, safe_name
from console.core.errors import one_line


def candidates() -> list[tuple[str, str]]:
    """(conninfo, where it came from): $DATABASE_URL first, then libpq's defaults."""
    found = []
    url = os.environ.get("DATABASE_URL", "").strip()
    if url.startswith(("postgres://", "postgresql://")):
        found.append((url, "$DATABASE_URL"))
    found.append(("", "libpq defaults"))
    return found


def where() -> str:
    return "libpq defaults"


async def probe(timeout: float, earlier: Sequence[ProbeResult] = ()) -> list[ProbeResult]:
    results = await asyncio.gather(*(_probe_one(conninfo, source, timeout)
                                     for conninfo, source in candidates()))
    found = [r for r in results if r.found]
    # The same server reached twice (env and defaults) is one finding.
    unique: list[ProbeResult] = []
    for result in results:
        if result.found and any(r.where == result.where for r in unique if r.found):
            continue
        unique.append(result)
    return unique if found else list(results)


def _default_where() -> str:
    host = os.environ.get("PGHOST") or "the local socket (/var/run/postgresql)"
    user = os.environ.get("PGUSER") or getpass.getuser()
    return f"{host} as {user}"


async def _probe_one(conninfo: str, source: str, timeout: float) -> ProbeResult:
    started = time.monotonic()
    where = "$DATABASE_URL" if source == "$DATABASE_URL" else _default_where()
    try:
        async with asyncio.timeout(timeout):
            conn = await psycopg.AsyncConnection.connect(
                conninfo, connect_timeout=max(2, int(timeout + 1)),
                application_name="opsconsole-discovery", autocommit=True)
            try:
                cursor = await conn.execute(
                    "SELECT current_database(), current_user, "
                    "split_part(current_setting('server_version'), ' ', 1), "
                    "(SELECT count(*) FROM pg_database WHERE NOT datistemplate)")
                row = await cursor.fetchone()
                info = conn.info
                host, port = info.host, info.port
            finally:
                await conn.close()
    except TimeoutError:
        return ProbeResult("postgres", where, missing=f"no answer within {timeout:g}s (hung?)",
                           elapsed=time.monotonic() - started)
    except psycopg.Error as exc:
        return ProbeResult("postgres", where, missing=_reason(exc),
                           elapsed=time.monotonic() - started)
    assert row is not None
    dbname, user, version, databases = row
    table = _table(conninfo, source, host, port, dbname, user)
    place = f"{host}:{port}" if not host.startswith("/") else f"socket {host}"
    summary = (f"PostgreSQL {version} at {place}, database {dbname} as {user} "
               f"({databases} databases)")
    return ProbeResult("postgres", f"{place}/{dbname}", (Finding("postgres", table, summary),),
                       summary, elapsed=time.monotonic() - started)


def _reason(exc: psycopg.Error) -> str:
    text = one_line(exc)
    lowered = text.lower()
    if "no such file" in lowered or "connection refused" in lowered:
        return "nothing listens (no socket at /var/run/postgresql, nothing on PGHOST)"
    if "role" in lowered and "does not exist" in lowered:
        return f"{text}: set PGUSER (or $DATABASE_URL) to a role that can connect"
    if "password" in lowered:
        return f"{text}: put the password in $PGPASSWORD or $DATABASE_URL"
    return text


def _table(conninfo: str, source: str, host: str, port: int, dbname: str,
           user: str) -> dict[str, Any]:
    if source == "$DATABASE_URL":
        dsn = "${DATABASE_URL}" if conninfo_to_dict(conninfo).get("password") else conninfo
        return {"name": safe_name(dbname), "dsn": dsn}
    if host.startswith("/"):
        dsn = f"postgresql://{quote(user)}@/{quote(dbname)}?host={quote(host)}&port={port}"
    else:
        dsn = f"postgresql://{quote(user)}@{host}:{port}/{quote(dbname)}"
    table: dict[str, Any] = {"name": safe_name(dbname), "dsn": dsn}
    if os.environ.get("PGPASSWORD"):
        table["password"] = "${PGPASSWORD}"
    return table
