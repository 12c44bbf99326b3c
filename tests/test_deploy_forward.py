"""Deploy forward with a watch: a git remote, real units in systemd, a real HTTP health endpoint."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backends.deploy.plans import PlanStore
from console.core.audit import AuditLog
from tests.conftest import OPSCONSOLE
from tests.support.http_server import body_server
from tests.test_deploy import git


def commit(repo: Path, health: dict[str, Any], message: str) -> str:
    (repo / "health.json").write_text(json.dumps(health))
    (repo / "RELEASE").write_text(message + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@dataclass
class Remote:
    app: Path  # the deployed working tree, a clone of origin
    current: str  # deployed now
    good: str  # a new release on the remote only
    decaying: str  # a new release, healthy at first, failing a few seconds later
    tagged: str  # the tag naming `good` on the remote


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True,
                   timeout=30)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(origin), str(seed)], check=True, timeout=30,
                   capture_output=True)
    for repo in (seed,):
        git(repo, "config", "user.email", "deploy@example.com")
        git(repo, "config", "user.name", "Deployer")
    current = commit(seed, {"status": "ok"}, "first release")
    git(seed, "push", "-q", "origin", "main")
    app = tmp_path / "app"
    subprocess.run(["git", "clone", "-q", str(origin), str(app)], check=True, timeout=30,
                   capture_output=True)
    good = commit(seed, {"status": "ok"}, "second release")
    git(seed, "tag", "v2")
    decaying = commit(seed, {"status": "ok", "fail_after": 3}, "third release: leaks")
    git(seed, "push", "-q", "--tags", "origin", "main")
    return Remote(app, current, good, decaying, "v2")


@pytest.fixture
def health(remote: Remote) -> Iterator[str]:
    """Serves the checkout's health.json as the app would; a release with `fail_after` answers
    ok at first and "broken" from that many seconds after it was first asked."""
    first_seen: dict[str, float] = {}

    def health() -> bytes:
        raw = (remote.app / "health.json").read_bytes()
        data = json.loads(raw)
        seen = first_seen.setdefault(hashlib.sha256(raw).hexdigest(), time.monotonic())
        if "fail_after" in data and time.monotonic() - seen >= data["fail_after"]:
            data["status"] = "broken"
        return json.dumps(data).encode()

    with body_server(health) as url:
        yield f"{url}/health"


@pytest.fixture
def units(systemd_machine: Any) -> Iterator[tuple[str, str]]:
    """An app unit that is restarted and a proxy unit that is reloaded."""
    tag = uuid.uuid4().hex[:8]
    app, proxy = f"deployfwd-app-{tag}.service", f"deployfwd-proxy-{tag}.service"
    systemd_machine.add_unit(app, "[Service]\nExecStart=/bin/sleep infinity\n")
    systemd_machine.add_unit(proxy, "[Service]\nExecStart=/bin/sleep infinity\n"
                                    "ExecReload=/bin/true\n")
    systemd_machine.daemon_reload()
    systemd_machine.systemctl("start", app, proxy)
    yield app, proxy
    systemd_machine.systemctl("stop", app, proxy, check=False)
    for name in (app, proxy):
        (systemd_machine.units_dir / name).unlink(missing_ok=True)
    systemd_machine.daemon_reload()


@pytest.fixture
def config(write_config: Callable[[str], Path], remote: Remote, health: str,
           units: tuple[str, str], systemd_machine: Any, tmp_path: Path) -> Path:
    app_unit, proxy = units
    errors = tmp_path / "app-error.log"
    errors.write_text("")
    return write_config(f"""
[[systemd]]
units = ["deployfwd-*.service"]
bus = "{systemd_machine.bus_address}"

[[http]]
name = "app"
url = "{health}"
expect_json = {{ status = "ok" }}
timeout = 2

[[logs]]
name = "app-errors"
path = "{errors}"
error_pattern = "ERROR|Traceback"

