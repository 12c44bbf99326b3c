"""Deploy rollbacks whose runner and console are SIGKILLed at random moments, against a real
git repository, a real unit in systemd and a real health endpoint (seeded:
OPSCONSOLE_KILL_SEED).

After every kill: the checkout is at the release it left or the one it went to, with a clean
tree; a plan no runner carries on any more shows as interrupted in the check, and the next
rollback says so, runs every step again and ends with the release healthy.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from backends.deploy.plans import START_GRACE, PlanStore
from tests.conftest import OPSCONSOLE
from tests.support.kill_runs import kill_repeatedly, run_to_end
from tests.test_deploy import (
    Release,
    app_unit,
    deploy_config,
    git,
    health_from_checkout,
    release,
    unit_state,
)

__all__ = ["app_unit", "deploy_config", "health_from_checkout", "release"]
KILLS = 20


def _runners(store: PlanStore, console: int) -> list[int]:
    """The detached runner the console started, found by its parent or by its plan."""
    pids = []
    try:
        for child in psutil.Process(console).children():
            if "console.deploy_runner" in " ".join(child.cmdline()):
                pids.append(child.pid)
    except psutil.Error:
        pass
    pids += [p.pid for p in store.recent("app") if not p.done and p.runner_alive]
    return sorted(set(pids))


def _orphaned(plan: Any) -> bool:
    """Unfinished, and no runner carries it on."""
    return not plan.done and not plan.runner_alive


def _wait_for_runners(store: PlanStore, timeout: float = 120) -> None:
    """A runner whose console alone was killed goes on: let it end."""
    deadline = time.monotonic() + timeout
    while any(not p.done and p.runner_alive for p in store.recent("app")):
        assert time.monotonic() < deadline, "a runner never ended"
        time.sleep(0.1)


def test_a_rollback_killed_at_any_moment_is_reported_and_resumed(
        deploy_config: Callable[..., Path], release: Release, cli_env: dict[str, str],
        state_dir: Path, systemd_machine: Any, app_unit: str, tmp_path: Path) -> None:
    config = deploy_config('[["sh", "-c", "sleep 0.2"]]')
    store = PlanStore(state_dir)
    argv = [*OPSCONSOLE, "--headless", "rollback", "deploy:app", "--to", release.previous[:12],
            "--config", str(config), "--yes"]
    interrupted: list[str] = []

    def deployed_broken() -> None:
        """Each rollback starts from the broken release, as after a bad deploy."""
        git(release.repo, "checkout", "-q", "--detach", release.broken)

    def after_kill(when: str) -> None:
        _wait_for_runners(store)
        head = git(release.repo, "rev-parse", "HEAD")
        assert head in (release.broken, release.previous), f"{when}: HEAD is {head}"
        assert git(release.repo, "status", "--porcelain") == "", \
            f"{when}: the checkout was left dirty"
        assert not (release.repo / ".git" / "index.lock").exists(), f"{when}: git left a lock"
        last = store.recent("app", 1)
        if last and _orphaned(last[0]):
            if last[0].state != "running":
                # killed before its runner started: a runner may still be on its way and
                # carry the plan out, so it counts as interrupted only if, once START_GRACE
                # has passed, it is still unstarted (checked at the end)
                return
            interrupted.append(last[0].id)
            check = subprocess.run([*OPSCONSOLE, "--headless", "check", "--only",
                                    "deploy:app", "--config", str(config)], env=cli_env,
                                   capture_output=True, text=True, timeout=60, check=False)
            assert check.returncode == 1 and "interrupted at" in check.stdout, \
                f"{when}: {check.stdout}"

    deployed_broken()
    kill_repeatedly(argv, cli_env, tmp_path, KILLS, after_kill, before=deployed_broken,
                    victims=lambda console: _runners(store, console))
    unstarted = [p.created for p in store.recent("app", 100)
                 if _orphaned(p) and p.state != "running"]
    if unstarted:  # wait out the grace a runner has to start: then the next run closes them
        until = max(unstarted) + START_GRACE + 1
        while time.time() < until:
            time.sleep(0.2)
    _wait_for_runners(store)  # a runner that started late carries its plan to the end
    deployed_broken()
    pending = [p.id for p in store.recent("app", 100) if _orphaned(p)]
    interrupted += [plan_id for plan_id in pending if plan_id not in interrupted]
    last = run_to_end(argv, cli_env, tmp_path / "last.log")
    assert last.returncode == 0, last.output
    for plan_id in pending:
        assert f"(plan {plan_id}) was interrupted at" in last.output, last.output
    assert git(release.repo, "rev-parse", "HEAD") == release.previous
    assert unit_state(systemd_machine, app_unit) == "active"
    plans = store.recent("app", 100)
    assert all(p.done for p in plans), [(p.id, p.state) for p in plans]
    closed = [p for p in plans if p.id in interrupted]
    assert all(p.state == "failed" and p.error.startswith("interrupted at") for p in closed), \
        [(p.id, p.state, p.error) for p in closed]
    print(f"{len(interrupted)} kills left a plan without a runner")
