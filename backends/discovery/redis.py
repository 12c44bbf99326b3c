"""Probe: Redis on 127.0.0.1:6379 and $REDIS_URL, and the queue-like keys it holds.

Read-only and bounded: INFO keyspace picks the databases that hold keys, then a limited SCAN
per database looks for Celery queues (`_kombu.binding.*`), RQ queues (`rq:queues`), Celery
results (`celery-task-meta-*`) and `<prefix>:queue` / `<prefix>:failed` families.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from backends.discovery.model import Finding, ProbeResult, safe_name
from console.core.errors import one_line

DEFAULT_URL = "redis://127.0.0.1:6379/0"
SCAN_BUDGET = 20_000  # keys looked at per database, at most
MAX_DATABASES = 4
MAX_FAMILIES = 30
KOMBU_SEPARATOR = "\x06\x16"
DEFAULT_BINDING = "_kombu.binding.celery"
FAMILY_SUFFIXES = (":queue", ":failed", ":processing")


@dataclass
class DatabaseFindings:
    """What one Redis database holds that looks like work."""

    db: int
    families: dict[str, set[str]] = field(default_factory=dict)  # prefix -> suffixes seen
    celery_queues: set[str] = field(default_factory=set)
    rq_queues: set[str] = field(default_factory=set)
    celery_results: bool = False
    bindings: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not (self.families or self.celery_queues or self.rq_queues or self.celery_results)


def candidates() -> list[tuple[str, str]]:
    """(url as written to the config, where it came from); $REDIS_URL first."""
    found: list[tuple[str, str]] = []
    from_env = os.environ.get("REDIS_URL", "").strip()
    if from_env:
        found.append((from_env, "$REDIS_URL"))
    if not any(_same_server(url, DEFAULT_URL) for url, _ in found):
        found.append((DEFAULT_URL, "default"))
    return found


def _same_server(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname, pa.port or 6379) == (pb.hostname, pb.port or 6379)


def with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def shown(url: str) -> str:
    """host:port of a URL, never its password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"


def where() -> str:
    return "127.0.0.1:6379"


async def probe(timeout: float, earlier: Sequence[ProbeResult] = ()) -> list[ProbeResult]:
    return list(await asyncio.gather(*(probe_one(url, source, timeout)
                                       for url, source in candidates())))


async def probe_one(url: str, source: str, timeout: float) -> ProbeResult:
    started = time.monotonic()
    where = shown(url) + (" ($REDIS_URL)" if source == "$REDIS_URL" else "")
    try:
        async with asyncio.timeout(timeout):
            databases = await _read_server(url, started + timeout, min(1.0, timeout))
    except (TimeoutError, RedisTimeout):
        return ProbeResult("redis", where, missing=f"no answer within {timeout:g}s (hung?)",
                           elapsed=time.monotonic() - started)
    except AuthenticationError:
        return ProbeResult("redis", where, missing="needs a password: put it in $REDIS_URL "
                                                   "(redis://:PASSWORD@host:port/0)",
                           elapsed=time.monotonic() - started)
    except (RedisError, OSError, ValueError) as exc:
        return ProbeResult("redis", where, missing=_reason(exc),
                           elapsed=time.monotonic() - started)
    return _result(url, source, where, databases, time.monotonic() - started)


def _reason(exc: BaseException) -> str:
    text = one_line(exc)
    lowered = text.lower()
    if "refused" in lowered or "error 111" in lowered or "connect call failed" in lowered:
        return "connection refused (nothing listens there)"
    return text


async def _read_server(url: str, deadline: float,
                       socket_timeout: float) -> list[DatabaseFindings]:
    client = aioredis.Redis.from_url(url, socket_timeout=socket_timeout,
                                     socket_connect_timeout=socket_timeout,
                                     decode_responses=True)
    try:
        keyspace = await client.info("keyspace")
        dbs = sorted(int(name[2:]) for name in keyspace if name.startswith("db"))
        if not dbs:
            dbs = [int(urlsplit(url).path.strip("/") or 0)]
        found = []
        for db in dbs[:MAX_DATABASES]:
            if time.monotonic() > deadline:
                break
            found.append(await _read_database(url, db, deadline, socket_timeout))
        return found
    finally:
        await client.aclose()


async def _read_database(url: str, db: int, deadline: float,
                         socket_timeout: float) -> DatabaseFindings:
    client = aioredis.Redis.from_url(with_db(url, db), socket_timeout=socket_timeout,
                                     socket_connect_timeout=socket_timeout)
    findings = DatabaseFindings(db)
    try:
        seen = 0
        cursor = 0
        while True:
            cursor, keys = await client.scan(cursor, count=1000)
            seen += len(keys)
            for key in keys:
                _classify(_text(key), findings)
            if cursor == 0 or seen >= SCAN_BUDGET or time.monotonic() > deadline:
                break
        if await client.exists(DEFAULT_BINDING):  # found even when the SCAN stopped early
            findings.bindings.add(DEFAULT_BINDING)
        for key in sorted(findings.bindings):
            for member in await client.smembers(key):
                queue = _text(member).split(KOMBU_SEPARATOR)[-1]
                if queue and not queue.endswith(".pidbox") and "reply.celery" not in queue:
                    findings.celery_queues.add(queue)
        if await client.exists("rq:queues"):
            for member in await client.smembers("rq:queues"):
                findings.rq_queues.add(_text(member).removeprefix("rq:queue:"))
    finally:
        await client.aclose()
    return findings


