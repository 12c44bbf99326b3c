"""Registered tasks, `inspect stats` per worker, and calling a registered task by name, against a
real worker (console.sandbox.celeryapp) with a real Redis broker and result backend."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.celery.backend import CeleryBackend
from console.core.audit import AuditLog
from console.sandbox.celery_worker import CeleryWorker
from console.sandbox.redis_server import RedisServer
from tests import test_celery_backend
from tests.conftest import OPSCONSOLE
from tests.test_celery_backend import backend_for, config_text, running_worker

redis_server = test_celery_backend.redis_server  # the same module-scoped fixture


@pytest.fixture(scope="module")
def worker(redis_server: RedisServer) -> Iterator[CeleryWorker]:
    yield from running_worker(redis_server, "call", queues=("celery", "slow"))


def call(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", "call", "celery:app", *args,
                           "--config", str(config)], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)


async def test_workers_list_registered_tasks_and_stats(worker: CeleryWorker,
                                                       redis_server: RedisServer,
                                                       state_dir: Path) -> None:
    backend = backend_for(config_text(redis_server, extra="expect_workers = 1"), state_dir)
    assert isinstance(backend, CeleryBackend)
    try:
        snapshot = await backend.collect()
    finally:
        await backend.close()
    online = snapshot.online
    assert len(online) == 1, snapshot.workers
    one = online[0]
    assert {"testbed.add", "testbed.fail", "testbed.echo", "testbed.sleep"} <= set(one.registered)
    assert set(one.queues) == {"celery", "slow"}
    stats = dict(one.stats)
    assert stats["pool.max-concurrency"] == "2"
    assert "prefetch_count" in stats and "rusage.utime" in stats and "rusage.maxrss" in stats


def test_call_a_registered_task_and_follow_it(worker: CeleryWorker, redis_server: RedisServer,
                                              write_config: Callable[..., Path],
                                              cli_env: dict[str, str], state_dir: Path) -> None:
    config = write_config(config_text(redis_server))
    marker = uuid.uuid4().hex
    done = call(config, cli_env, "testbed.echo", "--args", f'[1, "{marker}"]',
                "--kwargs", '{"k": [true, null]}', "--queue", "slow", "--wait", "60", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    sent = next(line for line in lines if line.startswith("  sent testbed.echo: task id "))
    task_id = sent.rsplit(" ", 1)[1]
    assert f"  task {task_id}: SUCCESS" in lines
    assert lines[-1].startswith(f"task {task_id} (testbed.echo): SUCCESS after ")
    result = json.loads(lines[-1].split(", result ", 1)[1])
    assert result == {"args": [1, marker], "kwargs": {"k": [True, None]}}
    records = [r for r in AuditLog(state_dir).records() if r.verb == "call"]
    assert [(r.phase, r.target) for r in records] == [("started", "celery:app"),
                                                      ("finished", "celery:app")]

    # without --wait: the id is printed and the task runs all the same
    quick = call(config, cli_env, "testbed.add", "--args", "[2, 3]", "--countdown", "1", "--yes")
    assert quick.returncode == 0, quick.stdout + quick.stderr
    assert quick.stdout.splitlines()[-1].startswith("sent testbed.add as task ")


def test_a_failing_task_a_timeout_and_bad_input(worker: CeleryWorker, redis_server: RedisServer,
                                                write_config: Callable[..., Path],
                                                cli_env: dict[str, str]) -> None:
    config = write_config(config_text(redis_server))
    failed = call(config, cli_env, "testbed.fail", "--kwargs", '{"msg": "bad row 7"}',
                  "--wait", "60", "--yes")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "(testbed.fail): FAILURE: ValueError('bad row 7')" in failed.stderr

    slow = call(config, cli_env, "testbed.sleep", "--args", "[5]", "--wait", "0.5", "--yes")
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "(testbed.sleep): still " in slow.stderr and "after 0.5s" in slow.stderr

    unknown = call(config, cli_env, "testbed.nope", "--yes")
    assert unknown.returncode == 3, unknown.stdout + unknown.stderr
    assert "testbed.nope is not registered on any online worker of celery:app" in unknown.stderr
    assert "testbed.add" in unknown.stderr

    not_json = call(config, cli_env, "testbed.add", "--args", "{1: 2}", "--yes")
    assert not_json.returncode == 2 and "--args: not JSON" in not_json.stderr
    not_list = call(config, cli_env, "testbed.add", "--args", '{"a": 1}', "--yes")
    assert not_list.returncode == 2 and "is not a JSON list" in not_list.stderr

    unconfirmed = call(config, cli_env, "testbed.add", "--args", "[1, 1]")
    assert unconfirmed.returncode == 3 and "pass --yes" in unconfirmed.stderr


async def test_tui_worker_details_show_registered_tasks_and_stats(
        worker: CeleryWorker, redis_server: RedisServer, state_dir: Path) -> None:
    import time

    from textual.widgets import Static

    from screens.app import OpsConsoleApp
    from screens.celery import CeleryScreen, WorkerScreen
    from tests.test_celery_backend import load
    from widgets.live_table import LiveTable

    app = OpsConsoleApp(load(config_text(redis_server, extra="expect_workers = 1"), state_dir))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.screen, CeleryScreen)
        table = app.screen.query_one("#workers-table", LiveTable)
        deadline = time.monotonic() + 20
        while not any(worker.nodename in k for k in table._order) and \
                time.monotonic() < deadline:
            await pilot.pause(0.2)
        key = next(k for k in table._order if worker.nodename in k)
        table.move_cursor(row=table._order.index(key))
        table.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WorkerScreen)
        detail = str(app.screen.query_one("#worker-detail", Static).render())
        assert "registered tasks" in detail and "testbed.echo" in detail
        assert "pool.max-concurrency = 2" in detail and "rusage.utime = " in detail
        assert "queues: celery, slow" in detail or "queues: slow, celery" in detail


async def test_tui_calls_a_registered_task_and_follows_it(
        worker: CeleryWorker, redis_server: RedisServer, state_dir: Path) -> None:
    import time

    from textual.widgets import Input, Select

    from console.core.audit import AuditLog
    from screens.app import OpsConsoleApp
    from screens.call_task import CallTaskScreen
    from screens.celery import CeleryScreen
    from screens.confirm import ConfirmScreen
    from tests.test_celery_backend import load

    app = OpsConsoleApp(load(config_text(redis_server, extra="expect_workers = 1"), state_dir))
    marker = uuid.uuid4().hex
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4")
        assert isinstance(app.screen, CeleryScreen)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the worker reported its registered tasks
            await pilot.press("c")
            await pilot.pause(0.3)
            if isinstance(app.screen, CallTaskScreen):
                break
            await pilot.pause(0.5)
        assert isinstance(app.screen, CallTaskScreen)
        app.screen.query_one("#call-task", Select).value = "testbed.echo"
        app.screen.query_one("#call-args", Input).value = f'[1, "{marker}"]'
        queue = app.screen.query_one("#call-queue", Input)
        queue.value = "slow"
        queue.focus()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                app.session.dispatcher.runs and app.session.dispatcher.runs[-1].state
                in ("ok", "failed")):
            await pilot.pause(0.3)
        run = app.session.dispatcher.runs[-1]
        assert (run.state, run.spec.verb) == ("ok", "call"), run.outcome
        assert run.outcome is not None and marker in run.outcome.message  # the task's result
        assert any("task id" in line for line in run.lines)
    records = [r for r in AuditLog(state_dir).records() if r.verb == "call"]
    assert [r.phase for r in records] == ["started", "finished"]
