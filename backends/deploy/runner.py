"""Carrying a deploy or rollback plan to its end: its steps in order, saved and audited one by one.

The process that does it is started detached from the console's terminal session
(`start_new_session`), so an SSH drop or a killed console does not stop a plan half-way; its
entry point (which loads the config) is `console.deploy_runner`. A deploy started with
`auto_rollback` that fails once its checkout began is followed, in the same process and under
the same lock, by the rollback plan to the release it replaced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from backends.deploy import steps as plan_steps_module
from backends.deploy import watch
from backends.deploy.plans import Plan, PlanStore, Step
from backends.deploy.steps import PlanContext, StepOutput, StepRunner, plan_steps
from console.core.audit import AuditLog
from console.core.errors import ConsoleError, one_line
from console.core.files import open_private
from console.core.identity import Identity
from console.core.loglines import printable

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


_FUNCTIONS: dict[str, StepRunner] = {
    "backup": plan_steps_module.backup, "stop": plan_steps_module.stop,
    "checkout": plan_steps_module.checkout, "start": plan_steps_module.start,
    "health": plan_steps_module.health, "fetch": plan_steps_module.fetch,
    "clean": plan_steps_module.clean, "restart": plan_steps_module.restart,
    "reload": plan_steps_module.reload, "baseline": watch.measure_before,
    "watch": watch.watch}


def runner_for(step: Step, ctx: PlanContext, command_index: int) -> Callable[
        [StepOutput], Awaitable[None]]:
    if step.name == "command":
        argv = ctx.deploy.after_checkout[command_index]
        return lambda out: plan_steps_module.run_command(ctx, out, argv)
    function = _FUNCTIONS[step.name]
    return lambda out: function(ctx, out)


async def run_plan(plan: Plan, ctx: PlanContext, store: PlanStore, audit: AuditLog,
                   who: Identity) -> None:
    """Execute a plan; a deploy that fails after its checkout began may roll itself back."""
    rollback: list[Plan] = []

    def on_failure(failed: Plan) -> None:
        # Linked before the failure is saved, so a follower never sees a deploy that failed
        # without the rollback it started.
        if failed.kind != "deploy" or not failed.options.get("auto_rollback"):
            return
        if not any(s.name == "checkout" and s.state in ("ok", "failed") for s in failed.steps):
            return  # nothing was changed yet: there is nothing to roll back
        back = store.create(failed.deploy, failed.who, failed.to_rev, failed.from_rev,
                            plan_steps(ctx.deploy, failed.from_rev), kind="rollback",
                            options={"after": failed.id})
        failed.next_plan = back.id
        rollback.append(back)

    await execute(plan, ctx, store, audit, who, on_failure)
    if not rollback:
        return
    back = rollback[0]
    _audit_phase(audit, who, back, "started", params={"after": plan.id, "why": plan.error})
    await execute(back, replace(ctx, to_rev=plan.from_rev, backup_path=""), store, audit, who)
    _audit_phase(audit, who, back, "finished" if back.state == "ok" else "failed",
                 outcome=back.state, error=back.error)


async def execute(plan: Plan, ctx: PlanContext, store: PlanStore, audit: AuditLog,
                  who: Identity, on_failure: Callable[[Plan], None] | None = None) -> None:
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
            await run(StepOutput(step, saver.changed, ctx.redact))
        except Exception as exc:  # a failed step stops the plan; its reason is kept
            message = ctx.redact(exc.args[0] if isinstance(exc, ConsoleError) and exc.args
                                 else one_line(exc))
            step.state, step.finished = "failed", time.time()
            step.add_output(printable(f"FAILED: {message}"))
            plan.state, plan.finished = "failed", time.time()
            plan.error = f"step {number} ({step.title}): {message}"
            for later in plan.steps[number:]:
                later.state = "skipped"
            plan.backup = ctx.backup_path
            plan.to_rev = ctx.to_rev
            if on_failure is not None:
                on_failure(plan)
            store.save(plan)
            _audit_step(audit, who, plan, step, ok=False, error=message)
            return
        step.state, step.finished = "ok", time.time()
        plan.backup = ctx.backup_path
        plan.to_rev = ctx.to_rev  # a deploy's fetch pins the release to a commit
        store.save(plan)
        _audit_step(audit, who, plan, step, ok=True)
    plan.state, plan.finished = "ok", time.time()
    store.save(plan)


def _audit_step(audit: AuditLog, who: Identity, plan: Plan, step: Any, *, ok: bool,
                error: str = "") -> None:
    audit.append(action_id=plan.id, phase="step", who=who.user, client=who.client or who.tty,
                 verb=plan.kind, target=f"deploy:{plan.deploy}",
                 params={"step": step.title, "to": plan.to_rev, "plan": plan.id},
                 outcome="ok" if ok else "failed", error=error,
                 duration=(step.finished or time.time()) - (step.started or time.time()))


def _audit_phase(audit: AuditLog, who: Identity, plan: Plan, phase: str, *, outcome: str = "",
                 error: str = "", params: dict[str, Any] | None = None) -> None:
    audit.append(action_id=plan.id, phase=phase, who=who.user, client=who.client or who.tty,
                 verb=plan.kind, target=f"deploy:{plan.deploy}",
                 params={"to": plan.to_rev, **(params or {})}, outcome=outcome, error=error,
                 duration=None if phase == "started" else
                 (plan.finished or time.time()) - plan.created)