[[deploy]]
name = "app"
repo = "{remote.app}"
units = ["{app_unit}"]
reload = ["{proxy}"]
after_checkout = [["git", "log", "-1", "--format=%s"]]
health = "app"
health_timeout = 15
logs = ["app-errors"]
watch = "30m"
""")


def deploy(config: Path, env: dict[str, str], *args: str,
           timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", "deploy", "deploy:app", "--config",
                           str(config), *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def main_pid(machine: Any, unit: str) -> str:
    return machine.systemctl("show", "-p", "MainPID", "--value", unit).stdout.strip()


def test_deploy_forward_from_the_remote_passes_its_watch(
        config: Path, remote: Remote, cli_env: dict[str, str], state_dir: Path,
        systemd_machine: Any, units: tuple[str, str]) -> None:
    app_unit, proxy = units
    before_app, before_proxy = main_pid(systemd_machine, app_unit), main_pid(systemd_machine,
                                                                              proxy)
    result = deploy(config, cli_env, "--to", remote.tagged, "--watch", "4s", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"app is at {remote.good[:10]}: deployed, every step passed and no regression " \
           "in its 4s watch" in result.stdout
    assert git(remote.app, "rev-parse", "HEAD") == remote.good  # only on the remote before
    assert main_pid(systemd_machine, app_unit) != before_app  # restarted
    assert main_pid(systemd_machine, proxy) == before_proxy  # reloaded, not restarted
    plan = PlanStore(state_dir).recent("app")[0]
    assert (plan.kind, plan.state, plan.to_rev) == ("deploy", "ok", remote.good)
    assert [s.name for s in plan.steps] == ["baseline", "fetch", "clean", "checkout", "command",
                                            "restart", "reload", "health", "watch"]
    watch_lines = plan.steps[-1].output
    assert "app-errors 0.00 errors/min (before 0.00)" in watch_lines[0]
    assert "restarts 0" in watch_lines[0] and "health OK" in watch_lines[0]
    assert watch_lines[-1] == "no regression in 4s"
    steps = [r for r in AuditLog(state_dir).records() if r.phase == "step"]
    assert {r.verb for r in steps} == {"deploy"} and len(steps) == 9
    assert all(r.outcome == "ok" for r in steps)
    status = subprocess.run([*OPSCONSOLE, "--headless", "status", "--config", str(config)],
                            capture_output=True, text=True, env=cli_env, timeout=60, check=False)
    assert f"deploy:app: at {remote.good[:10]} 'second release'" in status.stdout
    assert f"previous {remote.current[:10]}" in status.stdout


def test_regression_in_the_watch_rolls_back_by_itself(
        config: Path, remote: Remote, cli_env: dict[str, str], state_dir: Path,
        systemd_machine: Any, units: tuple[str, str]) -> None:
    result = deploy(config, cli_env, "--to", remote.decaying, "--watch", "60s",
                    "--auto-rollback", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "regression during the watch: app failed its health check 2 times in a row" \
        in result.stderr
    assert f"rolled back automatically: app is at {remote.current[:10]} again" in result.stderr
    assert git(remote.app, "rev-parse", "HEAD") == remote.current
    deployed, back = PlanStore(state_dir).recent("app")[1], PlanStore(state_dir).recent("app")[0]
    assert (deployed.kind, deployed.state, deployed.next_plan) == ("deploy", "failed", back.id)
    assert deployed.steps[-1].name == "watch" and deployed.steps[-1].state == "failed"
    assert (back.kind, back.state, back.to_rev) == ("rollback", "ok", remote.current)
    records = AuditLog(state_dir).records()
    deploy_steps = [r for r in records if r.verb == "deploy" and r.phase == "step"]
    assert deploy_steps[-1].outcome == "failed" and "regression" in deploy_steps[-1].error
    rollback_records = [r for r in records if r.verb == "rollback"]
    assert [r.phase for r in rollback_records] == ["started", "step", "step", "step", "step",
                                                   "step", "finished"]
    assert json.loads(rollback_records[0].params)["after"] == deployed.id
    assert AuditLog(state_dir).verify().ok
    assert systemd_machine.systemctl("is-active", units[0], check=False).stdout.strip() \
        == "active"


def test_dry_run_shows_the_plan_and_changes_nothing(
        config: Path, remote: Remote, cli_env: dict[str, str], state_dir: Path) -> None:
    result = deploy(config, cli_env, "--to", remote.tagged, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run, nothing changed" in result.stdout
    for line in ("1. measure before the deploy", "2. git fetch, then find release v2",
                 "3. refuse to go on if", "6. restart in order deployfwd-app-",
                 "7. reload deployfwd-proxy-", "9. watch for 30m: health of app",
                 "v2 is not in the repository yet: the fetch must find it"):
        assert line in result.stdout, line
    assert git(remote.app, "rev-parse", "HEAD") == remote.current
    missing = subprocess.run(["git", "-C", str(remote.app), "cat-file", "-e", remote.good],
                             capture_output=True, timeout=30, check=False)
    assert missing.returncode != 0  # not even fetched
    assert PlanStore(state_dir).recent("app") == []


def test_dirty_tree_is_refused(config: Path, remote: Remote, cli_env: dict[str, str],
                               state_dir: Path) -> None:
    (remote.app / "RELEASE").write_text("edited by hand on the server\n")
    result = deploy(config, cli_env, "--to", remote.tagged, "--yes")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "has uncommitted changes: commit or stash them before deploying app" in result.stderr
    assert git(remote.app, "rev-parse", "HEAD") == remote.current
    assert PlanStore(state_dir).recent("app") == []


def test_unknown_revision_is_a_clear_error(config: Path, remote: Remote,
                                           cli_env: dict[str, str], state_dir: Path,
                                           systemd_machine: Any,
                                           units: tuple[str, str]) -> None:
    before = main_pid(systemd_machine, units[0])
    result = deploy(config, cli_env, "--to", "v9.9", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "unknown revision 'v9.9': not a commit, tag or branch" in result.stderr
    assert "nothing was changed" in result.stderr
    assert git(remote.app, "rev-parse", "HEAD") == remote.current
    assert main_pid(systemd_machine, units[0]) == before
    bad = deploy(config, cli_env, "--to", "v2;rm -rf /", "--yes")
    assert bad.returncode == 1 and "is not a revision name" in bad.stderr
    missing = deploy(config, cli_env)
    assert missing.returncode == 2 and "--to" in missing.stderr


def test_deploy_key_asks_for_the_release_and_shows_the_whole_plan(
        config: Path, remote: Remote, state_dir: Path) -> None:
    import asyncio

    from console.config import load_config
    from screens.app import OpsConsoleApp
    from screens.confirm import ConfirmScreen
    from screens.release import ReleaseScreen

    async def scenario() -> None:
        app = OpsConsoleApp(load_config(str(config)))
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("9")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                await pilot.pause(0.1)
                summary = str(getattr(app.screen.query_one("#summary").render(), "plain", ""))
                if "first release" in summary:
                    break
            await pilot.press("D")
            await pilot.pause(0.2)
            assert isinstance(app.screen, ReleaseScreen)
            await pilot.press(*"v2;x", "enter")
            await pilot.pause(0.2)
            assert isinstance(app.screen, ReleaseScreen)  # not a revision name: asked again
            for _ in range(4):
                await pilot.press("backspace")
            await pilot.press("v", "2", "enter")
            await pilot.pause(0.3)
            assert isinstance(app.screen, ConfirmScreen)
            spec = app.screen.spec
            assert spec.verb == "deploy" and spec.type_to_confirm == "app"
            for step in ("(1) measure before the deploy", "(2) git fetch", "(4) check out v2",
                         "(6) restart in order", "(7) reload", "(8) wait until app is healthy",
                         "(9) watch for 30m", "the rollback to"):
                assert step in spec.effect, step
            await pilot.press("escape")
            await pilot.pause(0.2)
        assert git(remote.app, "rev-parse", "HEAD") == remote.current
        assert PlanStore(state_dir).recent("app") == []

    asyncio.run(scenario())


def test_errors_in_the_logs_during_the_watch_are_a_regression_with_the_rollback_offered(
        config: Path, remote: Remote, cli_env: dict[str, str], state_dir: Path,
        tmp_path: Path) -> None:
    store = PlanStore(state_dir)
    stop = threading.Event()

    def app_starts_failing() -> None:
        """Once the watch has polled, the new release logs errors, as a broken one would."""
        while not stop.is_set():
            plans = store.recent("app")
            if plans and plans[0].steps[-1].state == "running" and plans[0].steps[-1].output:
                with open(tmp_path / "app-error.log", "a") as log:
                    for n in range(5):
                        log.write(f"ERROR request {n} failed: KeyError 'price'\n")
                return
            stop.wait(0.1)

    writer = threading.Thread(target=app_starts_failing, daemon=True)
    writer.start()
    try:
        result = deploy(config, cli_env, "--to", remote.good, "--watch", "60s", "--yes")
    finally:
        stop.set()
        writer.join(10)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "regression during the watch: app-errors logs 5.00 errors/min, before the deploy " \
           "0.00/min" in result.stderr
    assert f"to go back: opsconsole --headless rollback deploy:app --to {remote.current[:10]}" \
        in result.stderr
    assert git(remote.app, "rev-parse", "HEAD") == remote.good  # offered, not done
    plan = store.recent("app")[0]
    assert (plan.kind, plan.state, plan.next_plan) == ("deploy", "failed", "")
    check = subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", str(config), "--only",
                            "deploy:app"], capture_output=True, text=True, env=cli_env,
                           timeout=60, check=False)
    assert check.returncode == 1
    assert "deploy failed: step 9 (watch" in check.stdout
    assert f"roll back to {remote.current[:10]}" in check.stdout


def test_deploy_view_offers_the_rollback_of_a_deploy_that_failed(
        config: Path, remote: Remote, state_dir: Path) -> None:
    import asyncio

    from backends.deploy.plans import Step
    from console.config import load_config
    from screens.app import OpsConsoleApp
    from screens.confirm import ConfirmScreen

    git(remote.app, "fetch", "-q")
    git(remote.app, "checkout", "-q", "--detach", remote.good)
    store = PlanStore(state_dir)
    plan = store.create("app", "alice", remote.current, remote.good,
                        [Step("checkout", "check out", "ok"), Step("watch", "watch", "failed")],
                        kind="deploy", options={"watch": 60})
    plan.state, plan.error, plan.finished = "failed", "step 2 (watch): regression", time.time()
    store.save(plan)

    async def scenario() -> None:
        app = OpsConsoleApp(load_config(str(config)))
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("9")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not isinstance(app.screen, ConfirmScreen):
                await pilot.pause(0.1)
            assert isinstance(app.screen, ConfirmScreen)
            assert app.screen.spec.verb == "rollback"
            assert app.screen.spec.params["to"] == remote.current
            await pilot.press("escape")
            await pilot.pause(0.2)
            history = app.screen.query_one("#history")
            assert history.row_count == 1  # type: ignore[attr-defined]
        assert git(remote.app, "rev-parse", "HEAD") == remote.good  # offered, not done

    asyncio.run(scenario())
