"""An incident on the real test bed, then its timeline: a unit stopped, a container crashed,
Celery tasks failed, a queue grew, and the operator restarted the unit from the console,
with `check` run from the command line in between (as cron would).

The headless timeline must order them, name the operator of the restart, and put each in
the post-mortem draft; a console opened afterwards shows the same story.
"""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from console.config import load_config
from console.sandbox.celery_worker import CeleryWorker
from console.sandbox.redis_server import RedisServer
from console.sandbox.systemd_machine import SystemdMachine
from screens.app import OpsConsoleApp
from tests.conftest import OPSCONSOLE
from tests.test_docker_support import DockerLab, docker_lab, wait_for
from tests.test_systemd_fixtures import UnitFactory, config_text, make_unit, prefix, sleeper
from tests.test_tui import rows
from tests.test_tui import wait_for as wait_on_screen
from tests.testbed.fixtures import CeleryWorkerFactory

__all__ = ["docker_lab", "make_unit", "prefix"]


def opsconsole(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args, "--config", str(config)], env=env,
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
                          check=False)


@pytest.fixture
def queue_keys(shared_redis_url: str) -> Iterator[tuple[redis.Redis, str]]:
    client = redis.Redis.from_url(shared_redis_url, socket_timeout=5)
    key = f"oct-tl-{uuid.uuid4().hex[:8]}:jobs:queue"
    yield client, key
    client.delete(key)
    client.close()


@pytest.fixture
def celery_sender(scratch_redis: RedisServer) -> Iterator[Any]:
    from celery import Celery  # type: ignore[import-untyped]

    app = Celery("opsconsole-timeline-sender", broker=scratch_redis.url_for(0),
                 backend=scratch_redis.url_for(1), set_as_current=False)
    yield app
    app.close()


class Incident:
    """The test bed's targets and the config watching them all."""

    def __init__(self, config: Path, unit: str, container: str, queue: str) -> None:
        self.config = config
        self.unit = f"unit:{unit}"
        self.container = f"container:{container}"
        self.celery = "celery:shop"
        self.queue = queue


def checked(incident: Incident, env: dict[str, str]) -> str:
    """One check run from the command line, as cron runs it (it records the transitions)."""
    done = opsconsole(incident.config, env, "check")
    assert done.returncode in (0, 1, 2, 3), done.stderr
    return done.stdout


@pytest.fixture
def incident(systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
             docker_lab: DockerLab, scratch_redis: RedisServer,
             celery_worker_factory: CeleryWorkerFactory, celery_sender: Any,
             queue_keys: tuple[redis.Redis, str], shared_redis_url: str,
             write_config: Callable[[str], Path], cli_env: dict[str, str]) -> Incident:
    """Everything healthy and checked once: the start of the story."""
    unit = make_unit(f"{prefix}-worker.service", sleeper("the shop's record worker"))
    systemd_machine.systemctl("start", unit)
    docker_lab.run("ledger", ["sleep", "3600"])
    worker: CeleryWorker = celery_worker_factory(scratch_redis.url_for(0),
                                                 name=f"tl-{uuid.uuid4().hex[:6]}@%h",
                                                 backend_url=scratch_redis.url_for(1))
    assert worker.ping(timeout=20)
    client, key = queue_keys
    client.rpush(key, "job-0")
    text = "\n".join([
        config_text(systemd_machine, [f"{prefix}-*.service"]),
        docker_lab.config_text(),
        "[[celery]]", 'name = "shop"', f'broker = "{scratch_redis.url_for(0)}"',
        f'backend = "{scratch_redis.url_for(1)}"', "results_every = 0", "expect_workers = 1",
        "failed_per_hour = { warn = 1, crit = 2 }",
        "[[redis]]", 'name = "shop"', f'url = "{shared_redis_url}"',
        "  [[redis.queues]]", '  name = "jobs"', f'  queue = "{key}"', "  warn = 5",
        "  crit = 10", ""])
    found = Incident(write_config(text), unit, docker_lab.name("ledger"), "queue:shop/jobs")
    baseline = checked(found, cli_env)
    assert baseline.startswith("OPSCONSOLE OK"), baseline
    return found


