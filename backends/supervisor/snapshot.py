"""What one poll of supervisord saw: each program's state, and the verdict on it.

FATAL and BACKOFF are CRITICAL with the spawn error and the last stderr lines as the cause;
an EXITED program with a non-zero status and a STOPPED one are WARNING; RUNNING, STARTING
and STOPPING are OK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.core.durations import format_span
from console.core.loglines import printable
from console.core.model import CheckResult, Status

CRITICAL_STATES = frozenset({"FATAL", "BACKOFF"})
WARNING_STATES = frozenset({"STOPPED", "EXITED"})


@dataclass(frozen=True)
class ProgramState:
    """One supervisord process (a program, or one process of a group)."""

    name: str  # what the target says: `name`, or `group:name` inside a group
    group: str
    state: str  # RUNNING, STARTING, BACKOFF, FATAL, EXITED, STOPPED, STOPPING, UNKNOWN
    pid: int
    started: float | None
    stopped: float | None
    now: float
    exit_status: int
    spawn_error: str
    description: str
    stderr_tail: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return f"program:{self.name}"

    @property
    def uptime(self) -> float | None:
        if self.state != "RUNNING" or not self.started:
            return None
        return max(0.0, self.now - self.started)

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> ProgramState:
        name = printable(str(info.get("name", "?")), 200)
        group = printable(str(info.get("group", name)), 200)
        full = name if group == name else f"{group}:{name}"
        return cls(full, group, str(info.get("statename", "UNKNOWN")), int(info.get("pid") or 0),
                   float(info["start"]) if info.get("start") else None,
                   float(info["stop"]) if info.get("stop") else None,
                   float(info.get("now") or 0), int(info.get("exitstatus") or 0),
                   printable(str(info.get("spawnerr") or ""), 400),
                   printable(str(info.get("description") or ""), 200))

    def describe(self) -> str:
        """One line: `RUNNING 3h 12m, PID 123` / `FATAL: Exited too quickly`."""
        if self.state == "RUNNING":
            uptime = self.uptime
            return "RUNNING" + (f" {format_span(uptime)}" if uptime is not None else "") + (
                f", PID {self.pid}" if self.pid else "")
        text = self.state
        if self.state == "EXITED":
            text += f" (exit {self.exit_status})"
        if self.spawn_error:
            text += f": {self.spawn_error}"
        return text


@dataclass(frozen=True)
class SupervisorSnapshot:
    url: str
    polled_at: float
    programs: tuple[ProgramState, ...]
    patterns: tuple[str, ...]

    def program(self, name: str) -> ProgramState | None:
        return next((p for p in self.programs if p.name == name), None)


def program_check(program: ProgramState) -> CheckResult:
    if program.state in CRITICAL_STATES:
        status = Status.CRITICAL
    elif program.state == "EXITED":
        status = Status.WARNING if program.exit_status else Status.OK
    elif program.state in WARNING_STATES:
        status = Status.WARNING
    elif program.state == "UNKNOWN":
        status = Status.UNKNOWN
    else:
        status = Status.OK
    summary = program.describe()
    if status is Status.CRITICAL and program.stderr_tail:
        summary += f" · {program.stderr_tail[-1]}"
    return CheckResult(program.target, status, summary, details="\n".join(program.stderr_tail))
