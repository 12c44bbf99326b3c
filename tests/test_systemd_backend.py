"""The systemd backend against a real systemd booted in nspawn: listing, checks, actions."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends.systemd.backend import SystemdBackend
from backends.systemd.bus import BusError
from backends.systemd.listing import SystemdSnapshot, UnitState
from backends.systemd.verdicts import cpu_text, memory_text
from console.core.actions import ActionSpec
from console.core.audit import AuditLog
from console.core.identity import Identity
from console.core.model import Status
from console.core.secrets import Redactor
from console.dispatcher import Dispatcher
from console.poller import BackendState, poll_once
from console.sandbox.systemd_machine import SystemdMachine
from tests.test_systemd_fixtures import UnitFactory, make_backend, make_unit, prefix, sleeper

__all__ = ["make_unit", "prefix"]  # fixtures used by name


async def yes(spec: ActionSpec) -> bool:
    return True


def spec_for(backend: SystemdBackend, snapshot: SystemdSnapshot | None, unit: str,
             verb: str) -> ActionSpec:
    specs = {s.verb: s for s in backend.actions(snapshot, f"unit:{unit}")}
    assert verb in specs, f"{verb} not offered; offered: {sorted(specs)}"
    return specs[verb]


async def run_action(backend: SystemdBackend, state_dir: Path, unit: str, verb: str
                     ) -> tuple[str, str]:
    snapshot = await backend.collect()
    dispatcher = Dispatcher(state_dir=state_dir, read_only=False, redactor=Redactor(),
                            identity=Identity("tester", "pts/1", ""))
    run = await dispatcher.run(spec_for(backend, snapshot, unit, verb), yes)
    assert run.outcome is not None
    return run.state, run.outcome.message


async def unit_state(backend: SystemdBackend, name: str) -> UnitState:
    snapshot = await backend.collect()
    unit = snapshot.unit(name)
    assert unit is not None, f"{name} not listed"
    return unit


def checks_by_target(backend: SystemdBackend, snapshot: SystemdSnapshot) -> dict[str, tuple[Status, str]]:
    return {c.target: (c.status, c.summary) for c in backend.evaluate(snapshot)}


async def test_globs_list_matching_units_only(systemd_machine: SystemdMachine,
                                              make_unit: UnitFactory, prefix: str,
                                              state_dir: Path) -> None:
    web = make_unit(f"{prefix}-web.service", sleeper("the web app"))
    worker = make_unit(f"{prefix}-worker.service", sleeper("the worker"))
    make_unit(f"{prefix}-other.timer", "[Timer]\nOnActiveSec=1h\nUnit=" + web + "\n")
    systemd_machine.systemctl("start", web)
    backend = make_backend(systemd_machine, [f"{prefix}-*.service"], state_dir)
    try:
        snapshot = await backend.collect()
    finally:
        await backend.close()
    assert sorted(u.name for u in snapshot.units) == sorted([web, worker])
    running = snapshot.unit(web)
    stopped = snapshot.unit(worker)
    assert running is not None and stopped is not None
    assert (running.active, running.sub, running.description) == ("active", "running",
                                                                   "the web app")
    assert running.main_pid and running.active_since and running.restarts == 0
    assert stopped.active == "inactive"
    # This machine does not account memory: it must read n/a, never 18446744073709551615.
    assert memory_text(running) == "n/a" or memory_text(running)[-1] in "BKMG"
    assert "18446744073709551615" not in memory_text(running) + cpu_text(running)
    checks = checks_by_target(backend, snapshot)
    assert checks[f"unit:{web}"][0] is Status.OK
    assert checks[f"unit:{worker}"] == (Status.CRITICAL, "inactive (dead): not running")


async def test_restart_replaces_the_process_and_is_audited(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        state_dir: Path) -> None:
    name = make_unit(f"{prefix}-sleep.service", sleeper())
    systemd_machine.systemctl("start", name)
    backend = make_backend(systemd_machine, [name], state_dir)
    try:
        before = await unit_state(backend, name)
        await asyncio.sleep(1.1)  # ActiveEnterTimestamp has microseconds, but be plain about it
        state, message = await run_action(backend, state_dir, name, "restart")
        after = await unit_state(backend, name)
    finally:
        await backend.close()
    assert state == "ok", message
    assert message.startswith(f"restarted {name}: active (running)")
    assert after.active == "active"
    assert after.main_pid and after.main_pid != before.main_pid
    assert after.active_since and before.active_since and after.active_since > before.active_since
    records = AuditLog(state_dir).records()
    assert [(r.phase, r.verb, r.target) for r in records] == [
        ("started", "restart", f"unit:{name}"), ("finished", "restart", f"unit:{name}")]
    assert AuditLog(state_dir).verify().ok


async def test_stop_then_start(systemd_machine: SystemdMachine, make_unit: UnitFactory,
                               prefix: str, state_dir: Path) -> None:
    name = make_unit(f"{prefix}-sleep.service", sleeper())
    systemd_machine.systemctl("start", name)
    backend = make_backend(systemd_machine, [name], state_dir)
    try:
        state, message = await run_action(backend, state_dir, name, "stop")
        assert state == "ok", message
        stopped = await backend.collect()
        assert checks_by_target(backend, stopped)[f"unit:{name}"][0] is Status.CRITICAL
        assert systemd_machine.systemctl("is-active", name, check=False).stdout.strip() == \
            "inactive"
        state, message = await run_action(backend, state_dir, name, "start")
        assert state == "ok", message
        started = await backend.collect()
    finally:
        await backend.close()
    assert checks_by_target(backend, started)[f"unit:{name}"][0] is Status.OK
    assert systemd_machine.systemctl("is-active", name, check=False).stdout.strip() == "active"


async def test_reload_is_offered_only_when_the_unit_can_reload(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        state_dir: Path) -> None:
    plain = make_unit(f"{prefix}-plain.service", sleeper())
    reloadable = make_unit(f"{prefix}-reload.service",
                           sleeper(extra="ExecReload=/bin/sh -c 'echo reloading now'\n"))
    systemd_machine.systemctl("start", plain, reloadable)
    backend = make_backend(systemd_machine, [f"{prefix}-*"], state_dir)
    try:
        snapshot = await backend.collect()
        assert "reload" not in {s.verb for s in backend.actions(snapshot, f"unit:{plain}")}
        state, message = await run_action(backend, state_dir, reloadable, "reload")
    finally:
        await backend.close()
    assert state == "ok", message
    assert message.startswith(f"reloaded {reloadable}: active (running)")


async def test_crash_loop_is_flapping_while_active(systemd_machine: SystemdMachine,
                                                   make_unit: UnitFactory, prefix: str,
                                                   state_dir: Path) -> None:
    name = make_unit(f"{prefix}-crashy.service", (
        "[Unit]\nStartLimitIntervalSec=0\n[Service]\n"
        "ExecStart=/bin/sh -c 'echo up; sleep 0.4; echo dying >&2; exit 1'\n"
        "Restart=always\nRestartSec=100ms\n"))
    systemd_machine.systemctl("start", name)
    backend = make_backend(systemd_machine, [name], state_dir,
                           restarts={"warn": 2, "crit": 1000}, restarts_window="10m")
    seen: list[tuple[str, Status, str]] = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            snapshot = await backend.collect()
            unit = snapshot.unit(name)
            assert unit is not None
            check = backend.evaluate(snapshot)[0]
            seen.append((unit.active, check.status, check.summary))
            if unit.active == "active" and check.status is Status.WARNING:
                break
            await asyncio.sleep(0.3)
    finally:
        await backend.close()
    active, status, summary = seen[-1]
    assert (active, status) == ("active", Status.WARNING), seen
    assert "flapping: restarted" in summary and "in 10m" in summary


async def test_failed_unit_is_critical_and_reset_failed_clears_it(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        state_dir: Path) -> None:
    name = make_unit(f"{prefix}-broken.service",
                     "[Service]\nExecStart=/bin/sh -c 'echo cannot open db >&2; exit 3'\n")
    systemd_machine.systemctl("start", name, check=False)
    backend = make_backend(systemd_machine, [name], state_dir)
    try:
        snapshot = await backend.collect()
        status, summary = checks_by_target(backend, snapshot)[f"unit:{name}"]
        assert status is Status.CRITICAL
        assert summary.startswith("failed since ") and "(exit 3)" in summary
        state, message = await run_action(backend, state_dir, name, "start")
        assert state == "failed"
        assert "start" in message and "failed" in message
        records = AuditLog(state_dir).records()
        assert records[-1].phase == "failed"
        state, message = await run_action(backend, state_dir, name, "reset-failed")
        assert state == "ok", message
        cleared = await backend.collect()
    finally:
        await backend.close()
    assert checks_by_target(backend, cleared)[f"unit:{name}"] == (
        Status.CRITICAL, "inactive (dead): not running")


async def test_failed_start_reports_the_last_journal_lines(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        state_dir: Path) -> None:
    marker = f"{prefix} cannot open database"
    name = make_unit(f"{prefix}-broken.service",
                     f"[Service]\nExecStart=/bin/sh -c 'echo {marker} >&2; exit 3'\n")
    backend = make_backend(systemd_machine, [name], state_dir)
    dispatcher = Dispatcher(state_dir=state_dir, read_only=False, redactor=Redactor(),
                            identity=Identity("tester", "pts/1", ""))
    try:
        snapshot = await backend.collect()
        deadline = time.monotonic() + 10
        while True:  # journald may take a moment to write the line where journalctl reads
            run = await dispatcher.run(spec_for(backend, snapshot, name, "start"), yes)
            if any(marker in line for line in run.lines) or time.monotonic() > deadline:
                break
    finally:
        await backend.close()
    assert run.state == "failed"
    assert run.outcome is not None and "failed" in run.outcome.message
    assert any(marker in line for line in run.lines), list(run.lines)


async def test_timer_shows_next_and_last_trigger_and_a_failed_last_run(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        state_dir: Path) -> None:
    job = make_unit(f"{prefix}-job.service",
                    "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'exit 4'\n")
    timer = make_unit(f"{prefix}-job.timer",
                      "[Timer]\nOnActiveSec=1s\nOnUnitActiveSec=1h\nAccuracySec=1ms\n")
    systemd_machine.systemctl("start", timer)
    backend = make_backend(systemd_machine, [f"{prefix}-job.*"], state_dir)
    try:
        deadline = time.monotonic() + 15
        while True:
            snapshot = await backend.collect()
            unit = snapshot.unit(timer)
            assert unit is not None
            ran = snapshot.unit(job)  # its own row, read apart from the timer's view of it
            if (unit.last_trigger is not None and unit.triggered and
                    unit.triggered.active == "failed" and ran is not None and
                    ran.active == "failed") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
    finally:
        await backend.close()
    assert unit.triggers == (job,)
    assert unit.last_trigger is not None and abs(unit.last_trigger - time.time()) < 60
    assert unit.next_trigger is not None and 3000 < unit.next_trigger - time.time() < 3700
    checks = checks_by_target(backend, snapshot)
    status, summary = checks[f"unit:{timer}"]
    assert status is Status.CRITICAL
    assert summary.startswith(f"last run of {job} failed (exit 4)")
    assert "next in 59m" in summary or "next in 1h" in summary
    # The oneshot job itself failed too, and says so.
    assert checks[f"unit:{job}"][0] is Status.CRITICAL


async def test_oneshot_and_timer_driven_units_may_be_inactive(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        state_dir: Path) -> None:
    job = make_unit(f"{prefix}-tick.service",
                    "[Service]\nType=oneshot\nExecStart=/bin/true\n")
    timer = make_unit(f"{prefix}-tick.timer", "[Timer]\nOnActiveSec=1h\n")
    systemd_machine.systemctl("start", timer)
    backend = make_backend(systemd_machine, [f"{prefix}-tick.*"], state_dir)
    try:
        checks = checks_by_target(backend, await backend.collect())
    finally:
        await backend.close()
    assert checks[f"unit:{job}"][0] is Status.OK
    assert checks[f"unit:{timer}"][0] is Status.OK
    assert checks[f"unit:{timer}"][1].startswith("waiting · next in 59m")
    assert "last never" in checks[f"unit:{timer}"][1]


async def test_unknown_unit_is_critical_and_cannot_be_restarted(
        systemd_machine: SystemdMachine, prefix: str, state_dir: Path) -> None:
    name = f"{prefix}-missing.service"
    backend = make_backend(systemd_machine, [name], state_dir)
    try:
        snapshot = await backend.collect()
        status, summary = checks_by_target(backend, snapshot)[f"unit:{name}"]
        state, message = await run_action(backend, state_dir, name, "restart")
    finally:
        await backend.close()
    assert status is Status.CRITICAL and summary.startswith("no such unit on unix:path=")
    assert state == "failed"
    assert message == f"{name}: no such unit on {systemd_machine.bus_address}"


async def test_a_bus_that_is_not_there_is_one_clear_line(tmp_path: Path,
                                                         state_dir: Path) -> None:
    backend = make_backend(None, ["app*.service"], state_dir,
                           bus=f"unix:path={tmp_path}/no-bus-here")
    try:
        result = await poll_once(backend, BackendState(), Redactor())
    finally:
        await backend.close()
    assert result.error is not None
    assert result.error.startswith(f"cannot reach unix:path={tmp_path}/no-bus-here")
    assert "\n" not in result.error
    assert [(c.target, c.status) for c in result.checks] == [("unit:app*.service",
                                                              Status.CRITICAL)]


@contextlib.contextmanager
def hung_bus(path: Path) -> Iterator[str]:
    """A unix socket that accepts connections and never says a word."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(8)
    try:
        yield f"unix:path={path}"
    finally:
        server.close()


