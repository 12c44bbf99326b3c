"""Crash-loop detection: a container restarting, or whose RestartCount grew within a window.

RestartCount growth is measured by console.core.counters, which keeps it in the console's state
file, so a `check` run from cron sees growth since the previous run as the TUI does.
"""

from __future__ import annotations

import json
from typing import Any

from backends.docker.inspect import ContainerInfo, CrashLoop
from backends.docker.logs import tail
from console.core.counters import Sample
from console.core.loglines import LogLine


def start_times(client: Any, names: list[str], since: float, now: float,
                timeout: float) -> dict[str, list[float]]:
    """When each container started since `since`, from the engine's own event record.

    Policy restarts show as `start` events; a first poll reads them, so a container that
    has restarted every minute for ten minutes reads so at once. docker's `events()` reads
    without a timeout (it is meant to stream), so the bounded window is fetched as one
    request with the engine connection's own read timeout.
    """
    times: dict[str, list[float]] = {}
    wanted = set(names)
    filters = json.dumps({"type": ["container"], "event": ["start"]})
    response = client.api.get(client.api._url("/events"), timeout=timeout,
                              params={"since": int(since), "until": int(now) + 1,
                                      "filters": filters})
    try:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line:
                continue
            event = json.loads(line)
            name = (event.get("Actor") or {}).get("Attributes", {}).get("name")
            if name in wanted:
                times.setdefault(name, []).append(event.get("timeNano", 0) / 1e9
                                                  or float(event.get("time", 0)))
    finally:
        response.close()
    return times


def restart_samples(infos: list[ContainerInfo]) -> list[Sample]:
    """RestartCount per container name; a new container id under the name is a reset."""
    return [Sample(info.name, info.restart_count, info.id) for info in infos]


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