def _text(raw: bytes | str) -> str:
    """Key names are bytes and need not be UTF-8."""
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw


def _classify(key: str, findings: DatabaseFindings) -> None:
    if key.startswith("_kombu.binding."):
        findings.bindings.add(key)
        return
    if key.startswith("celery-task-meta-"):
        findings.celery_results = True
        return
    if key.startswith("rq:queue:"):
        findings.rq_queues.add(key.removeprefix("rq:queue:"))
        return
    for suffix in FAMILY_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            prefix = key[: -len(suffix)]
            if len(findings.families) < MAX_FAMILIES or prefix in findings.families:
                findings.families.setdefault(prefix, set()).add(suffix)
            return


def _result(url: str, source: str, where: str, databases: list[DatabaseFindings],
            elapsed: float) -> ProbeResult:
    findings: list[Finding] = []
    notes: list[str] = []
    celery_brokers: list[dict[str, object]] = []
    result_db = next((d.db for d in databases if d.celery_results), None)
    base_name = "redis" if source == "default" else "redis-env"
    for database in databases:
        if database.empty:
            continue
        if _secret_elsewhere(url, source, database.db):
            notes.append(f"db{database.db}: {_note(database)} (not written: $REDIS_URL names "
                         f"another database and its password must stay in the environment)")
            continue
        table = _table(url, source, database, base_name)
        findings.append(Finding("redis", table, _note(database)))
        notes.append(f"db{database.db}: {_note(database)}")
        if database.celery_queues:
            celery_brokers.append({"url": table["url"], "queues": sorted(database.celery_queues),
                                   "db": database.db, "result_db": result_db})
    if not findings:
        first = _base_db(url) if source == "$REDIS_URL" else (databases[0].db if databases else 0)
        table = {"name": base_name, "url": _written_url(url, source, first),
                 "discover": ["*:queue", "*:failed"]}
        findings.append(Finding("redis", table, "no queue-like keys yet; watching *:queue"))
        notes.append("reachable, no queue-like keys yet")
    return ProbeResult("redis", where, tuple(findings), "; ".join(notes), elapsed=elapsed,
                       extra={"celery_brokers": celery_brokers})


def _base_db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def _secret_elsewhere(url: str, source: str, db: int) -> bool:
    """A password-protected $REDIS_URL can only be written as "${REDIS_URL}", its own db."""
    return bool(urlsplit(url).password) and source == "$REDIS_URL" and db != _base_db(url)


def _written_url(url: str, source: str, db: int) -> str:
    """The URL for the config: a password from $REDIS_URL stays in the environment."""
    if urlsplit(url).password and source == "$REDIS_URL":
        return "${REDIS_URL}"
    return with_db(url, db)


def _table(url: str, source: str, database: DatabaseFindings,
           base_name: str) -> dict[str, object]:
    written = _written_url(url, source, database.db)
    name = base_name if database.db == 0 else f"{base_name}-db{database.db}"
    queues: list[dict[str, object]] = []
    taken: set[str] = set(database.celery_queues)
    for prefix in sorted(database.families):
        suffixes = database.families[prefix]
        family: dict[str, object] = {"name": safe_name(prefix, taken), "queue": f"{prefix}:queue"}
        if ":processing" in suffixes:
            family["processing"] = f"{prefix}:processing"
        if ":failed" in suffixes:
            family["failed"] = f"{prefix}:failed"
        queues.append(family)
    for rq in sorted(database.rq_queues):
        queues.append({"name": safe_name(f"rq.{rq}", taken), "queue": f"rq:queue:{rq}"})
    table: dict[str, object] = {"name": name, "url": written}
    if queues:
        table["queues"] = queues
    if database.celery_queues:
        table["celery_queues"] = sorted(database.celery_queues)
    if not queues and not table.get("celery_queues"):
        table["discover"] = ["*:queue", "*:failed"]
    return table


def _note(database: DatabaseFindings) -> str:
    parts = []
    if database.families:
        parts.append(f"{len(database.families)} queue famil{'y' if len(database.families) == 1 else 'ies'}")
    if database.celery_queues:
        parts.append(f"Celery queues {', '.join(sorted(database.celery_queues))}")
    if database.rq_queues:
        parts.append(f"RQ queues {', '.join(sorted(database.rq_queues))}")
    if database.celery_results:
        parts.append("Celery results")
    return ", ".join(parts) or "no queue-like keys"
