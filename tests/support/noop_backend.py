"""A test-only backend kind whose one mutating action appends to a file.

It lets the dispatcher, the headless action path and the TUI's confirmation flow be tested
without depending on a real system's action; it is registered only by the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import Backend, BackendKind, Runtime
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.configtable import Table
from console.core.errors import ActionFailed
from console.core.model import CheckResult, Status


@dataclass(frozen=True)
class NoopConfig:
    name: str
    journal: str
    seconds: float
    fail: bool


def parse(table: Table) -> NoopConfig:
    config = NoopConfig(table.name(), table.text("journal"), table.number("seconds", 0.0),
                        table.flag("fail", False))
    table.done()
    return config


class NoopBackend(Backend[int]):
    kind = "noop"

    def __init__(self, config: NoopConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=runtime.refresh, timeout=runtime.timeout)
        self.config = config

    def targets(self) -> list[str]:
        return [f"unit:{self.name}"]

    async def collect(self) -> int:
        path = Path(self.config.journal)
        return len(path.read_text().splitlines()) if path.exists() else 0

    def evaluate(self, snapshot: int) -> list[CheckResult]:
        return [CheckResult(f"unit:{self.name}", Status.OK, f"{snapshot} restarts so far")]

    def actions(self, snapshot: int | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        async def restart(progress: Progress) -> ActionOutcome:
            for step in range(3):
                progress.progress(step, 3, f"step {step + 1} of 3")
                progress.log(f"step {step + 1}")
                await asyncio.sleep(self.config.seconds / 3)
            if self.config.fail:
                raise ActionFailed(f"{self.name} did not come back")
            with open(self.config.journal, "a") as journal:
                journal.write("restarted\n")
            return ActionOutcome(True, f"{self.name} restarted")

        return [ActionSpec(verb="restart", target=target, title=f"Restart {self.name}",
                           effect=f"append a line to {self.config.journal}", run=restart,
                           backend_id=self.id, params={"reason": "test"},
                           type_to_confirm=self.name if "danger" in self.name else None)]


KIND = BackendKind(section="noop", parse=parse,
                   build=lambda entries, runtime: [NoopBackend(e, runtime) for e in entries])
