"""The detached deploy/rollback runner's entry point: load the config, take the lock, run the plan.

    python -m console.deploy_runner --config PATH --state-dir DIR --plan ID

Started by the deploy backend outside the console's session; the steps themselves are
`backends.deploy.runner.run_plan`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from backends.deploy.plans import PlanStore
from backends.deploy.runner import run_lock_key, run_plan
from backends.deploy.steps import PlanContext
from console.config import load_config
from console.core.audit import AuditLog
from console.core.errors import ActionRefused, one_line
from console.core.identity import Identity
from console.core.locks import TargetLock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="opsconsole-deploy-runner")
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
    lock = TargetLock(state_dir / "locks", run_lock_key(plan.deploy), who, plan.kind)
    try:
        lock.acquire()
    except ActionRefused as exc:
        plan.state, plan.error, plan.finished = "failed", str(exc), time.time()
        store.save(plan)
        return 3
    try:
        config = load_config(args.config)
        deploy = next(e for e in config.sections.get("deploy", []) if e.name == plan.deploy)
        ctx = PlanContext(deploy, config.sections, state_dir, plan.to_rev,
                          watch=float(plan.options.get("watch", 0.0)), redact=config.redactor)
        asyncio.run(run_plan(plan, ctx, store, AuditLog(state_dir), who))
    except Exception as exc:  # the runner must always leave the plan in a final state
        plan.state, plan.error, plan.finished = "failed", one_line(exc), time.time()
        store.save(plan)
        return 1
    finally:
        lock.release()
    return 0 if plan.state == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
