"""Deploy rollback against a real git repository, real units in systemd, real HTTP health."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def commit(repo: Path, status: str, message: str, extra: dict[str, str] | None = None) -> str:
    (repo / "health.json").write_text(json.dumps({"status": status}))
    (repo / "RELEASE").write_text(message + "\n")
    for name, text in (extra or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@dataclass
class Release:
    repo: Path
    good: str
    previous: str
    broken: str


@pytest.fixture
def release(tmp_path: Path) -> Release:
    """Three commits; the newest (the one deployed now) breaks the health endpoint."""
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "deploy@example.com")
    git(repo, "config", "user.name", "Deployer")
    good = commit(repo, "ok", "first release")
    previous = commit(repo, "ok", "second release")
    broken = commit(repo, "broken", "third release: breaks health",
                    {"app/migrations/0003_drop_column.py": "# drops a column\n"})
    return Release(repo, good, previous, broken)


@pytest.fixture
def health_from_checkout(release: Release) -> Iterator[str]:
    """An HTTP health endpoint that serves the checkout's health.json, as the app would."""
    with body_server(lambda: (release.repo / "health.json").read_bytes()) as url:
        yield f"{url}/health"


@pytest.fixture
def app_unit(systemd_machine: Any) -> Iterator[str]:
    name = f"deploy-test-{uuid.uuid4().hex[:8]}.service"
    systemd_machine.add_unit(name, "[Service]\nExecStart=/bin/sleep infinity\n")
    systemd_machine.daemon_reload()
    systemd_machine.systemctl("start", name)
    yield name
    systemd_machine.systemctl("stop", name, check=False)
    (systemd_machine.units_dir / name).unlink(missing_ok=True)
    systemd_machine.daemon_reload()


def unit_state(machine: Any, unit: str) -> str:
    return machine.systemctl("is-active", unit, check=False).stdout.strip()


@pytest.fixture
def deploy_config(write_config: Callable[[str], Path], release: Release, health_from_checkout: str,
                  app_unit: str, systemd_machine: Any) -> Callable[..., Path]:
    def make(after_checkout: str = '[["git", "log", "-1", "--format=%s"]]') -> Path:
        return write_config(f"""
[[systemd]]
units = ["deploy-test-*.service"]
bus = "{systemd_machine.bus_address}"

[[http]]
name = "app"
url = "{health_from_checkout}"
expect_json = {{ status = "ok" }}
timeout = 2

[[deploy]]
name = "app"
repo = "{release.repo}"
units = ["{app_unit}"]
after_checkout = {after_checkout}
health = "app"
health_timeout = 15
""")
    return make


