"""Crash-loop detection: a container restarting, or whose RestartCount grew within a window.

RestartCount observations are kept in the console's state file, so a `check` run from cron
sees growth since the previous run as well as the TUI does within its session.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.docker.inspect import ContainerInfo, CrashLoop
from backends.docker.logs import tail
from console import statedb
from console.loglines import LogLine

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docker_restart_counts (
    backend TEXT NOT NULL, container TEXT NOT NULL, container_id TEXT NOT NULL,
    ts REAL NOT NULL, restart_count INTEGER NOT NULL)
"""


@dataclass(frozen=True)
class Observation:
    container_id: str
    ts: float
    count: int


def growth(observations: list[Observation], since: float) -> int:
    """Restarts counted within the window: increments, and a reset to N counts N."""
    total = 0
    previous: Observation | None = None
    for obs in observations:
        if previous is not None and obs.ts >= since:
            if obs.container_id != previous.container_id or obs.count < previous.count:
                total += obs.count
            else:
                total += obs.count - previous.count
        previous = obs
    return total


class RestartHistory:
    """RestartCount per container over time, remembered in the state file."""

    def __init__(self, state_dir: Path, backend_id: str, window: float) -> None:
        self.state_dir = state_dir
        self.backend_id = backend_id
        self.window = window
        self._memory: dict[str, list[Observation]] | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        connection = statedb.connect(self.state_dir)
        connection.execute(_SCHEMA)
        return connection

    def _load(self, now: float) -> dict[str, list[Observation]]:
        memory: dict[str, list[Observation]] = {}
        try:
            connection = self._connect()
            try:
                rows = connection.execute(
                    "SELECT container, container_id, ts, restart_count FROM "
                    "docker_restart_counts WHERE backend = ? AND ts >= ? ORDER BY ts",
                    (self.backend_id, now - 2 * self.window)).fetchall()
            finally:
                connection.close()
        except sqlite3.Error:
            rows = []  # history is a help, not a requirement: start afresh
        for name, cid, ts, count in rows:
            memory.setdefault(name, []).append(Observation(cid, ts, count))
        return memory

    def observe(self, infos: list[ContainerInfo], now: float) -> dict[str, int]:
        """Record this poll's counts (only changes are written); restarts per container."""
        with self._lock:
            if self._memory is None:
                self._memory = self._load(now)
            fresh: list[tuple[str, Observation]] = []
            result: dict[str, int] = {}
            for info in infos:
                seen = self._memory.setdefault(info.name, [])
                last = seen[-1] if seen else None
                if last is None or last.count != info.restart_count \
                        or last.container_id != info.id:
                    obs = Observation(info.id, now, info.restart_count)
                    seen.append(obs)
                    fresh.append((info.name, obs))
                cutoff = now - 2 * self.window
                while len(seen) > 1 and seen[1].ts < cutoff:
                    seen.pop(0)
                result[info.name] = growth(seen, now - self.window)
            if fresh:
                self._store(fresh, now)
            return result

    def _store(self, fresh: list[tuple[str, Observation]], now: float) -> None:
        try:
            connection = self._connect()
            try:
                connection.executemany(
                    "INSERT INTO docker_restart_counts VALUES (?, ?, ?, ?, ?)",
                    [(self.backend_id, name, o.container_id, o.ts, o.count) for name, o in fresh])
                connection.execute(
                    "DELETE FROM docker_restart_counts WHERE backend = ? AND ts < ?",
                    (self.backend_id, now - 7 * 86400))
            finally:
                connection.close()
        except sqlite3.Error:
            pass  # a read-only or full state dir must not stop the checks


class FailedRunLogs:
    """The last log lines of a crash-looping container, fetched once per failed run."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self._cache: dict[str, tuple[tuple[Any, ...], tuple[LogLine, ...]]] = {}

    def get(self, client: Any, info: ContainerInfo) -> tuple[LogLine, ...]:
        key = (info.restart_count, info.finished_at, info.state)
        cached = self._cache.get(info.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        lines = tuple(tail(client, info.id, self.lines))
        self._cache[info.id] = (key, lines)
        return lines


def crash_loop(info: ContainerInfo, restarts: int, threshold: int, window: float,
               now: float) -> bool:
    """Restarting now, or restarted `threshold` times or more within the window.

    Without history (a first poll), a RestartCount above 0 whose last run ended within the
    window also counts: a manual start resets the count, so the restart was the policy's.
    Without it a crash-looping container caught in its brief "running" phase looks fine.
    """
    if info.state == "restarting" or restarts >= threshold:
        return True
    return (info.restart_count >= threshold and info.finished_at is not None
            and now - info.finished_at < window)


def with_crash(info: ContainerInfo, restarts: int, window: float,
               lines: tuple[LogLine, ...]) -> CrashLoop:
    return CrashLoop(restarts, window, info.state == "restarting", lines)
