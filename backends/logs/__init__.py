"""Log files: live following for the Logs view, and error-rate checks (`log:NAME` targets).

config.py reads `[[logs]]`; tailer.py follows a file through rotation; formats.py parses
plain, JSON and nginx lines; rates.py keeps the sliding windows; backend.py turns them into
checks; sources.py feeds the Logs view.
"""

from __future__ import annotations

from typing import Any

from backends.base import Backend, BackendKind, Runtime, unique_names
from backends.logs.backend import LogsBackend
from backends.logs.config import LogsConfig, parse
from backends.logs.state import PositionStore


def validate(entries: list[LogsConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("logs", [entry.name for entry in entries])


def build(entries: list[LogsConfig], runtime: Runtime) -> list[Backend]:
    store = PositionStore(runtime.state_dir)
    return [LogsBackend(entry, store) for entry in entries]


KIND = BackendKind(section="logs", parse=parse, build=build, validate=validate)
