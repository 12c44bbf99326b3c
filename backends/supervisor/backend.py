"""Supervisor programs over supervisord's XML-RPC interface: states, causes, actions, logs.

`[[supervisor]]` names one supervisord (its unix socket or HTTP URL and login); each poll is
one getAllProcessInfo call, plus the stderr tail of programs in FATAL or BACKOFF, made in a
thread with the entry's timeout. Targets are `program:NAME` (`group:name` inside a group).
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from backends.base import Backend, BackendKind, Runtime
from backends.supervisor.actions import VERBS, ProgramAction
from backends.supervisor.config import SupervisorConfig, parse, validate
from backends.supervisor.logs import ProgramLogSource
from backends.supervisor.rpc import SupervisorRpc
from backends.supervisor.snapshot import (
    CRITICAL_STATES,
    ProgramState,
    SupervisorSnapshot,
    program_check,
)
from console.core.actions import ActionSpec
from console.core.loglines import LineSource, printable
from console.core.model import CheckResult, Status


def build(entries: list[SupervisorConfig], runtime: Runtime) -> list[Backend]:
    return [SupervisorBackend(entry, runtime) for entry in entries]


class SupervisorBackend(Backend[SupervisorSnapshot]):
    kind = "supervisor"
    unreachable_status = Status.CRITICAL

    def __init__(self, config: SupervisorConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=config.interval or runtime.refresh,
                         timeout=config.timeout * 2 + 1.0)
        self.config = config
        self.rpc = SupervisorRpc(config.url, config.username, config.password, config.timeout)
        self.known: tuple[str, ...] = ()

    def _selected(self, name: str) -> bool:
        group = name.partition(":")[0]
        return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(group, p)
                   for p in self.config.programs)

    # -- reading --------------------------------------------------------------------------
    async def collect(self) -> SupervisorSnapshot:
        infos = await asyncio.to_thread(self.rpc.all_process_info)
        programs = [p for p in map(ProgramState.from_info, infos) if self._selected(p.name)]
        failing = [p for p in programs if p.state in CRITICAL_STATES]
        if failing and self.config.log_lines:
            tails = await asyncio.gather(*(asyncio.to_thread(self._stderr_tail, p.name)
                                           for p in failing))
            by_name = dict(zip((p.name for p in failing), tails, strict=True))
            programs = [replace(p, stderr_tail=by_name[p.name]) if p.name in by_name else p
                        for p in programs]
        self.known = tuple(p.name for p in programs)
        return SupervisorSnapshot(self.config.url, time.time(), tuple(programs),
                                  self.config.programs)

    def _stderr_tail(self, program: str) -> tuple[str, ...]:
        text, _ = self.rpc.tail(program, "stderr", 4096)
        if not text.strip():  # redirect_stderr = true sends it to stdout
            text, _ = self.rpc.tail(program, "stdout", 4096)
        lines = [printable(line) for line in text.splitlines() if line.strip()]
        return tuple(lines[-self.config.log_lines:])

    def evaluate(self, snapshot: SupervisorSnapshot) -> list[CheckResult]:
        results = [program_check(p) for p in snapshot.programs]
        if not snapshot.programs:
            results.append(CheckResult(
                f"program:{','.join(self.config.programs)}", Status.WARNING,
                f"no program of supervisord at {self.config.url} matches "
                f"{', '.join(self.config.programs)}"))
        return results

    def targets(self) -> list[str]:
        names = self.known or self.config.programs
        return [f"program:{name}" for name in names]

    def answers_for(self, target: str) -> bool:
        kind, _, name = target.partition(":")
        return kind == "program" and bool(name) and self._selected(name)

    # -- logs and actions -----------------------------------------------------------------
    def log_sources(self, target: str | None = None) -> list[LineSource]:
        if target is not None:
            if not self.answers_for(target):
                return []
            names: tuple[str, ...] = (target.partition(":")[2],)
        else:
            names = self.known
        return [ProgramLogSource(self.rpc, name, stream)
                for name in names for stream in ("stdout", "stderr")]

    def actions(self, snapshot: SupervisorSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        if not self.answers_for(target) or any(c in target for c in "*?["):
            return []
        program = target.partition(":")[2]
        state = snapshot.program(program) if snapshot is not None else None
        now = f" (now {state.describe()})" if state else ""
        where = f"supervisord at {self.config.url}"
        effects = {
            "restart": f"stop and start {program}{now}",
            "start": f"start {program}{now}",
            "stop": f"stop {program}{now}; it stays stopped until started again",
        }
        return [ActionSpec(
            verb=verb, target=target, title=f"{verb.capitalize()} {program}",
            effect=f"{effects[verb]}, through {where}; then watch it for up to "
                   f"{self.config.action_timeout:g}s",
            backend_id=self.id, run=ProgramAction(self.rpc, self.config, verb, program).run,
            params={"program": program}) for verb in VERBS]


KIND = BackendKind(section="supervisor", parse=parse, build=build, validate=validate)
