"""The `[[postgres]]` config entry: DSN and password, thresholds, backup settings."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from backends.base import unique_names
from console.core.configtable import Table

DEFAULT_PORT = 5432
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class BackupConfig:
    """Where backups go and how long they stay."""

    dir: Path
    keep_days: float
    keep_min: int
    format: str
    compress: int | None
    fingerprint: bool
    timeout: float


@dataclass(frozen=True)
class Thresholds:
    """warn/crit pairs of every check; None leaves that level out."""

    connections: tuple[float | None, float | None] = (80.0, 90.0)
    long_query: tuple[float | None, float | None] = (60.0, 300.0)
    blocked: tuple[float | None, float | None] = (10.0, 60.0)
    replication_lag: tuple[float | None, float | None] = (30.0, 300.0)
    backup_age: tuple[float | None, float | None] = (26 * 3600.0, 50 * 3600.0)
    idle_in_transaction: tuple[float | None, float | None] = (300.0, None)


@dataclass(frozen=True)
class PostgresConfig:
    name: str
    dsn: str  # as written after ${ENV} expansion; may hold a password, never shown
    password: str | None = field(repr=False)
    thresholds: Thresholds
    backup: BackupConfig | None
    interval: float
    timeout: float
    statement_timeout: float
    lock_timeout: float
    maintenance_timeout: float
    # A role that may create, rename and drop databases, for restores (the app's usually
    # may not); its database is the maintenance one it connects to (postgres).
    admin_dsn: str | None = field(default=None, repr=False)

    @property
    def dbname(self) -> str:
        return str(_conninfo(self.dsn).get("dbname") or self.user)

    @property
    def user(self) -> str:
        return str(_conninfo(self.dsn).get("user") or "postgres")

    @property
    def where(self) -> str:
        """host:port/db without credentials, for messages."""
        parts = _conninfo(self.dsn)
        host = parts.get("host") or "localhost"
        return f"{host}:{parts.get('port') or DEFAULT_PORT}/{self.dbname}"

    def conninfo(self, dbname: str | None = None, *, with_password: bool = True) -> str:
        """A libpq conninfo string; the password left out for child processes' argv."""
        from psycopg.conninfo import make_conninfo

        params = _conninfo(self.dsn)
        if not with_password:
            params.pop("password", None)
        elif self.password is not None:
            params["password"] = self.password
        if dbname is not None:
            params["dbname"] = dbname
        return make_conninfo("", **params)

    def admin_conninfo(self, dbname: str | None = None) -> str | None:
        """The admin connection's conninfo (to `dbname`, else its own database), or None."""
        if self.admin_dsn is None:
            return None
        from psycopg.conninfo import make_conninfo

        params = _conninfo(self.admin_dsn)
        if dbname is not None:
            params["dbname"] = dbname
        return make_conninfo("", **params)

    def child_password(self) -> str | None:
        """The password a pg_dump/pg_restore child gets through PGPASSWORD."""
        embedded = _conninfo(self.dsn).get("password")
        return self.password or (str(embedded) if embedded is not None else None)


def _conninfo(dsn: str) -> dict[str, Any]:
    """libpq's own reading of a DSN (psycopg is imported when a connection is near)."""
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(dsn)


def _pair(table: Table, key: str, default: tuple[float | None, float | None],
          *, durations: bool) -> tuple[float | None, float | None]:
    sub = table.table(key)
    if sub is None:
        return default
    read = sub.duration if durations else sub.number
    warn = read("warn", default[0])
    crit = read("crit", default[1])
    sub.done()
    if warn is not None and crit is not None:
        sub.check(warn <= crit, "warn", f"must not be above crit ({warn:g} > {crit:g})")
    return (warn, crit)


