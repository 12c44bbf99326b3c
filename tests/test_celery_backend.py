"""Celery backend against a real worker subprocess and a real Redis broker and result backend.

One scratch redis-server and one worker serve the whole module (a worker takes seconds to
start); every test sends its own tasks with unique arguments and looks only at those.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shelve
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from backends.celery.backend import CeleryBackend
from backends.celery.snapshot import CelerySnapshot
from console.assembly import build_backends
from console.config import Config, parse_config
from console.core.actions import ActionOutcome, ActionSpec, SupportsProgress
from console.core.model import Status
from console.sandbox.celery_worker import CeleryWorker
from console.sandbox.redis_server import RedisServer
from tests.conftest import OPSCONSOLE
from tests.testbed.fixtures import START_ERRORS, require_service

BROKER_DB, RESULTS_DB = 3, 4


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
    except START_ERRORS as error:
        require_service("redis", str(error))
    yield server
    server.stop()


def running_worker(server: RedisServer, prefix: str,
                   queues: tuple[str, ...] = ("celery",)) -> Iterator[CeleryWorker]:
    """A real worker on `server`'s broker and result databases, stopped afterwards."""
    proc = CeleryWorker(broker_url=server.url_for(BROKER_DB),
                        backend_url=server.url_for(RESULTS_DB),
                        name=f"{prefix}-{uuid.uuid4().hex[:6]}@%h", concurrency=2,
                        queues=queues)
    try:
        proc.start()
    except START_ERRORS as error:
        require_service("celery", str(error))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def worker(redis_server: RedisServer) -> Iterator[CeleryWorker]:
    yield from running_worker(redis_server, "main")


@pytest.fixture(scope="module")
def sender(redis_server: RedisServer) -> Iterator[Any]:
    from celery import Celery  # type: ignore[import-untyped]

    # no result backend here: results are the worker's business, read back through Redis
    app = Celery("opsconsole-test-sender", broker=redis_server.url_for(BROKER_DB),
                 set_as_current=False)
    app.conf.update(task_send_sent_event=True)
    yield app
    app.close()


def config_text(server: RedisServer, *, extra: str = "", backend: bool = True) -> str:
    lines = ["[[celery]]", 'name = "app"', f'broker = "{server.url_for(BROKER_DB)}"',
             "results_every = 0"]
    if backend:
        lines.append(f'backend = "{server.url_for(RESULTS_DB)}"')
    return "\n".join(lines) + "\n" + extra + "\n"


def load(text: str, state_dir: Path) -> Config:
    return parse_config(f'[console]\nstate_dir = "{state_dir}"\n' + text, Path("config.toml"))


def backend_for(text: str, state_dir: Path) -> CeleryBackend:
    backend = build_backends(load(text, state_dir))[0]
    assert isinstance(backend, CeleryBackend)
    return backend


def poll_until(backend: CeleryBackend, ok: Callable[[CelerySnapshot], bool],
               timeout: float = 20.0) -> CelerySnapshot:
    async def run() -> CelerySnapshot:
        deadline = time.monotonic() + timeout
        while True:
            snap = await backend.collect()
            if ok(snap) or time.monotonic() > deadline:
                return snap
            await asyncio.sleep(0.2)

    return asyncio.run(run())


def run_spec(spec: ActionSpec) -> ActionOutcome:
    async def go() -> ActionOutcome:
        return await spec.run(SupportsProgress())

    return asyncio.run(go())


def close(backend: CeleryBackend) -> None:
    asyncio.run(backend.close())


def run_cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args, "--config", str(config)],
                          env=env, capture_output=True, text=True, timeout=60)


