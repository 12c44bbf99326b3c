"""The audit log: one hash-chained SQLite record per action start and end.

Each record stores the hash of the record before it, so an edited or deleted record breaks
the chain and `opsconsole --headless audit` says where.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core import statedb

GENESIS = "0" * 64
_FIELDS = ("ts", "action_id", "phase", "who", "client", "verb", "target", "params",
           "outcome", "duration", "error")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    action_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    who TEXT NOT NULL,
    client TEXT NOT NULL,
    verb TEXT NOT NULL,
    target TEXT NOT NULL,
    params TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration REAL,
    error TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class AuditRecord:
    id: int
    ts: float
    action_id: str
    phase: str
    who: str
    client: str
    verb: str
    target: str
    params: str
    outcome: str
    duration: float | None
    error: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in ("id", *_FIELDS)}
        data["params"] = json.loads(self.params) if self.params else {}
        return data


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    records: int
    message: str


def _digest(prev_hash: str, values: dict[str, Any]) -> str:
    payload = json.dumps([prev_hash, *(values[f] for f in _FIELDS)], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class AuditLog:
    """Appends and reads audit records in the state database."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _connect(self) -> sqlite3.Connection:
        connection = statedb.connect(self.state_dir)
        connection.execute(_SCHEMA)
        return connection

    def append(self, *, action_id: str, phase: str, who: str, client: str, verb: str,
               target: str, params: dict[str, Any] | None = None, outcome: str = "",
               duration: float | None = None, error: str = "") -> AuditRecord:
        """Write one record, chained to the last one (safe across processes)."""
        values: dict[str, Any] = {
            "ts": time.time(), "action_id": action_id, "phase": phase, "who": who,
            "client": client, "verb": verb, "target": target,
            "params": json.dumps(params or {}, sort_keys=True, default=str),
            "outcome": outcome, "duration": duration, "error": error,
        }
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev_hash = row[0] if row else GENESIS
            digest = _digest(prev_hash, values)
            cursor = connection.execute(
                f"INSERT INTO audit ({', '.join(_FIELDS)}, prev_hash, hash) "
                f"VALUES ({', '.join('?' for _ in _FIELDS)}, ?, ?)",
                (*(values[f] for f in _FIELDS), prev_hash, digest))
            connection.execute("COMMIT")
            record_id = cursor.lastrowid or 0
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        return AuditRecord(record_id, **values, prev_hash=prev_hash, hash=digest)

    def records(self, since: float | None = None, limit: int | None = None) -> list[AuditRecord]:
        """Records in chain order, optionally only those newer than `since`, or the last `limit`."""
        connection = self._connect()
        try:
            query = "SELECT * FROM audit"
            args: list[Any] = []
            if since is not None:
                query += " WHERE ts >= ?"
                args.append(since)
            query += " ORDER BY id"
            if limit is not None:
                query = f"SELECT * FROM ({query.replace('ORDER BY id', 'ORDER BY id DESC')} " \
                        f"LIMIT {int(limit)}) ORDER BY id"
            rows = connection.execute(query, args).fetchall()
        finally:
            connection.close()
        return [AuditRecord(*row) for row in rows]

    def verify(self) -> ChainCheck:
        """Recompute the chain; the first record that does not fit is reported."""
        prev_hash = GENESIS
        records = self.records()
        for record in records:
            values = {f: getattr(record, f) for f in _FIELDS}
            if record.prev_hash != prev_hash:
                return ChainCheck(False, len(records),
                                  f"chain broken before record {record.id}: a record was removed")
            if _digest(prev_hash, values) != record.hash:
                return ChainCheck(False, len(records),
                                  f"record {record.id} was altered after it was written")
            prev_hash = record.hash
        return ChainCheck(True, len(records), f"chain verifies ({len(records)} records)")
