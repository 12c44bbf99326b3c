"""`[[file]]` checks: a file exists, is recent enough, and holds an expected JSON value.

Examples: a job's heartbeat file touched every minute (`max_age = "10m"`), or a feature
switch such as `auto_record_config.json` holding `"enabled": true` (`json_path`, `expect`).
Files are read in a thread (a hung NFS mount must not stop the console), at most 10 MB.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from backends.base import Backend, BackendKind, Runtime, unique_names
from backends.logs.tailer import permission_message
from console.core.configtable import Table
from console.core.durations import format_span
from console.core.model import CheckResult, Perf, Status

MAX_JSON_BYTES = 10 * 1024 * 1024
_NOT_FOUND = object()


@dataclass(frozen=True)
class FileConfig:
    name: str
    path: str
    max_age: float | None  # CRITICAL when older
    warn_age: float | None  # WARNING when older
    json_path: str | None
    expect: Any
    has_expect: bool
    timeout: float
    interval: float


def parse(table: Table) -> FileConfig:
    name = table.name()
    path = table.text("path", what="an absolute file path")
    table.check(path.startswith("/"), "path", "must be an absolute path")
    json_path = table.text("json_path", None)
    has_expect = table.has("expect")
    expect = table.data.pop("expect", None)  # any TOML value: taken as it is
    table.check(not (has_expect and json_path is None), "expect", "needs 'json_path' too")
    config = FileConfig(
        name=name, path=path, max_age=table.duration("max_age", None),
        warn_age=table.duration("warn_age", None), json_path=json_path, expect=expect,
        has_expect=has_expect, timeout=table.duration("timeout", 5.0),
        interval=table.duration("interval", 30.0))
    table.done()
    return config


def validate(entries: list[FileConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("file", [entry.name for entry in entries])


def build(entries: list[FileConfig], runtime: Runtime) -> list[Backend]:
    return [FileBackend(entry) for entry in entries]


@dataclass(frozen=True)
class FileSnapshot:
    exists: bool
    age: float | None = None
    size: int | None = None
    value: Any = None
    found: bool = False  # whether json_path led to a value
    problem: str | None = None  # unreadable, not JSON...


def json_at(document: Any, path: str) -> Any:
    """The value at a dotted path (`checks.db.enabled`, list indexes allowed), or _NOT_FOUND."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and \
                -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _NOT_FOUND
    return node


def same_json(found: Any, expected: Any) -> bool:
    """Equality where true is not 1 (Python's bool is an int, JSON's is not)."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return isinstance(found, bool) and isinstance(expected, bool) and found == expected
    return bool(found == expected)


def read_file(config: FileConfig) -> FileSnapshot:
    try:
        info = os.stat(config.path)
    except FileNotFoundError:
        return FileSnapshot(False)
    except PermissionError:
        return FileSnapshot(True, problem=permission_message(config.path))
    age = max(0.0, time.time() - info.st_mtime)
    if config.json_path is None:
        return FileSnapshot(True, age, info.st_size)
    if info.st_size > MAX_JSON_BYTES:
        return FileSnapshot(True, age, info.st_size, problem=(
            f"{info.st_size} bytes: too big to read as JSON (limit {MAX_JSON_BYTES})"))
    try:
        with open(config.path, "rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
    except PermissionError:
        return FileSnapshot(True, age, info.st_size, problem=permission_message(config.path))
    except IsADirectoryError:
        return FileSnapshot(True, age, None, problem="is a directory, not a JSON file")
    try:
        document = json.loads(data)
    except ValueError as exc:
        return FileSnapshot(True, age, info.st_size, problem=f"not valid JSON: {exc}")
    value = json_at(document, config.json_path)
    if value is _NOT_FOUND:
        return FileSnapshot(True, age, info.st_size, None, False)
    return FileSnapshot(True, age, info.st_size, value, True)


class FileBackend(Backend[FileSnapshot]):
    kind = "file"
    unreachable_status = Status.CRITICAL

    def __init__(self, config: FileConfig) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout)
        self.config = config

    def targets(self) -> list[str]:
        return [f"file:{self.name}"]

    async def collect(self) -> FileSnapshot:
        return await asyncio.to_thread(read_file, self.config)

    def evaluate(self, snapshot: FileSnapshot) -> list[CheckResult]:
        cfg = self.config
        target = f"file:{self.name}"

        def result(status: Status, summary: str, perf: tuple[Perf, ...] = ()) -> list[CheckResult]:
            return [CheckResult(target, status, summary, perfdata=perf, details=cfg.path)]

        if not snapshot.exists:
            return result(Status.CRITICAL, f"{cfg.path} does not exist")
        if snapshot.problem is not None:
            return result(Status.UNKNOWN if "permission" in snapshot.problem else Status.CRITICAL,
                          snapshot.problem)
        perf: tuple[Perf, ...] = ()
        parts = []
        status = Status.OK
        if snapshot.age is not None:
            perf = (Perf(f"{self.name}_age", round(snapshot.age), "s", cfg.warn_age, cfg.max_age, 0),)
            parts.append(f"modified {format_span(snapshot.age)} ago")
            if cfg.max_age is not None and snapshot.age > cfg.max_age:
                status = Status.CRITICAL
                parts[-1] += f" (older than {format_span(cfg.max_age)})"
            elif cfg.warn_age is not None and snapshot.age > cfg.warn_age:
                status = Status.WARNING
                parts[-1] += f" (older than {format_span(cfg.warn_age)})"
        if cfg.json_path is not None:
            if not snapshot.found:
                return result(Status.CRITICAL, f"no value at {cfg.json_path}", perf)
            shown = json.dumps(snapshot.value)[:80]
            if cfg.has_expect and not same_json(snapshot.value, cfg.expect):
                return result(Status.CRITICAL, f"{cfg.json_path} is {shown}, expected "
                              f"{json.dumps(cfg.expect)[:80]}", perf)
            parts.append(f"{cfg.json_path} is {shown}")
        return result(status, ", ".join(parts) or "exists", perf)


KIND = BackendKind(section="file", parse=parse, build=build, validate=validate)
