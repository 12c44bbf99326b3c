"""Plain processes found by a pattern, as `ps aux | grep NAME` finds them: count, CPU, memory.

`[[process]]` names a regular expression searched in full command lines (psutil, as
`pgrep -f` does). Checks: fewer than `min` is CRITICAL, more than `max` WARNING, CPU and
memory per process against thresholds, and "restarted recently" when the oldest start time
changed within `restarted_window`. An optional `start` command is offered as an action.
Targets are `process:NAME`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backends.base import Backend, BackendKind, Runtime
from backends.process.config import ProcessConfig, parse, validate
from backends.process.scan import ProcInfo, Scanner
from backends.process.start import start
from console.core.actions import ActionSpec, Progress
from console.core.durations import clock, format_span
from console.core.model import CheckResult, Perf, Status, by_thresholds, worst
from console.core.sizes import format_bytes


@dataclass(frozen=True)
class ProcessSnapshot:
    name: str
    pattern: str
    polled_at: float
    processes: tuple[ProcInfo, ...]
    restarted_at: float | None  # when the start time was last seen to change

    @property
    def target(self) -> str:
        return f"process:{self.name}"

    @property
    def started(self) -> float | None:
        return self.processes[0].started if self.processes else None


def build(entries: list[ProcessConfig], runtime: Runtime) -> list[Backend]:
    return [ProcessBackend(entry, runtime) for entry in entries]


class ProcessBackend(Backend[ProcessSnapshot]):
    kind = "process"
    unreachable_status = Status.UNKNOWN

    def __init__(self, config: ProcessConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=config.interval or runtime.refresh,
                         timeout=runtime.timeout)
        self.config = config
        self.scanner = Scanner(config)
        self._last_started: float | None = None
        self._restarted_at: float | None = None

    async def collect(self) -> ProcessSnapshot:
        found = await asyncio.to_thread(self.scanner.scan)
        started = found[0].started if found else None
        if (started is not None and self._last_started is not None
                and started != self._last_started):
            self._restarted_at = started
        if started is not None:
            self._last_started = started
        return ProcessSnapshot(self.config.name, self.config.pattern.pattern, time.time(),
                               tuple(found), self._restarted_at)

    def evaluate(self, snapshot: ProcessSnapshot) -> list[CheckResult]:
        config = self.config
        count = len(snapshot.processes)
        perf = [Perf("processes", count, "", None, None, 0)]
        if count < config.min:
            summary = (f"no process matches /{snapshot.pattern}/" if count == 0 else
                       f"{count} running, expected at least {config.min}")
            if config.user:
                summary += f" (user {config.user})"
            return [CheckResult(snapshot.target, Status.CRITICAL, summary, perfdata=tuple(perf))]
        statuses = [Status.OK]
        notes: list[str] = []
        if config.max is not None and count > config.max:
            statuses.append(Status.WARNING)
            notes.append(f"more than {config.max}")
        cpus = [p.cpu_percent for p in snapshot.processes if p.cpu_percent is not None]
        if cpus:
            cpu_status = by_thresholds(max(cpus), config.cpu_warn, config.cpu_crit)
            statuses.append(cpu_status)
            if cpu_status is not Status.OK:
                notes.append(f"CPU {max(cpus):.0f}%")
            perf.append(Perf("cpu", round(max(cpus), 1), "%", config.cpu_warn, config.cpu_crit))
        if snapshot.processes:
            rss = max(p.rss for p in snapshot.processes)
            mib = rss / 2**20
            memory_status = by_thresholds(mib, config.memory_warn, config.memory_crit)
            statuses.append(memory_status)
            if memory_status is not Status.OK:
                notes.append(f"memory {format_bytes(rss)}")
            perf.append(Perf("rss", rss, "B"))
        restarted = snapshot.restarted_at
        if restarted is not None and snapshot.polled_at - restarted < config.restarted_window:
            statuses.append(Status.WARNING)
            notes.append(f"restarted recently (at {clock(restarted)})")
        started = snapshot.started
        summary = f"{count} running"
        if started is not None:
            summary += f", up {format_span(snapshot.polled_at - started)}"
        if snapshot.processes:
            summary += f", PID {', '.join(str(p.pid) for p in snapshot.processes[:5])}"
        if notes:
            summary += " · " + ", ".join(notes)
        details = "\n".join(f"{p.pid} {p.user} {p.command}" for p in snapshot.processes)
        return [CheckResult(snapshot.target, worst(statuses), summary, perfdata=tuple(perf),
                            details=details)]

    def targets(self) -> list[str]:
        return [f"process:{self.config.name}"]

    def actions(self, snapshot: ProcessSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        if target not in self.targets():
            return []
        config = self.config
        if config.start is None:
            return [ActionSpec(verb="start", target=target, title=f"Start {config.name}",
                               effect="", run=self._start, backend_id=self.id,
                               unavailable=f"no start command: add start = [...] to the "
                                           f"[[process]] entry {config.name!r}")]
        running = f" ({len(snapshot.processes)} running now)" if snapshot else ""
        where = f" in {config.start_cwd}" if config.start_cwd else ""
        as_user = f" as {config.user}" if config.user else ""
        output = f", output to {config.start_log}" if config.start_log else ", output discarded"
        return [ActionSpec(
            verb="start", target=target, title=f"Start {config.name}",
            effect=f"run {' '.join(config.start)}{where}{as_user} detached{output}{running}; "
                   f"then wait up to {config.action_timeout:g}s for /{config.pattern.pattern}/",
            run=self._start, backend_id=self.id)]

    async def _start(self, progress: Progress) -> Any:
        return await start(self.config, Scanner(self.config).scan, progress)


KIND = BackendKind(section="process", parse=parse, build=build, validate=validate)