async def test_a_hung_bus_times_out_without_freezing_the_console(tmp_path: Path,
                                                                 state_dir: Path) -> None:
    with hung_bus(tmp_path / "hung.sock") as address:
        backend = make_backend(None, ["app*.service"], state_dir, bus=address, timeout=1)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        try:
            with pytest.raises(BusError) as caught:
                await backend.collect()
        finally:
            ticker.cancel()
            await backend.close()
    assert str(caught.value) == f"{address}: no answer from systemd within 1s"
    # The console's event loop kept running while the bus hung (pystemd blocks with the GIL
    # held, so it must not run in the console's own process).
    assert ticks >= 5


async def test_property_changes_are_pushed_and_picked_up(systemd_machine: SystemdMachine,
                                                         make_unit: UnitFactory, prefix: str,
                                                         state_dir: Path) -> None:
    name = make_unit(f"{prefix}-pushed.service", sleeper())
    systemd_machine.systemctl("start", name)
    backend = make_backend(systemd_machine, [name], state_dir)
    changed = asyncio.Event()
    backend.watch(changed.set)
    try:
        first = await unit_state(backend, name)
        assert backend.client.watching
        await asyncio.sleep(1)  # let signals of the start itself pass
        changed.clear()
        systemd_machine.systemctl("stop", name)
        await asyncio.wait_for(changed.wait(), 10)
        second = await unit_state(backend, name)
        changed.clear()
        systemd_machine.systemctl("start", name)
        await asyncio.wait_for(changed.wait(), 10)
        third = await unit_state(backend, name)
        # Same state before and after: only the signal tells the poll to read it again.
        await asyncio.sleep(1)
        changed.clear()
        systemd_machine.systemctl("restart", name)
        await asyncio.wait_for(changed.wait(), 10)
        fourth = await unit_state(backend, name)
    finally:
        await backend.close()
    assert (first.active, second.active, third.active) == ("active", "inactive", "active")
    assert third.main_pid and third.main_pid != first.main_pid
    assert fourth.active == "active" and fourth.main_pid and fourth.main_pid != third.main_pid