def test_active_reserved_scheduled_tasks_then_revoke_and_terminate(
        worker: CeleryWorker, sender: Any, state_dir: Path, redis_server: RedisServer) -> None:
    backend = backend_for(config_text(redis_server, extra="expect_workers = 1"), state_dir)
    running = [sender.send_task("testbed.sleep", args=[30 + i]) for i in range(2)]
    waiting = sender.send_task("testbed.sleep", args=[31.5])
    later = sender.send_task("testbed.add", args=[7, 8], countdown=300)
    ids = {t.id for t in [*running, waiting, later]}
    try:
        # depths are read before inspect, so a message reserved meanwhile shows next poll
        snap = poll_until(backend, lambda s: {t.task_id for t in s.tasks} >= ids
                          and s.unacked_total >= 2)
        states = {t.task_id: t.state for t in snap.tasks}
        assert [states[t.id] for t in running] == ["active", "active"]
        assert states[waiting.id] == "reserved"
        assert states[later.id] == "scheduled"
        eta = next(t.eta for t in snap.tasks if t.task_id == later.id)
        assert eta
        me = next(w for w in snap.workers if w.name == worker.nodename)
        assert me.online and me.active >= 2 and me.pool_size == 2 and "celery" in me.queues
        # the ETA and reserved messages are held in the broker's unacked hash, not the list
        assert snap.unacked_total >= 2

        specs = {s.verb: s for s in backend.actions(snap, "celery:app", {"task": running[0].id})}
        outcome = run_spec(specs["terminate"])
        assert outcome.ok, outcome.message
        specs = {s.verb: s for s in backend.actions(snap, "celery:app", {"task": later.id})}
        assert run_spec(specs["revoke"]).ok
        snap = poll_until(backend, lambda s: running[0].id not in
                          {t.task_id for t in s.tasks if t.state == "active"})
        assert running[0].id not in {t.task_id for t in snap.tasks if t.state == "active"}
        results = redis.Redis.from_url(redis_server.url_for(RESULTS_DB))
        meta = results.get(f"celery-task-meta-{running[0].id}")
        results.close()
        assert meta is not None and b'"REVOKED"' in meta
        # revoke without terminate leaves the other running task alone
        assert running[1].id in {t.task_id for t in snap.tasks if t.state == "active"}
    finally:
        for task in [*running, waiting, later]:
            sender.control.revoke(task.id, terminate=True)
        close(backend)


def test_priority_lists_are_counted_in_queue_depth(
        worker: CeleryWorker, sender: Any, state_dir: Path, redis_server: RedisServer) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:6]}"
    for priority in (0, 0, 4, 5, 7, 9):
        sender.send_task("testbed.add", args=[1, 1], queue=queue, priority=priority)
    backend = backend_for(config_text(redis_server, extra=f'queues = ["{queue}"]'), state_dir)
    try:
        snap = poll_until(backend, lambda s: s.queues[0].waiting == 6)
        assert snap.queues[0].waiting == 6
        plain = redis.Redis.from_url(redis_server.url_for(BROKER_DB))
        assert plain.llen(queue) < 6   # what `LLEN queue` alone would have said
        plain.close()
    finally:
        close(backend)


def test_repeated_inspect_polls_never_lose_a_reply(
        worker: CeleryWorker, state_dir: Path, redis_server: RedisServer) -> None:
    # expect_workers gives inspect a limit: each call returns as soon as the worker answered,
    # which is exactly when a lost reply would show (a short wait, then nothing)
    backend = backend_for(config_text(redis_server, extra="expect_workers = 1"), state_dir)

    async def run() -> list[int]:
        seen = []
        for _ in range(60):
            snap = await backend.collect()
            seen.append(sum(1 for w in snap.workers if w.online and w.name == worker.nodename
                            and w.pool_size is not None and bool(w.queues)))
            await asyncio.sleep(1.0)
        await backend.close()
        return seen

    assert asyncio.run(run()) == [1] * 60   # a minute of polls, every one answered


