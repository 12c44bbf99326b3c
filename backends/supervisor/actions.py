"""start, stop and restart of one program, watched until supervisord settles it.

supervisord has no restart call: a restart is a stop (when running) and a start, as
supervisorctl does it. Start does not wait inside supervisord (`wait=False`); the program is
polled until RUNNING (it has passed its startsecs), or BACKOFF/FATAL/EXITED (it failed, and
its last stderr lines say why), or the action's time is up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from backends.supervisor.config import SupervisorConfig
from backends.supervisor.rpc import (
    ABNORMAL_TERMINATION,
    ALREADY_STARTED,
    NOT_RUNNING,
    SPAWN_ERROR,
    RpcError,
    SupervisorRpc,
)
from backends.supervisor.snapshot import ProgramState
from console.core.actions import ActionOutcome, Progress
from console.core.errors import ActionFailed
from console.core.loglines import printable

VERBS = ("restart", "start", "stop")
PAST = {"restart": "restarted", "start": "started", "stop": "stopped"}
RUNNING_STATES = frozenset({"RUNNING", "STARTING", "BACKOFF", "STOPPING"})
_WATCH_EVERY = 0.2


class ProgramAction:
    """One verb on one program, from the call to the verdict."""

    def __init__(self, rpc: SupervisorRpc, config: SupervisorConfig, verb: str,
                 program: str) -> None:
        self.rpc = rpc
        self.config = config
        self.verb = verb
        self.program = program

    async def _state(self) -> ProgramState:
        return ProgramState.from_info(await asyncio.to_thread(self.rpc.process_info, self.program))

    async def _call(self, method: str, *args: object) -> None:
        await asyncio.to_thread(self.rpc.call, method, *args)

    async def run(self, progress: Progress) -> ActionOutcome:
        deadline = time.monotonic() + self.config.action_timeout
        try:
            before = await self._state()
            progress.progress(None, None, f"{self.verb} {self.program} (now {before.describe()})")
            if self.verb in ("stop", "restart") and before.state in RUNNING_STATES:
                await self._stop()
                after = await self._wait(deadline, progress, lambda s: s not in RUNNING_STATES)
                if after.state in RUNNING_STATES:
                    raise ActionFailed(f"{self.verb} {self.program} failed: still {after.state} "
                                       f"after {self.config.action_timeout:g}s")
                if self.verb == "stop":
                    return ActionOutcome(True, f"stopped {self.program}: {after.describe()}")
            if self.verb == "stop":
                return ActionOutcome(True, f"{self.program} was not running: {before.describe()}")
            await self._start()
            after = await self._wait(deadline, progress,
                                     lambda s: s not in ("STARTING", "BACKOFF", "STOPPING"))
        except RpcError as exc:
            raise ActionFailed(f"{self.verb} {self.program} failed: {exc}") from None
        if after.state == "RUNNING":
            return ActionOutcome(True, f"{PAST[self.verb]} {self.program}: {after.describe()}")
        lines = await self._stderr()
        for line in lines:
            progress.log(line)
        problem = (f"still {after.state} after {self.config.action_timeout:g}s"
                   if after.state in ("STARTING", "BACKOFF") else after.describe())
        raise ActionFailed(f"{self.verb} {self.program} failed: {problem}", "\n".join(lines))

    async def _stop(self) -> None:
        try:
            await self._call("supervisor.stopProcess", self.program, False)
        except RpcError as exc:
            if exc.fault != NOT_RUNNING:
                raise

    async def _start(self) -> None:
        try:
            await self._call("supervisor.startProcess", self.program, False)
        except RpcError as exc:
            # A spawn error is the outcome to report, with its state and stderr, not a crash.
            if exc.fault not in (ALREADY_STARTED, SPAWN_ERROR, ABNORMAL_TERMINATION):
                raise

    async def _wait(self, deadline: float, progress: Progress,
                    settled: Callable[[str], bool]) -> ProgramState:
        while True:
            now = await self._state()
            if settled(now.state) or time.monotonic() >= deadline:
                return now
            progress.progress(None, None, f"{self.program}: {now.state}")
            await asyncio.sleep(_WATCH_EVERY)

    async def _stderr(self) -> list[str]:
        try:
            text, _ = await asyncio.to_thread(self.rpc.tail, self.program, "stderr", 4096)
        except RpcError as exc:  # the outcome matters more than its log lines
            return [f"(stderr log unavailable: {exc})"]
        lines = [printable(line) for line in text.splitlines() if line.strip()]
        return lines[-self.config.log_lines:] if self.config.log_lines else []
