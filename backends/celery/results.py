"""Failed tasks and retry outcomes read from a Redis result backend (`celery-task-meta-*`).

SCAN + MGET in batches; with `result_extended=True` a record keeps the task's name, args,
kwargs, worker and queue, which is what a retry needs. Without it, failures are still listed
but cannot be re-sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from backends.celery.store import Failure

META_PREFIX = "celery-task-meta-"
SCAN_BATCH = 1000


@dataclass(frozen=True)
class ResultScan:
    failures: tuple[Failure, ...]
    scanned: int
    extended: bool | None       # None: no failure seen, so nothing is known yet
    truncated: bool


def redis_client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                client_name="opsconsole")


def scan_failures(client: redis.Redis, max_keys: int = 50_000) -> ResultScan:
    """Every FAILURE record in the result backend (up to `max_keys` records looked at)."""
    failures: list[Failure] = []
    scanned = 0
    extended: bool | None = None
    batch: list[bytes] = []
    truncated = False
    for key in client.scan_iter(match=META_PREFIX + "*", count=SCAN_BATCH):
        batch.append(key)
        if len(batch) >= SCAN_BATCH:
            scanned += len(batch)
            extended = _collect(client.mget(batch), failures, extended)
            batch = []
        if scanned >= max_keys:
            truncated = True
            break
    if batch:
        scanned += len(batch)
        extended = _collect(client.mget(batch), failures, extended)
    return ResultScan(tuple(failures), scanned, extended, truncated)


def _collect(values: list[Any], into: list[Failure], extended: bool | None) -> bool | None:
    for raw in values:
        meta = _decode(raw)
        if meta is None or meta.get("status") != "FAILURE":
            continue
        failure = _failure(meta)
        if failure is None:
            continue
        into.append(failure)
        has_args = "name" in meta and "args" in meta
        extended = has_args if extended is None else (extended or has_args)
    return extended


def _decode(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None  # another serializer (pickle, msgpack): not read here
    return value if isinstance(value, dict) else None


def _failure(meta: dict[str, Any]) -> Failure | None:
    task_id = meta.get("task_id")
    if not isinstance(task_id, str):
        return None
    result = meta.get("result")
    if isinstance(result, dict):
        exception = _exception_text(result)
    else:
        exception = str(result)
    extended = "name" in meta and "args" in meta
    args = meta.get("args") if extended else None
    kwargs = meta.get("kwargs") if extended else None
    return Failure(
        task_id=task_id, name=str(meta.get("name") or ""),
        failed_at=_timestamp(meta.get("date_done")),
        exception=exception, traceback=str(meta.get("traceback") or ""),
        worker=str(meta.get("worker") or ""), queue=str(meta.get("queue") or ""),
        source="results",
        args=(list(args) if isinstance(args, list | tuple) else []) if extended else None,
        kwargs=(dict(kwargs) if isinstance(kwargs, dict) else {}) if extended else None,
    )


def _exception_text(result: dict[str, Any]) -> str:
    kind = str(result.get("exc_type") or "Exception")
    message = result.get("exc_message")
    if isinstance(message, list | tuple):
        text = ", ".join(repr(m) if not isinstance(m, str) else m for m in message)
    else:
        text = "" if message is None else str(message)
    return f"{kind}: {text}" if text else kind


def _timestamp(value: Any) -> float:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return 0.0
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return 0.0


def task_states(client: redis.Redis, task_ids: list[str]) -> dict[str, str]:
    """The result backend's state of each task id that has a record (others are left out)."""
    states: dict[str, str] = {}
    for start in range(0, len(task_ids), SCAN_BATCH):
        chunk = task_ids[start:start + SCAN_BATCH]
        for task_id, raw in zip(chunk, client.mget([META_PREFIX + t for t in chunk]),
                                strict=True):
            meta = _decode(raw)
            if meta and isinstance(meta.get("status"), str):
                states[task_id] = meta["status"]
    return states
