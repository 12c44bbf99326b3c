"""Carrying a rollback plan to its end: its steps in order, saved and audited one by one.

The process that does it is started detached from the console's terminal session
(`start_new_session`), so an SSH drop or a killed console does not stop a rollback half-way;
its entry point (which loads the config) is `console.deploy_runner`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from backends.deploy.plans import Plan, PlanStore
from backends.deploy.steps import RollbackContext, StepOutput, runner_for
from console.core.audit import AuditLog
from console.core.errors import ConsoleError, one_line
from console.core.files import open_private
from console.core.identity import Identity

_SAVE_EVERY = 0.25


def run_lock_key(deploy: str) -> str:
    return f"deploy-run:{deploy}"


def spawn(config_path: Path, state_dir: Path, plan_id: str) -> int:
    """Start the runner outside the caller's session; returns its pid."""
    log = state_dir / f"deploy-{plan_id}.log"
    with open(open_private(log, os.O_WRONLY | os.O_APPEND), "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "console.deploy_runner", "--config", str(config_path),
             "--state-dir", str(state_dir), "--plan", plan_id],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True, cwd="/", env=dict(os.environ))
    return process.pid


class _Saver:
    """Saves the plan when its output changed, at most every quarter second."""

    def __init__(self, store: PlanStore, plan: Plan) -> None:
        self.store = store
        self.plan = plan
        self._last = 0.0

    def changed(self) -> None:
        now = time.monotonic()
        if now - self._last >= _SAVE_EVERY:
            self._last = now
            self.store.save(self.plan)


async def execute(plan: Plan, ctx: RollbackContext, store: PlanStore, audit: AuditLog,
                  who: Identity) -> None:
    saver = _Saver(store, plan)
    plan.state = "running"
    plan.pid = os.getpid()
    store.save(plan)
    command_index = 0
    for number, step in enumerate(plan.steps, start=1):
        step.state = "running"
        step.started = time.time()
        store.save(plan)
        run = runner_for(step, ctx, command_index)
        if step.name == "command":
            command_index += 1
        try:
            await run(StepOutput(step, saver.changed))
        except Exception as exc:  # a failed step stops the plan; its reason is kept
            message = exc.args[0] if isinstance(exc, ConsoleError) and exc.args else \
                one_line(exc)
            step.state, step.finished = "failed", time.time()
            step.add_output(f"FAILED: {message}")
            plan.state, plan.finished = "failed", time.time()
            plan.error = f"step {number} ({step.title}): {message}"
            for later in plan.steps[number:]:
                later.state = "skipped"
            plan.backup = ctx.backup_path
            store.save(plan)
            _audit_step(audit, who, plan, step, ok=False, error=message)
            return
        step.state, step.finished = "ok", time.time()
        plan.backup = ctx.backup_path
        store.save(plan)
        _audit_step(audit, who, plan, step, ok=True)
    plan.state, plan.finished = "ok", time.time()
    store.save(plan)


def _audit_step(audit: AuditLog, who: Identity, plan: Plan, step: Any, *, ok: bool,
                error: str = "") -> None:
    audit.append(action_id=plan.id, phase="step", who=who.user, client=who.client or who.tty,
                 verb="rollback", target=f"deploy:{plan.deploy}",
                 params={"step": step.title, "to": plan.to_rev},
                 outcome="ok" if ok else "failed", error=error,
                 duration=(step.finished or time.time()) - (step.started or time.time()))