def test_failed_task_kept_after_restart_then_retried_to_success(
        worker: CeleryWorker, sender: Any, state_dir: Path, redis_server: RedisServer,
        write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    flag = f"opsconsole-test:flaky:{uuid.uuid4().hex}"
    failed = sender.send_task("testbed.flaky", kwargs={"key": flag})
    text = config_text(redis_server)
    backend = backend_for(text, state_dir)
    try:
        snap = poll_until(backend, lambda s: s.failed_task(failed.id) is not None)
        record = snap.failed_task(failed.id)
        assert record is not None and record.resendable
        assert "RuntimeError" in record.exception and "Traceback" in record.traceback
        assert flag in record.kwargs
    finally:
        close(backend)
    # the result backend forgets it; the console does not
    results = redis.Redis.from_url(redis_server.url_for(RESULTS_DB))
    assert results.delete(f"celery-task-meta-{failed.id}") == 1
    restarted = backend_for(text, state_dir)
    try:
        snap = poll_until(restarted, lambda s: True)
        assert snap.failed_task(failed.id) is not None
    finally:
        close(restarted)

    results.set(flag, "1")  # flaky() reads its flag from the broker's Redis
    broker = redis.Redis.from_url(redis_server.url_for(BROKER_DB))
    broker.set(flag, "1")
    config = write_config(f'[console]\nstate_dir = "{state_dir}"\n' + text)
    done = run_cli(config, cli_env, "retry", "celery:app", "--task", failed.id, "--yes")
    assert done.returncode == 0, done.stderr
    assert "re-sent testbed.flaky as task" in done.stdout
    again = backend_for(text, state_dir)
    try:
        snap = poll_until(again, lambda s: (s.failed_task(failed.id) or record).retry_state
                          == "SUCCESS")
        retried = snap.failed_task(failed.id)
        assert retried is not None and retried.retry_state == "SUCCESS"
        assert retried.retry_task_id and retried.retry_task_id != failed.id
    finally:
        close(again)
        broker.delete(flag)
        broker.close()
        results.close()


def test_events_record_failures_and_retry_is_refused_without_extended_results(
        worker: CeleryWorker, sender: Any, state_dir: Path, redis_server: RedisServer,
        write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    text = config_text(redis_server, backend=False)
    backend = backend_for(text, state_dir)
    changes: list[float] = []
    backend.watch(lambda: changes.append(time.time()))
    try:
        receiver = backend.events
        assert receiver is not None
        deadline = time.monotonic() + 10
        while not receiver.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        message = f"event-{uuid.uuid4().hex[:8]}"
        failed = sender.send_task("testbed.fail", args=[message])
        snap = poll_until(backend, lambda s: s.failed_task(failed.id) is not None)
        record = snap.failed_task(failed.id)
        assert record is not None, snap.events_note
        assert record.source == "events" and message in record.exception
        assert message in record.args and not record.resendable
        assert changes, "the events stream asked for a re-poll"
        long = sender.send_task("testbed.fail", args=["x" * 3000])
        snap = poll_until(backend, lambda s: s.failed_task(long.id) is not None)
        cut = snap.failed_task(long.id)
        assert cut is not None and not cut.resendable and "cut at 1024" in cut.why_not
        assert "no result backend" in snap.results_note
    finally:
        close(backend)
    config = write_config(f'[console]\nstate_dir = "{state_dir}"\n' + text)
    refused = run_cli(config, cli_env, "retry", "celery:app", "--task", failed.id, "--yes")
    assert refused.returncode == 3
    assert "result_extended" in refused.stderr
    unknown = run_cli(config, cli_env, "retry", "celery:app", "--task", "no-such-task", "--yes")
    assert unknown.returncode == 1 and "not a known failed task" in unknown.stderr


def test_bulk_retry_dry_run_then_real_and_remembered(
        worker: CeleryWorker, sender: Any, state_dir: Path, redis_server: RedisServer,
        write_config: Callable[[str], Path], cli_env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex[:8]
    tasks = [sender.send_task("testbed.fail", args=[f"bulk-{marker}-{i}"]) for i in range(3)]
    text = config_text(redis_server)
    backend = backend_for(text, state_dir)
    try:
        poll_until(backend, lambda s: all(s.failed_task(t.id) for t in tasks))
    finally:
        close(backend)
    config = write_config(f'[console]\nstate_dir = "{state_dir}"\n' + text)
    dry = run_cli(config, cli_env, "retry", "celery:app", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    for task in tasks:
        assert f"would re-send {task.id}" in dry.stdout
    check = backend_for(text, state_dir)
    try:
        assert all(check.store.get(t.id).retry_task_id is None  # type: ignore[union-attr]
                   for t in tasks)
    finally:
        close(check)
    real = run_cli(config, cli_env, "retry", "celery:app", "--yes")
    assert real.returncode == 0, real.stderr
    for task in tasks:
        assert f"re-sent {task.id}" in real.stdout
    second = run_cli(config, cli_env, "retry", "celery:app", "--dry-run")
    for task in tasks:
        assert task.id not in second.stdout   # already retried: not sent twice


def test_headless_check_thresholds_and_exit_codes(
        worker: CeleryWorker, sender: Any, state_dir: Path, redis_server: RedisServer,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    failed = sender.send_task("testbed.fail", args=["threshold"])
    text = config_text(redis_server, extra="expect_workers = 1\n"
                                            "failed_per_hour = { warn = 1, crit = 100000 }")
    backend = backend_for(text, state_dir)
    try:
        poll_until(backend, lambda s: s.failed_task(failed.id) is not None)
    finally:
        close(backend)
    config = write_config(f'[console]\nstate_dir = "{state_dir}"\n' + text)
    warn = run_cli(config, cli_env, "check")
    assert warn.returncode == 1, warn.stdout
    assert warn.stdout.startswith("OPSCONSOLE WARNING")
    assert "'failed_per_hour'=" in warn.stdout and ";1;100000;0" in warn.stdout

    missing = write_config(f'[console]\nstate_dir = "{state_dir}"\n' + config_text(
        redis_server, extra='expect_workers = ["ghost@nowhere"]'), "missing.toml")
    crit = run_cli(missing, cli_env, "check")
    assert crit.returncode == 2 and "missing ghost@nowhere" in crit.stdout

    dead = RedisServer(port=None)
    unreachable = write_config(
        '[[celery]]\nname = "gone"\n'
        f'broker = "redis://127.0.0.1:{dead.port}/0"\n', "dead.toml")
    down = run_cli(unreachable, cli_env, "check")
    assert down.returncode == 2 and "unreachable" in down.stdout

    bad = write_config('[[celery]]\nname = "x"\nbroker = "localhost"\n', "bad.toml")
    broken = run_cli(bad, cli_env, "check")
    assert broken.returncode == 3  # the entry is not checked: UNKNOWN, with its reason
    assert "UNKNOWN celery:x - not checked:" in broken.stdout
    assert "'broker': expected a redis:// URL" in broken.stdout
    assert len(broken.stderr.strip().splitlines()) == 1
    assert "'broker': expected a redis:// URL" in broken.stderr


def broadcast_methods(message: dict[str, Any]) -> list[str]:
    """The control methods one pidbox message asks of the workers (kombu base64-encodes
    the body on Redis)."""
    if message.get("type") != "pmessage":
        return []
    envelope = json.loads(message["data"])
    body = json.loads(base64.b64decode(envelope["body"]))
    return [body["method"]]


def test_cron_check_asks_the_workers_only_what_its_checks_need(
        worker: CeleryWorker, state_dir: Path, redis_server: RedisServer,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    """A `check` shows no Celery view: every run asks the workers `active` and nothing of
    the seven things the view shows (stats, registered tasks, queues, configuration...)."""
    listener = redis.Redis.from_url(redis_server.url_for(BROKER_DB))
    broadcasts = listener.pubsub()
    broadcasts.psubscribe("*pidbox*")
    try:
        while broadcasts.get_message(timeout=0.5) is not None:
            pass  # the subscription itself
        config = write_config(f'[console]\nstate_dir = "{state_dir}"\n'
                              + config_text(redis_server, extra="expect_workers = 1"))
        result = run_cli(config, cli_env, "check")
        assert result.returncode == 0, result.stdout
        methods = []
        while (message := broadcasts.get_message(timeout=1)) is not None:
            methods += broadcast_methods(message)
    finally:
        broadcasts.close()
        listener.close()
    assert methods == ["active"], methods


def test_second_worker_online_then_pool_restart_refused_and_shutdown_offline(
        worker: CeleryWorker, state_dir: Path, redis_server: RedisServer,
        celery_worker_factory: Any) -> None:
    other = celery_worker_factory(redis_server.url_for(BROKER_DB),
                                  name=f"second-{uuid.uuid4().hex[:6]}@%h",
                                  backend_url=redis_server.url_for(RESULTS_DB))
    backend = backend_for(config_text(redis_server, extra="expect_workers = 2"), state_dir)
    try:
        snap = poll_until(backend, lambda s: len(s.online) == 2)
        assert {w.name for w in snap.online} == {worker.nodename, other.nodename}
        assert backend.evaluate(snap)[0].status is Status.OK
        specs = [s for s in backend.actions(snap, "celery:app", {"worker": other.nodename})]
        restart = next(s for s in specs if s.verb == "pool-restart")
        assert restart.unavailable and "worker_pool_restarts" in restart.unavailable
        shutdown = next(s for s in specs if s.verb == "shutdown")
        assert shutdown.type_to_confirm == other.nodename
        outcome = run_spec(shutdown)
        assert outcome.ok, outcome.message
        snap = poll_until(backend, lambda s: len(s.online) == 1)
        gone = next(w for w in snap.workers if w.name == other.nodename)
        assert not gone.online and gone.since is not None
        check = backend.evaluate(snap)[0]
        assert check.status is Status.CRITICAL and "1/2" in check.summary
    finally:
        close(backend)


def test_off_screen_heartbeats_stand_in_for_inspect_and_a_killed_worker_goes_offline(
        worker: CeleryWorker, state_dir: Path, redis_server: RedisServer,
        celery_worker_factory: Any) -> None:
    """With no Celery view on screen and every worker sending events, who is online comes
    from the heartbeats: polls broadcast no inspect, and a worker killed without a word
    still turns the check critical."""
    other = celery_worker_factory(redis_server.url_for(BROKER_DB),
                                  name=f"beats-{uuid.uuid4().hex[:6]}@%h",
                                  backend_url=redis_server.url_for(RESULTS_DB))
    backend = backend_for(config_text(redis_server, extra="expect_workers = 2"), state_dir)
    backend.detail = False
    backend.watch(lambda: None)
    listener = redis.Redis.from_url(redis_server.url_for(BROKER_DB))
    broadcasts = listener.pubsub()
    broadcasts.psubscribe("*pidbox*")
    try:
        receiver = backend.events
        assert receiver is not None
        names = {worker.nodename, other.nodename}

        def beating() -> bool:
            facts = receiver.worker_facts()
            return all(facts.get(name, {}).get("alive") for name in names)

        snap = poll_until(backend, lambda s: {w.name for w in s.online} == names
                          and beating())
        assert {w.name for w in snap.online} == names, snap.inspect_note
        while broadcasts.get_message(timeout=0.5) is not None:
            pass  # the subscription and the broadcasts of the polls so far
        for _ in range(4):
            snap = asyncio.run(backend.collect())
            assert {w.name for w in snap.online} == names
        assert broadcasts.get_message(timeout=0.5) is None, "an inspect was broadcast"
        assert backend.evaluate(snap)[0].status is Status.OK

        assert other.proc is not None
        os.killpg(other.proc.pid, signal.SIGKILL)
        snap = poll_until(backend, lambda s: other.nodename not in {w.name for w in s.online},
                          timeout=30)
        check = backend.evaluate(snap)[0]
        assert check.status is Status.CRITICAL and "1/2" in check.summary, check.summary
    finally:
        broadcasts.close()
        listener.close()
        close(backend)


def test_beat_schedule_file_is_shown_or_explained(
        worker: CeleryWorker, sender: Any, state_dir: Path, redis_server: RedisServer,
        tmp_path: Path) -> None:
    from celery.beat import PersistentScheduler  # type: ignore[import-untyped]

    sender.conf.beat_schedule = {"nightly-report": {"task": "testbed.add", "schedule": 90.0,
                                                    "args": (1, 2)}}
    path = tmp_path / "celerybeat-schedule"
    scheduler = PersistentScheduler(app=sender, schedule_filename=str(path), lazy=False)
    scheduler.sync()
    scheduler.close()
    backend = backend_for(config_text(redis_server, extra=f'beat_schedule = "{path}"'), state_dir)
    broken_path = tmp_path / "broken-schedule"
    with shelve.open(str(broken_path)) as db:
        db["entries"] = "not a schedule"
    broken_path_file = tmp_path / "garbage"
    broken_path_file.write_bytes(b"\x00garbage" * 10)
    other = backend_for(config_text(redis_server, extra=f'beat_schedule = "{broken_path_file}"'),
                        state_dir)
    try:
        snap = poll_until(backend, lambda s: True)
        assert snap.beat is not None and snap.beat.error is None
        entry = next(e for e in snap.beat.entries if e.name == "nightly-report")
        assert entry.task == "testbed.add" and "90" in entry.schedule
        bad = poll_until(other, lambda s: True)
        assert bad.beat is not None and bad.beat.error and "cannot" in bad.beat.error
    finally:
        close(backend)
        close(other)


async def test_tui_celery_view_detail_and_retry_with_pilot(
        worker: CeleryWorker, sender: Any, state_dir: Path, redis_server: RedisServer) -> None:
    from textual.widgets import Static, TabbedContent

    from screens.app import OpsConsoleApp
    from screens.celery import CeleryScreen, FailedTaskScreen
    from screens.confirm import ConfirmScreen
    from widgets.live_table import LiveTable

    message = f"pilot-{uuid.uuid4().hex[:8]}"
    failed = sender.send_task("testbed.fail", args=[message])
    config = load(config_text(redis_server, extra="expect_workers = 1"), state_dir)
    app = OpsConsoleApp(config)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.screen, CeleryScreen)
        await pilot.press("f")
        table = app.screen.query_one("#failed-table", LiveTable)
        key = f"app|{failed.id}"
        deadline = time.monotonic() + 20
        while key not in table._order and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert key in table._order
        await pilot.press("w")
        await pilot.pause()
        assert app.screen.query_one(TabbedContent).active == "workers"
        workers = app.screen.query_one("#workers-table", LiveTable)
        assert any(worker.nodename in k for k in workers._order)
        await pilot.press("f")
        await pilot.pause()
        table.move_cursor(row=table._order.index(key))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FailedTaskScreen)
        detail = str(app.screen.query_one("#failed-detail", Static).render())
        assert message in detail and "Traceback" in detail and "kwargs" in detail
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, CeleryScreen)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        deadline = time.monotonic() + 10
        stored = None
        while time.monotonic() < deadline:
            await pilot.pause(0.2)
            backend = app.session.backends[0]
            assert isinstance(backend, CeleryBackend)
            stored = await asyncio.to_thread(backend.store.get, failed.id)
            if stored and stored.retry_task_id:
                break
        assert stored is not None and stored.retry_task_id


def test_hung_broker_is_critical_within_the_deadline(
        scratch_redis: RedisServer, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    config = write_config('[[celery]]\nname = "frozen"\n'
                          f'broker = "{scratch_redis.url_for(1)}"\ntimeout = 3\n')
    scratch_redis.pause()
    try:
        frozen = run_cli(config, cli_env, "check", "--timeout", "6")
    finally:
        scratch_redis.resume()
    assert frozen.returncode == 2, frozen.stdout
    assert "celery:frozen" in frozen.stdout and "unreachable" in frozen.stdout
    status = subprocess.run([*OPSCONSOLE, "--headless", "status", "--format", "json",
                             "--config", str(config)], env=cli_env, capture_output=True,
                            text=True, timeout=60)
    assert status.returncode == 0 and '"workers": []' in status.stdout
