"""The runner carries a plan's steps out in order and records each: a failed step stops the
plan, later steps are skipped, the audit names the step; a deploy that fails after its
checkout rolls itself back to the release it replaced. A real git repo, real commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.deploy.config import DeployConfig
from backends.deploy.plans import PlanStore, Step
from backends.deploy.runner import execute, run_lock_key, run_plan
from backends.deploy.steps import PlanContext
from console import deploy_runner
from console.core.audit import AuditLog
from console.core.identity import Identity
from console.core.locks import TargetLock

WHO = Identity(user="alice", tty="pts/1", client="10.0.0.9")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, timeout=30).stdout.strip()


def _repo(tmp_path: Path) -> tuple[Path, str, str]:
    """A repo whose first release has the file `good` and whose second does not."""
    repo = tmp_path / "app"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.invalid")
    _git(repo, "config", "user.name", "t")
    (repo / "good").write_text("1\n")
    _git(repo, "add", "good")
    _git(repo, "commit", "-qm", "release 1")
    first = _git(repo, "rev-parse", "HEAD")
    _git(repo, "rm", "-q", "good")
    _git(repo, "commit", "-qm", "release 2")
    second = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", first)
    return repo, first, second


def _deploy(repo: Path, commands: tuple[tuple[str, ...], ...]) -> DeployConfig:
    return DeployConfig(name="app", repo=str(repo), units=(), after_checkout=commands,
                        database=None, health=None, health_timeout=5.0, command_timeout=10.0,
                        bus=None)


async def test_steps_run_in_order_and_a_failure_skips_the_rest(tmp_path: Path,
                                                               state_dir: Path) -> None:
    trail = tmp_path / "trail"
    store, audit = PlanStore(state_dir), AuditLog(state_dir)
    steps = [Step("command", f"run step {n}") for n in range(1, 5)]
    plan = store.create("app", "alice", "aaa", "bbb", steps)
    follower = (f"import os; from pathlib import Path; from backends.deploy.plans import PlanStore; "
                f"p = PlanStore(Path({str(state_dir)!r})).get({plan.id!r}); "
                "print(p.state, p.pid == os.getppid(), *[s.state for s in p.steps])")
    commands = (("sh", "-c", f"echo one >> {trail}"), (sys.executable, "-c", follower),
                ("sh", "-c", "echo broken; exit 3"), ("sh", "-c", f"echo four >> {trail}"))
    deploy = _deploy(tmp_path, commands)
    await execute(plan, PlanContext(deploy, {}, state_dir, "bbb"), store, audit, WHO)
    assert trail.read_text() == "one\n"
    saved = store.get(plan.id)
    # what any console following the plan saw while step 2 ran
    assert saved is not None and saved.steps[1].output == ["running True ok running pending pending"]
    assert saved is not None and saved.state == "failed"
    assert [s.state for s in saved.steps] == ["ok", "ok", "failed", "skipped"]
    assert saved.error == "step 3 (run step 3): sh -c echo broken; exit 3 exited with status 3"
    assert saved.steps[2].output == ["broken", "FAILED: sh -c echo broken; exit 3 exited with "
                                     "status 3"]
    assert all(s.finished and s.started and s.finished >= s.started for s in saved.steps[:3])
    records = [(r.phase, json.loads(r.params)["step"], r.outcome) for r in audit.records()]
    assert records == [("step", "run step 1", "ok"), ("step", "run step 2", "ok"),
                       ("step", "run step 3", "failed")]


async def test_a_deploy_failing_after_checkout_rolls_back_to_the_release_it_replaced(
        tmp_path: Path, state_dir: Path) -> None:
    repo, first, second = _repo(tmp_path)
    deploy = _deploy(repo, (("test", "-f", "good"),))  # release 2 fails its command
    store, audit = PlanStore(state_dir), AuditLog(state_dir)
    steps = [Step("checkout", "check out release 2"), Step("command", "run test -f good")]
    plan = store.create("app", "alice", first, second, steps, kind="deploy",
                        options={"auto_rollback": True})
    await run_plan(plan, PlanContext(deploy, {}, state_dir, second), store, audit, WHO)
    failed = store.get(plan.id)
    assert failed is not None and failed.state == "failed" and failed.next_plan
    back = store.get(failed.next_plan)
    assert back is not None and (back.kind, back.state) == ("rollback", "ok")
    assert (back.from_rev, back.to_rev, back.options) == (second, first, {"after": plan.id})
    assert [s.name for s in back.steps] == ["checkout", "command"]
    assert _git(repo, "rev-parse", "HEAD") == first
    phases = [(r.phase, r.action_id) for r in audit.records() if r.phase != "step"]
    assert phases == [("started", back.id), ("finished", back.id)]


async def test_no_rollback_when_nothing_was_checked_out_or_none_was_asked(
        tmp_path: Path, state_dir: Path) -> None:
    repo, first, second = _repo(tmp_path)
    store, audit = PlanStore(state_dir), AuditLog(state_dir)
    failing = _deploy(repo, (("false",),))
    early = store.create("app", "alice", first, second,
                         [Step("command", "run false"), Step("checkout", "check out")],
                         kind="deploy", options={"auto_rollback": True})
    await run_plan(early, PlanContext(failing, {}, state_dir, second), store, audit, WHO)
    unasked = store.create("app", "alice", first, second,
                           [Step("checkout", "check out"), Step("command", "run false")],
                           kind="deploy", options={})
    await run_plan(unasked, PlanContext(failing, {}, state_dir, second), store, audit, WHO)
    for plan in (early, unasked):
        saved = store.get(plan.id)
        assert saved is not None and saved.state == "failed" and saved.next_plan == ""
    assert _git(repo, "rev-parse", "HEAD") == second  # the second plan checked it out
    assert len(store.recent("app")) == 2


def _runner(config: Path, state_dir: Path, plan_id: str) -> int:
    return deploy_runner.main(["--config", str(config), "--state-dir", str(state_dir),
                               "--plan", plan_id])


def test_the_detached_runner_always_leaves_the_plan_final(
        tmp_path: Path, state_dir: Path, write_config: Callable[..., Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    repo, first, second = _repo(tmp_path)
    config = write_config(f"[[deploy]]\nname = 'app'\nrepo = '{repo}'\n"
                          "after_checkout = [['test', '-f', 'good']]\n")
    store = PlanStore(state_dir)
    assert _runner(config, state_dir, "nope") == 2
    assert f"no plan nope in {state_dir}" in capsys.readouterr().err

    good = store.create("app", "alice", second, first,
                        [Step("checkout", "check out"), Step("command", "run test")])
    assert _runner(config, state_dir, good.id) == 0
    saved = store.get(good.id)
    assert saved is not None and saved.state == "ok" and _git(repo, "rev-parse", "HEAD") == first

    bad = store.create("app", "alice", first, second,
                       [Step("checkout", "check out"), Step("command", "run test")])
    assert _runner(config, state_dir, bad.id) == 1
    saved = store.get(bad.id)
    assert saved is not None and saved.state == "failed" and "exited with status 1" in saved.error

    held = TargetLock(state_dir / "locks", run_lock_key("app"), WHO, "deploy")
    held.acquire()
    try:
        busy = store.create("app", "alice", second, first, [Step("checkout", "check out")])
        assert _runner(config, state_dir, busy.id) == 3
    finally:
        held.release()
    saved = store.get(busy.id)
    assert saved is not None and saved.state == "failed" and saved.finished
    assert "alice" in saved.error and _git(repo, "rev-parse", "HEAD") == second

    other = store.create("gone", "alice", second, first, [Step("checkout", "check out")])
    assert _runner(config, state_dir, other.id) == 1
    saved = store.get(other.id)
    assert saved is not None and saved.state == "failed" and saved.finished


@pytest.mark.parametrize("missing", ["--config", "--state-dir", "--plan"])
def test_the_runner_needs_each_of_its_arguments(missing: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    given = {"--config": str(tmp_path / "c.toml"), "--state-dir": str(tmp_path), "--plan": "x"}
    argv = [part for flag, value in given.items() if flag != missing for part in (flag, value)]
    with pytest.raises(SystemExit) as ended:
        deploy_runner.main(argv)
    assert ended.value.code == 2
    assert f"the following arguments are required: {missing}" in capsys.readouterr().err


def test_the_runner_process_exits_with_its_verdict(tmp_path: Path, state_dir: Path,
                                                   cli_env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "console.deploy_runner", "--config",
                           str(tmp_path / "c.toml"), "--state-dir", str(state_dir), "--plan",
                           "nope"], env=cli_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"no plan nope in {state_dir}" in done.stderr