def rollback(config: Path, env: dict[str, str], *args: str, timeout: float = 120,
             relative: bool = False) -> subprocess.CompletedProcess[str]:
    """`rollback deploy:app`; with `relative`, run beside the config and name it relatively
    (the detached runner starts elsewhere, so the path must be resolved before it)."""
    given = config.name if relative else str(config)
    return subprocess.run([*OPSCONSOLE, "--headless", "rollback", "deploy:app", "--config",
                           given, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False, cwd=config.parent if relative else None)


def check(config: Path, env: dict[str, str], target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", str(config),
                           "--only", target], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_rollback_restores_health_and_audits_every_step(
        deploy_config: Callable[..., Path], release: Release, cli_env: dict[str, str],
        state_dir: Path, systemd_machine: Any, app_unit: str) -> None:
    config = deploy_config()
    assert check(config, cli_env, "http:app").returncode == 2  # broken now
    result = rollback(config, cli_env, "--yes", relative=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"app is at {release.previous[:10]}: every step passed" in result.stdout
    assert git(release.repo, "rev-parse", "HEAD") == release.previous
    assert check(config, cli_env, "http:app").returncode == 0
    assert unit_state(systemd_machine, app_unit) == "active"
    records = AuditLog(state_dir).records()
    steps = [r for r in records if r.phase == "step"]
    assert [json.loads(r.params)["step"].split()[0] for r in steps] == [
        "stop", "check", "run", "start", "wait"]
    assert all(r.outcome == "ok" for r in steps)
    assert [r.phase for r in records if r.phase != "step"] == ["started", "finished"]
    assert AuditLog(state_dir).verify().ok


def test_failing_command_stops_the_plan(deploy_config: Callable[..., Path], release: Release,
                                        cli_env: dict[str, str], state_dir: Path,
                                        systemd_machine: Any, app_unit: str) -> None:
    config = deploy_config('[["sh", "-c", "echo cannot install; exit 4"]]')
    result = rollback(config, cli_env, "--yes")
    assert result.returncode == 1
    assert "exited with status 4" in result.stderr
    assert f"roll forward to {release.broken[:10]}" in result.stderr
    plan = PlanStore(state_dir).recent("app")[0]
    assert [s.state for s in plan.steps] == ["ok", "ok", "failed", "skipped", "skipped"]
    assert "cannot install" in "\n".join(plan.steps[2].output)
    assert unit_state(systemd_machine, app_unit) != "active"  # start never ran


def test_roll_forward_after_a_rollback_returns_to_the_rolled_back_release(
        deploy_config: Callable[..., Path], release: Release, cli_env: dict[str, str],
        state_dir: Path, systemd_machine: Any, app_unit: str) -> None:
    config = deploy_config()
    planned = rollback(config, cli_env, "--dry-run")
    # the migration that came with the release is named before anything is confirmed
    assert "migration file(s) changed" in planned.stdout + planned.stderr
    assert "schema is NOT rolled back" in planned.stdout + planned.stderr
    assert rollback(config, cli_env, "--yes").returncode == 0
    assert git(release.repo, "rev-parse", "HEAD") == release.previous
    forward = subprocess.run([*OPSCONSOLE, "--headless", "roll-forward", "deploy:app",
                              "--config", str(config), "--yes"], capture_output=True,
                             text=True, env=cli_env, timeout=120, check=False)
    # The release rolled back to is the broken one: it is checked out and started again,
    # and the health wait says, truthfully, that it is still broken.
    assert forward.returncode == 1, forward.stdout + forward.stderr
    assert "not healthy" in forward.stderr
    assert git(release.repo, "rev-parse", "HEAD") == release.broken
    verbs = [r.verb for r in AuditLog(state_dir).records() if r.phase == "started"]
    assert verbs == ["rollback", "roll-forward"]


def test_dry_run_changes_nothing(deploy_config: Callable[..., Path], release: Release,
                                 cli_env: dict[str, str], state_dir: Path,
                                 systemd_machine: Any, app_unit: str) -> None:
    result = rollback(deploy_config(), cli_env, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run, nothing changed" in result.stdout
    assert "1. stop" in result.stdout and "5. wait until app is healthy" in result.stdout
    assert git(release.repo, "rev-parse", "HEAD") == release.broken
    assert unit_state(systemd_machine, app_unit) == "active"
    assert PlanStore(state_dir).recent("app") == []


def test_plan_survives_the_console_and_a_second_rollback_is_refused(
        deploy_config: Callable[..., Path], release: Release, cli_env: dict[str, str],
        state_dir: Path) -> None:
    config = deploy_config('[["sleep", "4"]]')
    first = subprocess.Popen([*OPSCONSOLE, "--headless", "rollback", "deploy:app", "--config",
                              str(config), "--yes"], env=cli_env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    store = PlanStore(state_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        plans = store.recent("app")
        if plans and any(s.name == "command" and s.state == "running" for s in plans[0].steps):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the plan never reached its command step")
    second = rollback(config, cli_env, "--yes", timeout=60)
    assert second.returncode == 3
    assert "locked by" in second.stderr or "already running" in second.stderr
    os.killpg(first.pid, signal.SIGKILL)  # the console dies (SSH drop) mid-plan
    first.wait(10)
    # Now the console is gone, its lock too: a new console is refused by the runner's lock.
    third = rollback(config, cli_env, "--yes", timeout=60)
    assert third.returncode == 3 and "already running" in third.stderr
    while time.monotonic() < deadline + 60:
        plan = store.recent("app")[0]
        if plan.done:
            break
        time.sleep(0.2)
    assert plan.state == "ok", plan.error
    assert git(release.repo, "rev-parse", "HEAD") == release.previous
    status = subprocess.run([*OPSCONSOLE, "--headless", "status", "--config", str(config)],
                            capture_output=True, text=True, env=cli_env, timeout=60, check=False)
    assert f"deploy:app: at {release.previous[:10]} 'second release'" in status.stdout


def test_unknown_revision_is_a_clear_error(deploy_config: Callable[..., Path],
                                           cli_env: dict[str, str]) -> None:
    result = rollback(deploy_config(), cli_env, "--to", "no-such-tag", "--yes")
    assert result.returncode == 1
    assert "git log in" in result.stderr and "no-such-tag" in result.stderr
    bad = rollback(deploy_config(), cli_env, "--to", "HEAD;rm -rf /", "--yes")
    assert bad.returncode == 1 and "is not a revision name" in bad.stderr


def test_deploy_view_shows_release_changes_and_migrations(
        deploy_config: Callable[..., Path], release: Release) -> None:
    from console.config import load_config
    from screens.app import OpsConsoleApp

    async def scenario() -> None:
        app = OpsConsoleApp(load_config(str(deploy_config())))
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("9")
            deadline = time.monotonic() + 20
            summary = ""
            while time.monotonic() < deadline:
                await pilot.pause(0.1)
                summary = str(getattr(app.screen.query_one("#summary").render(), "plain", ""))
                if "third release" in summary:
                    break
            assert release.broken[:10] in summary
            assert "previous release " + release.previous[:10] in summary
            assert "app/migrations/0003_drop_column.py" in summary
            changes = app.screen.query_one("#changes")
            assert changes.row_count == 1  # type: ignore[attr-defined]

    import asyncio
    asyncio.run(scenario())


del sys


def test_restore_path_brings_back_a_dropped_column(
        tmp_path: Path, write_config: Callable[[str], Path], cli_env: dict[str, str],
        shared_pg_dsn: str) -> None:
    import psycopg

    from tests.test_postgres_support import admin_dsn, create_database, drop_databases

    name = create_database(shared_pg_dsn, prefix="opsc_deploy")
    dsn = admin_dsn(shared_pg_dsn, name)
    try:
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute("CREATE TABLE items (id int PRIMARY KEY, name text, price int)")
            db.execute("INSERT INTO items SELECT g, 'item ' || g, g * 10 "
                       "FROM generate_series(1, 500) g")
        repo = tmp_path / "app"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "config", "user.email", "deploy@example.com")
        git(repo, "config", "user.name", "Deployer")
        commit(repo, "ok", "first release")
        previous = commit(repo, "ok", "second release")
        config = write_config(f"""
[[postgres]]
name = "db"
dsn = "{dsn}"
backup = {{ dir = "{tmp_path / 'backups'}", keep_days = 30 }}

[[deploy]]
name = "app"
repo = "{repo}"
database = "db"
""")
        env = cli_env
        taken = subprocess.run([*OPSCONSOLE, "--headless", "backup", "postgres:db", "--yes",
                                "--config", str(config)], capture_output=True, text=True,
                               env=env, timeout=120, check=False)
        assert taken.returncode == 0, taken.stderr
        time.sleep(1.2)  # the deploy happens strictly after the nightly backup
        commit(repo, "ok", "third release: drops items.price",
               {"app/migrations/0003_drop_price.py": "# ALTER TABLE items DROP COLUMN price\n"})
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute("ALTER TABLE items DROP COLUMN price")
        time.sleep(1.2)
        back = rollback(config, env, "--yes")
        assert back.returncode == 0, back.stdout + back.stderr
        assert git(repo, "rev-parse", "HEAD") == previous
        # The code is back; the column is still gone until the database is restored.
        restored = subprocess.run([*OPSCONSOLE, "--headless", "restore", "deploy:app", "--yes",
                                   "--config", str(config)], capture_output=True, text=True,
                                  env=env, timeout=180, check=False)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "rows proven against the manifest" in restored.stdout
        with psycopg.connect(dsn) as db:
            total = db.execute("SELECT count(*), sum(price) FROM items").fetchone()
        assert total == (500, sum(g * 10 for g in range(1, 501)))
    finally:
        drop_databases(shared_pg_dsn, name)
