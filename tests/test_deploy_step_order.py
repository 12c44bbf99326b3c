"""The order of a deploy's and a rollback's steps, as shown before confirming and as run: the
database is backed up before anything changes, units stop before the checkout and start after
it, health comes last but the watch; an after_checkout command's output, failure and timeout."""

from __future__ import annotations

import dataclasses
import os
import pwd
import sys
from pathlib import Path

import pytest

from backends.deploy.config import DeployConfig
from backends.deploy.plans import Step
from backends.deploy.steps import (
    PlanContext,
    StepOutput,
    deploy_steps,
    plan_steps,
    run_command,
)
from console.core.errors import ActionFailed
from tests.testbed.fixtures import require_service


def _deploy(repo: str = "/srv/app", **changes: object) -> DeployConfig:
    fields: dict[str, object] = {
        "name": "app", "repo": repo, "units": ("app-web.service", "app-worker.service"),
        "after_checkout": (("pip", "install", "."), ("manage", "migrate")), "database": "main",
        "health": "api", "health_timeout": 30.0, "command_timeout": 5.0, "bus": None,
        "logs": ("app",)}
    fields.update(changes)
    return DeployConfig(**fields)  # type: ignore[arg-type]


def _names(steps: list[Step]) -> list[str]:
    return [s.name for s in steps]


def test_rollback_backs_up_stops_checks_out_starts_then_checks_health() -> None:
    steps = plan_steps(_deploy(), "0123456789abcdef")
    assert _names(steps) == ["backup", "stop", "checkout", "command", "command", "start",
                             "health"]
    assert [s.title for s in steps] == [
        "back up and verify database main", "stop app-web.service, app-worker.service",
        "check out 0123456789 in /srv/app", "run pip install .", "run manage migrate",
        "start app-web.service, app-worker.service", "wait until api is healthy (up to 30s)"]
    bare = _deploy(units=(), after_checkout=(), database=None, health=None)
    assert _names(plan_steps(bare, "abc")) == ["checkout"]


def test_deploy_changes_nothing_before_the_release_is_known_and_backed_up() -> None:
    config = _deploy(restart_order=("app-worker.service", "app-web.service"),
                     reload=("nginx.service",))
    steps = deploy_steps(config, "v1.2", 600)
    assert _names(steps) == ["baseline", "fetch", "clean", "backup", "checkout", "command",
                             "command", "restart", "reload", "health", "watch"]
    titles = {s.name: s.title for s in steps}
    assert titles["restart"] == "restart in order app-worker.service, app-web.service"
    assert titles["baseline"] == ("measure before the deploy: health of api, error rate of app, "
                                  "restarts of app-worker.service, app-web.service")
    assert titles["watch"].startswith("watch for 10m: health of api")
    assert titles["reload"] == "reload nginx.service"
    # no watch: neither a baseline nor a watch step; nothing to watch: none either
    assert _names(deploy_steps(config, "v1.2", 0))[0] == "fetch"
    assert "watch" not in _names(deploy_steps(config, "v1.2", 0))
    quiet = _deploy(units=(), after_checkout=(), database=None, health=None, logs=())
    assert _names(deploy_steps(quiet, "v1.2", 600)) == ["fetch", "clean", "checkout"]
    assert _names(deploy_steps(_deploy(health=None, logs=()), "v", 60))[0] == "baseline"
    short = _names(deploy_steps(config, "v1.2", 0.5))  # half a second still watches
    assert (short[0], short[-1]) == ("baseline", "watch")
    assert _names(deploy_steps(_deploy(health=None, units=()), "v", 60))[0] == "baseline"


def _context(tmp_path: Path, timeout: float = 5.0) -> tuple[PlanContext, StepOutput, Step]:
    step = Step("command", "run it")
    ctx = PlanContext(_deploy(str(tmp_path), command_timeout=timeout), {}, tmp_path, "abc")
    return ctx, StepOutput(step, lambda: None), step


async def test_after_checkout_command_runs_in_the_repo_and_keeps_its_output(
        tmp_path: Path) -> None:
    ctx, out, step = _context(tmp_path)
    await run_command(ctx, out, (sys.executable, "-c",
                                 "import os; print(os.getcwd()); print('two\\x1b[2J')"))
    assert step.output == [str(tmp_path), "two\\x1b[2J"]  # shown, never interpreted


async def test_a_failing_or_hanging_command_stops_the_plan(tmp_path: Path) -> None:
    ctx, out, step = _context(tmp_path, timeout=1.0)
    with pytest.raises(ActionFailed, match=r"exited with status 4$"):
        await run_command(ctx, out, (sys.executable, "-c", "print('nope'); raise SystemExit(4)"))
    assert step.output == ["nope"]
    with pytest.raises(ActionFailed, match="did not finish within 1s and was killed"):
        await run_command(ctx, out, (sys.executable, "-c", "import time; time.sleep(60)"))
    with pytest.raises(ActionFailed, match="cannot run /nonexistent/tool: No such file"):
        await run_command(ctx, out, ("/nonexistent/tool",))


async def test_after_checkout_runs_as_the_apps_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        require_service("root", "switching to the app's user needs root")
    nobody = pwd.getpwnam("nobody")
    step = Step("command", "run id")
    ctx = PlanContext(dataclasses.replace(_deploy("/"), user="nobody"), {}, tmp_path, "abc")
    await run_command(ctx, StepOutput(step, lambda: None), ("sh", "-c", "id -u; echo $HOME"))
    assert step.output == [str(nobody.pw_uid), nobody.pw_dir]
