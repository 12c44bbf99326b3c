"""A database's content fingerprint: per table, the row count and a hash of every row.

Two databases with the same fingerprint hold the same rows (the dump's own bytes cannot
tell: two dumps of identical data differ). Used to prove a restore against its manifest.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql

from backends.postgres import queries

Fingerprint = dict[str, tuple[int, str]]


async def fingerprint(conn: AsyncConnection[Any]) -> Fingerprint:
    """Every user table's (row count, content hash), read in the connection's transaction."""
    tables = [row[0] for row in await (await conn.execute(queries.USER_TABLES)).fetchall()]
    result: Fingerprint = {}
    for table in tables:
        # `table` is quote_ident()ed by the server itself, so it is a safe identifier.
        query = sql.SQL(queries.TABLE_FINGERPRINT).format(table=sql.SQL(table))
        row = await (await conn.execute(query)).fetchone()
        assert row is not None
        result[table] = (int(row[0]), str(row[1]))
    return result


def differences(expected: Fingerprint, actual: Fingerprint) -> list[str]:
    """One short line per table that differs, is missing or is extra."""
    lines = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want == got:
            continue
        if want is None:
            lines.append(f"{table}: not in the backup")
        elif got is None:
            lines.append(f"{table}: missing after restore")
        elif want[0] != got[0]:
            lines.append(f"{table}: {got[0]} rows, expected {want[0]}")
        else:
            lines.append(f"{table}: same {got[0]} rows but different content")
    return lines


def to_json(value: Fingerprint) -> dict[str, dict[str, object]]:
    return {table: {"rows": rows, "hash": digest} for table, (rows, digest) in value.items()}


def from_json(value: object) -> Fingerprint | None:
    if not isinstance(value, dict):
        return None
    result: Fingerprint = {}
    for table, entry in value.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("rows"), int):
            return None
        result[str(table)] = (int(entry["rows"]), str(entry.get("hash", "")))
    return result
