"""The rollback runner: a process of its own that carries a plan to its end.

It is started detached from the console's terminal session (`start_new_session`), so an SSH
drop or a killed console does not stop a rollback half-way. It holds the deploy's run lock,
writes each step's state and output to the plan store and one audit record per step.

    python -m backends.deploy.runner --config PATH --state-dir DIR --plan ID
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from backends.deploy.plans import Plan, PlanStore
from backends.deploy.steps import RollbackContext, StepOutput, runner_for
from console.audit import AuditLog
from console.config import load_config
from console.errors import ActionRefused, ConsoleError
from console.identity import Identity
from console.locks import TargetLock
from console.poller import describe_error

_SAVE_EVERY = 0.25


def run_lock_key(deploy: str) -> str:
    return f"deploy-run:{deploy}"


def spawn(config_path: Path, state_dir: Path, plan_id: str) -> int:
    """Start the runner outside the caller's session; returns its pid."""
    log = state_dir / f"deploy-{plan_id}.log"
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "backends.deploy.runner", "--config", str(config_path),
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
                describe_error(exc, 0)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opsconsole-rollback-runner")
    parser.add_argument("--config", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--plan", required=True)
    args = parser.parse_args(argv)
    state_dir = Path(args.state_dir)
    store = PlanStore(state_dir)
    plan = store.get(args.plan)
    if plan is None:
        print(f"no plan {args.plan} in {state_dir}", file=sys.stderr)
        return 2
    who = Identity(plan.who, "runner", "")
    lock = TargetLock(state_dir / "locks", run_lock_key(plan.deploy), who, "rollback")
    try:
        lock.acquire()
    except ActionRefused as exc:
        plan.state, plan.error, plan.finished = "failed", str(exc), time.time()
        store.save(plan)
        return 3
    try:
        config = load_config(args.config)
        deploy = next(e for e in config.sections.get("deploy", []) if e.name == plan.deploy)
        ctx = RollbackContext(deploy, config.sections, state_dir, plan.to_rev)
        asyncio.run(execute(plan, ctx, store, AuditLog(state_dir), who))
    except Exception as exc:  # the runner must always leave the plan in a final state
        plan.state, plan.error, plan.finished = "failed", describe_error(exc, 0), time.time()
        store.save(plan)
        return 1
    finally:
        lock.release()
    return 0 if plan.state == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
