"""The audit log: one hash-chained, keyed SQLite record per action start and end.

Each record stores the hash of the record before it, so an edited or deleted record breaks
the chain. The chain alone can be recomputed by whoever edits the file, so it is anchored
outside it: each record also carries an HMAC under a key in `audit.key` (0600 in the
private state dir), and `audit.head` holds the newest record's id, count and hash under
that key, so deleting the newest records is seen too. Each record's hash also goes to
syslog (authpriv), a copy the state dir's owner cannot rewrite on a host that ships logs.
`opsconsole --headless audit` says where the log stops fitting.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import syslog
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.core import statedb
from console.core.files import open_private, write_durably

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
    hash TEXT NOT NULL,
    mac TEXT NOT NULL DEFAULT ''
)
"""
KEY_FILE = "audit.key"
HEAD_FILE = "audit.head"


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
    mac: str = ""

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


def _mac(key: bytes, *parts: object) -> str:
    return hmac.new(key, ":".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()


def _to_syslog(record_id: int, phase: str, verb: str, target: str, who: str,
               digest: str) -> None:
    """The record's hash, off the state file (dropped quietly where there is no syslog)."""
    with contextlib.suppress(OSError):
        syslog.openlog("opsconsole", 0, syslog.LOG_AUTHPRIV)
        syslog.syslog(syslog.LOG_INFO, f"audit record {record_id} {phase} {verb} {target} "
                                       f"by {who} hash {digest}")


class AuditLog:
    """Appends and reads audit records in the state database."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _connect(self) -> sqlite3.Connection:
        connection = statedb.connect(self.state_dir)
        connection.execute(_SCHEMA)
        columns = {row[1] for row in connection.execute("PRAGMA table_info(audit)")}
        if "mac" not in columns:  # a log written before records were keyed
            with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                connection.execute("ALTER TABLE audit ADD COLUMN mac TEXT NOT NULL DEFAULT ''")
        return connection

    def key(self, create: bool = True) -> bytes | None:
        """The log's HMAC key (32 random bytes, 0600), made on first use."""
        path = self.state_dir / KEY_FILE
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            if not create:
                return None
            try:
                fd = open_private(path, os.O_WRONLY, new=True)
            except FileExistsError:  # another process made it first
                return self.key(create=False)
            with open(fd, "wb") as handle:
                handle.write(os.urandom(32))
                handle.flush()
                os.fsync(handle.fileno())
            return self.key(create=False)
        with open(fd, "rb") as handle:
            return handle.read()

    def _write_head(self, key: bytes, record_id: int, count: int, digest: str) -> None:
        head = {"id": record_id, "count": count, "hash": digest,
                "mac": _mac(key, "head", record_id, count, digest)}
        write_durably(self.state_dir / HEAD_FILE, json.dumps(head) + "\n")

    def _read_head(self) -> dict[str, Any] | None:
        try:
            fd = os.open(self.state_dir / HEAD_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with open(fd, encoding="utf-8") as handle:
                head = json.loads(handle.read(4096))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return head if isinstance(head, dict) else {}

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
        connection = self._connect()  # checks (or makes) the private state dir
        try:
            key = self.key()
            assert key is not None
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev_hash = row[0] if row else GENESIS
            digest = _digest(prev_hash, values)
            cursor = connection.execute(
                f"INSERT INTO audit ({', '.join(_FIELDS)}, prev_hash, hash) "
                f"VALUES ({', '.join('?' for _ in _FIELDS)}, ?, ?)",
                (*(values[f] for f in _FIELDS), prev_hash, digest))
            record_id = cursor.lastrowid or 0
            mac = _mac(key, record_id, digest)
            connection.execute("UPDATE audit SET mac = ? WHERE id = ?", (mac, record_id))
            count = connection.execute("SELECT count(*) FROM audit").fetchone()[0]
            # under the database's write lock, so heads are written in record order
            self._write_head(key, record_id, count, digest)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        _to_syslog(record_id, phase, verb, target, who, digest)
        return AuditRecord(record_id, **values, prev_hash=prev_hash, hash=digest, mac=mac)

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
        """Recompute the chain, each record's MAC and the anchor; the first misfit is reported."""
        prev_hash = GENESIS
        records = self.records()
        key = self.key(create=False)
        keyed = False
        n = len(records)
        for record in records:
            values = {f: getattr(record, f) for f in _FIELDS}
            if record.prev_hash != prev_hash:
                return ChainCheck(False, n,
                                  f"chain broken before record {record.id}: a record was removed")
            if _digest(prev_hash, values) != record.hash:
                return ChainCheck(False, n, f"record {record.id} was altered after it was written")
            if record.mac or keyed:
                keyed = True
                if key is None or not hmac.compare_digest(record.mac,
                                                          _mac(key, record.id, record.hash)):
                    return ChainCheck(False, n, f"record {record.id} was altered after it was "
                                                "written (its MAC does not match the key)")
            prev_hash = record.hash
        problem = self._head_problem(records, key, keyed)
        if problem:
            return ChainCheck(False, n, problem)
        return ChainCheck(True, n, f"chain verifies ({n} records)")

    def _head_problem(self, records: list[AuditRecord], key: bytes | None,
                      keyed: bool) -> str | None:
        """Whether the log still reaches the newest record the anchor vouches for."""
        head = self._read_head()
        if head is None:
            return f"the anchor {HEAD_FILE} is missing: records may have been removed" \
                if keyed else None
        try:
            record_id, count, digest = int(head["id"]), int(head["count"]), str(head["hash"])
            valid = key is not None and hmac.compare_digest(
                str(head["mac"]), _mac(key, "head", record_id, count, digest))
        except (KeyError, TypeError, ValueError):
            valid = False
        if not valid:
            return f"the anchor {HEAD_FILE} was altered (its MAC does not match the key)"
        found = next((r for r in records if r.id == record_id), None)
        if found is None or found.hash != digest or len(records) < count:
            last = records[-1].id if records else 0
            return (f"records were removed from the end: the anchor vouches for record "
                    f"{record_id} ({count} records), the log ends at record {last} "
                    f"({len(records)} records)")
        return None