def _thresholds(table: Table | None) -> Thresholds:
    base = Thresholds()
    if table is None:
        return base
    result = Thresholds(
        connections=_pair(table, "connections", base.connections, durations=False),
        long_query=_pair(table, "long_query", base.long_query, durations=True),
        blocked=_pair(table, "blocked", base.blocked, durations=True),
        replication_lag=_pair(table, "replication_lag", base.replication_lag, durations=True),
        backup_age=_pair(table, "backup_age", base.backup_age, durations=True),
        idle_in_transaction=_pair(table, "idle_in_transaction", base.idle_in_transaction,
                                  durations=True),
    )
    table.done()
    return result


def _backup(table: Table | None) -> BackupConfig | None:
    if table is None:
        return None
    directory = table.text("dir", what="a directory path")
    table.check(directory.startswith("/"), "dir", f"expected an absolute path, got {directory!r}")
    compress = table.integer("compress", None, minimum=0)
    table.check(compress is None or compress <= 9, "compress", "expected 0 to 9")
    config = BackupConfig(
        dir=Path(directory),
        keep_days=table.number("keep_days", 30.0, minimum=0) * 86400.0,
        keep_min=table.integer("keep_min", 3, minimum=1),
        format=table.text("format", "custom", choices=("custom",)),
        compress=compress,
        fingerprint=table.flag("fingerprint", True),
        timeout=table.duration("timeout", 6 * 3600.0),
    )
    table.done()
    return config


def uri_parts(uri: str) -> dict[str, str]:
    """The user, password and database a postgresql:// URI names, as libpq reads it
    (percent-decoded; `?user=`, `?password=` and `?dbname=` count too); ValueError if it
    cannot be read. Parsing a config this way leaves psycopg unimported until it connects."""
    if _BAD_ESCAPE.search(uri):
        raise ValueError("invalid percent-encoded token")
    parts = urlsplit(uri)
    userinfo, at, _ = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    found = {"user": unquote(user), "password": unquote(password) if colon else "",
             "dbname": unquote(parts.path.lstrip("/"))} if at else {
             "dbname": unquote(parts.path.lstrip("/"))}
    for item in filter(None, parts.query.split("&")):
        key, equals, value = item.partition("=")
        if not key or not equals:
            raise ValueError(f'missing "=" in URI query parameter {item!r}')
        found[unquote(key)] = unquote(value)  # (libpq reads "+" as itself, not a space)
    return {key: value for key, value in found.items() if value}


def parse(table: Table) -> PostgresConfig:
    dsn = table.url("dsn", ("postgresql", "postgres"))
    try:
        parts = uri_parts(dsn)
    except ValueError as exc:
        raise table.error("dsn", f"not a valid PostgreSQL URL: {exc}") from None
    # every password libpq would send: the DSN's (decoded, user-info or ?password=), and
    # $PGPASSWORD when the DSN and config give none
    table.redactor.add(str(parts.get("password") or ""), os.environ.get("PGPASSWORD"))
    table.check(bool(parts.get("dbname")), "dsn",
                "name the database at the end, e.g. postgresql://user@host/dbname")
    password = table.secret("password")
    table.check(not (password and parts.get("password")), "password",
                "the dsn already holds a password: give it in one place only")
    timeout = table.duration("timeout", 5.0)
    table.check(timeout > 0, "timeout", "must be more than 0")
    admin_dsn = table.url("admin_dsn", ("postgresql", "postgres"), None)
    if admin_dsn is not None:
        try:
            table.redactor.add(uri_parts(admin_dsn).get("password"))
        except ValueError as exc:
            raise table.error("admin_dsn", f"not a valid PostgreSQL URL: {exc}") from None
    config = PostgresConfig(
        name=table.name(),
        dsn=dsn,
        password=password,
        thresholds=_thresholds(table.table("thresholds")),
        backup=_backup(table.table("backup")),
        interval=table.duration("interval", 5.0),
        timeout=timeout,
        statement_timeout=table.duration("statement_timeout", 3.0),
        lock_timeout=table.duration("lock_timeout", 0.5),
        maintenance_timeout=table.duration("maintenance_timeout", 3600.0),
        admin_dsn=admin_dsn,
    )
    table.done()
    return config


def validate(entries: list[PostgresConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("postgres", [entry.name for entry in entries])