def induce(incident: Incident, systemd_machine: SystemdMachine, docker_lab: DockerLab,
           celery_sender: Any, queue_keys: tuple[redis.Redis, str],
           env: dict[str, str]) -> None:
    """The incident, in this order, with a check after each step."""
    unit = incident.unit.split(":", 1)[1]
    systemd_machine.systemctl("stop", unit)
    assert f"CRITICAL {incident.unit}" in checked(incident, env)

    pid = docker_lab.state("ledger")["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)  # the container's main process dies: a crash, not a stop
    wait_for(lambda: not docker_lab.state("ledger")["State"]["Running"], what="the crash")
    assert f"CRITICAL {incident.container}" in checked(incident, env)

    for number in range(3):
        result = celery_sender.send_task("testbed.fail", args=[f"card declined {number}"])
        result.get(timeout=60, propagate=False)
        assert result.state == "FAILURE"
    assert f"CRITICAL {incident.celery}" in checked(incident, env)

    client, key = queue_keys
    client.rpush(key, *[f"job-{n}" for n in range(1, 25)])
    assert f"CRITICAL {incident.queue}" in checked(incident, env)

    restarted = opsconsole(incident.config, env, "restart", incident.unit, "--yes")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert f"OK {incident.unit}" in checked(incident, env)


def first(events: list[dict[str, Any]], **wanted: Any) -> dict[str, Any]:
    found = [e for e in events if all(e[k] == v for k, v in wanted.items())]
    assert found, f"no event with {wanted} in {json.dumps(events, indent=1)}"
    return found[0]


async def test_the_incident_in_order_with_the_operator_and_in_the_draft(
        incident: Incident, systemd_machine: SystemdMachine, docker_lab: DockerLab,
        celery_sender: Any, queue_keys: tuple[redis.Redis, str],
        cli_env: dict[str, str]) -> None:
    induce(incident, systemd_machine, docker_lab, celery_sender, queue_keys, cli_env)

    done = opsconsole(incident.config, cli_env, "timeline", "--since", "30m", "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    events = document["events"]
    assert document["problems"] == [], document["problems"]
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)

    unit_down = first(events, target=incident.unit, kind="status", status="CRITICAL")
    unit_stopped = first(events, target=incident.unit, kind="event", what="stopped")
    died = first(events, target=incident.container, kind="event", what="die")
    container_down = first(events, target=incident.container, kind="status", status="CRITICAL")
    task_failed = first(events, target=incident.celery, kind="event", what="task failed")
    celery_down = first(events, target=incident.celery, kind="status", status="CRITICAL")
    queue_down = first(events, target=incident.queue, kind="status", status="CRITICAL")
    restart = first(events, target=incident.unit, kind="action", what="restart")
    unit_up = [e for e in events if e["target"] == incident.unit and e["kind"] == "status"][-1]
    unit_started = [e for e in events if e["target"] == incident.unit
                    and e["what"] == "started"][-1]

    assert unit_stopped["ts"] <= unit_down["ts"] < died["ts"] <= container_down["ts"]
    assert container_down["ts"] < task_failed["ts"] <= celery_down["ts"] < queue_down["ts"]
    assert queue_down["ts"] < restart["ts"] <= unit_started["ts"]  # the restart started it
    assert restart["ts"] < unit_up["ts"] and unit_up["status"] == "OK"
    assert restart["who"] == getpass.getuser() and restart["status"] == "OK"
    assert "died (exit code 137)" in died["summary"]
    assert "card declined" in task_failed["summary"]
    summary = document["summary"]
    assert summary["first_failure"]["target"] == incident.unit
    assert summary["worst"] == "CRITICAL"
    assert set(summary["targets_affected"]) >= {incident.unit, incident.container,
                                                 incident.celery, incident.queue}

    draft = opsconsole(incident.config, cli_env, "timeline", "--since", "30m",
                       "--format", "markdown").stdout
    assert f"- First failure: {stamp_of(unit_down)} {incident.unit}" in draft
    for needle in (f"| {incident.unit} | event | stopped", f"| {incident.container} | event | die",
                   "died (exit code 137)", f"| {incident.celery} | event | task failed",
                   f"| {incident.queue} | status | OK -> CRITICAL",
                   f"| {getpass.getuser()} | restart | {incident.unit} |",
                   "## State at the end of the window", f"| {incident.unit} | OK |"):
        assert needle in draft, f"{needle!r} not in the draft:\n{draft}"

    only = json.loads(opsconsole(incident.config, cli_env, "timeline", "--only",
                                 incident.container, "--format", "json").stdout)
    assert {e["target"] for e in only["events"]} == {incident.container}

    # A console opened after the incident shows it too; f jumps to the first failure and
    # enter goes to that target's view.
    app = OpsConsoleApp(load_config(str(incident.config)))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("h")
        assert app.current_mode == "timeline"
        await wait_on_screen(pilot, lambda: any("died (exit code 137)" in " ".join(r)
                                                for r in rows(app)), seconds=60)
        shown = [" ".join(r) for r in rows(app)]
        assert any(incident.unit in r and "stopped" in r for r in shown)
        assert any(f"restart by {getpass.getuser()}: finished" in r for r in shown)
        await pilot.press("f")
        await pilot.pause(0.1)
        screen: Any = app.screen
        chosen = screen.selected_event()
        assert chosen.target == incident.unit and chosen.kind == "status"
        assert chosen.status.name == "CRITICAL"
        await pilot.press("enter")
        await wait_on_screen(pilot, lambda: app.current_mode == "units")


def stamp_of(event: dict[str, Any]) -> str:
    from console.timeline_report import stamp

    return stamp(event["ts"])


def test_workers_going_online_and_offline_are_on_the_timeline_while_the_console_runs(
        scratch_redis: RedisServer, celery_worker_factory: CeleryWorkerFactory,
        tmp_path: Path, state_dir: Path) -> None:
    import asyncio
    import time

    from console.assembly import build_backends

    config_path = tmp_path / "celery.toml"
    config_path.write_text(f'[[celery]]\nname = "shop"\nbroker = "{scratch_redis.url_for(0)}"\n')
    backend = build_backends(load_config(str(config_path)))[0]
    backend.watch(lambda: None)  # the console's events receiver, as in the TUI
    started = time.time() - 1

    def seen(what: str) -> list[Any]:
        found = asyncio.run(backend.timeline_events(started, time.time() + 1, 100))
        return [e for e in found if e.what == what]

    try:
        events = backend.events  # type: ignore[attr-defined]
        wait_for(lambda: events.connected, timeout=30, what="the events receiver")
        worker = celery_worker_factory(scratch_redis.url_for(0),
                                       name=f"tl-{uuid.uuid4().hex[:6]}@%h")
        online = wait_for(lambda: seen("worker online"), timeout=60, what="worker-online")
        assert online[0].target == "celery:shop" and online[0].status is not None
        assert worker.name.split("@")[0] in online[0].summary
        worker.stop()
        offline = wait_for(lambda: seen("worker offline"), timeout=60, what="worker-offline")
        assert offline[0].ts >= online[0].ts and offline[0].status.name == "CRITICAL"
    finally:
        asyncio.run(backend.close())
