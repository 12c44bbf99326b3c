"""Timers on the real systemd in nspawn: "run now" starts the timer's service, and the timer's
row and check show the result and duration of that service's last run."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from backends.systemd.backend import SystemdBackend
from backends.systemd.listing import UnitState
from backends.systemd.verdicts import last_run_text
from console.core.audit import AuditLog
from console.core.model import Status
from console.sandbox.systemd_machine import SystemdMachine
from tests.conftest import OPSCONSOLE
from tests.test_systemd_backend import run_action, spec_for
from tests.test_systemd_fixtures import UnitFactory, config_text, make_backend, make_unit, prefix

__all__ = ["make_unit", "prefix"]  # fixtures used by name


def oneshot(command: str) -> str:
    return f"[Unit]\nDescription=a timed job\n[Service]\nType=oneshot\nExecStart=/bin/sh -c '{command}'\n"


def hourly_timer(service: str) -> str:
    # far enough away that only "run now" runs the service during the test
    return f"[Timer]\nOnActiveSec=1h\nUnit={service}\n"


async def timer_state(backend: SystemdBackend, name: str,
                      until: Callable[[UnitState], bool]) -> UnitState:
    """The timer as polled, once `until` holds (systemd updates properties a moment later)."""
    deadline = time.monotonic() + 30
    while True:
        unit = (await backend.collect()).unit(name)
        assert unit is not None, f"{name} not listed"
        if until(unit) or time.monotonic() > deadline:
            return unit
        await asyncio.sleep(0.2)


async def test_run_now_starts_the_service_and_the_timer_shows_its_last_run(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        state_dir: Path) -> None:
    service = make_unit(f"{prefix}-job.service", oneshot("sleep 1.2; echo done"))
    timer = make_unit(f"{prefix}-job.timer", hourly_timer(service))
    systemd_machine.systemctl("start", timer)
    backend = make_backend(systemd_machine, [f"{prefix}-*"], state_dir)
    try:
        before = await timer_state(backend, timer, lambda u: u.triggered is not None)
        assert last_run_text(before) == "never ran"
        assert "run" in {s.verb for s in backend.actions(await backend.collect(), f"unit:{timer}")}
        assert spec_for(backend, None, service, "start")  # services get no "run"
        assert "run" not in {s.verb for s in backend.actions(None, f"unit:{service}")}

        state, message = await run_action(backend, state_dir, timer, "run")
        assert state == "ok", message
        assert message.startswith(f"ran {service} now ({timer} triggers it): started {service}")

        after = await timer_state(backend, timer,
                                  lambda u: last_run_text(u).startswith("success"))
        check = next(c for c in backend.evaluate(await backend.collect())
                     if c.target == f"unit:{timer}")
    finally:
        await backend.close()
    ran = after.triggered
    assert ran is not None and ran.duration is not None
    assert 1.2 <= ran.duration < 30, ran
    assert last_run_text(after) == f"success in {ran.duration:.1f}s"
    assert check.status is Status.OK
    assert f"last run success in {ran.duration:.1f}s" in check.summary
    assert "done" in systemd_machine.journal(service)
    records = AuditLog(state_dir).records()
    assert [(r.phase, r.verb, r.target) for r in records] == [
        ("started", "run", f"unit:{timer}"), ("finished", "run", f"unit:{timer}")]


async def test_a_failing_run_fails_the_action_and_turns_the_timer_red(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        state_dir: Path) -> None:
    service = make_unit(f"{prefix}-bad.service", oneshot("echo broken input >&2; exit 3"))
    timer = make_unit(f"{prefix}-bad.timer", hourly_timer(service))
    systemd_machine.systemctl("start", timer)
    backend = make_backend(systemd_machine, [f"{prefix}-*"], state_dir)
    try:
        state, message = await run_action(backend, state_dir, timer, "run")
        after = await timer_state(backend, timer, lambda u: last_run_text(u).startswith("failed"))
        check = next(c for c in backend.evaluate(await backend.collect())
                     if c.target == f"unit:{timer}")
    finally:
        await backend.close()
    assert state == "failed", message
    assert f"start {service} failed" in message
    assert last_run_text(after).startswith("failed (exit 3) after ")
    assert check.status is Status.CRITICAL
    assert f"last run of {service} failed (exit 3)" in check.summary


def test_headless_start_of_a_timers_service_is_run_now(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    service = make_unit(f"{prefix}-cli.service", oneshot("echo ran-by-cli"))
    timer = make_unit(f"{prefix}-cli.timer", hourly_timer(service))
    systemd_machine.systemctl("start", timer)
    config = write_config(config_text(systemd_machine, [f"{prefix}-*"]))
    done = subprocess.run([*OPSCONSOLE, "--headless", "start", f"unit:{service}", "--yes",
                           "--config", str(config)], capture_output=True, text=True, env=cli_env,
                          timeout=90, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"started {service}: inactive (dead)")
    shown = systemd_machine.systemctl("show", "-P", "Result", service).stdout.strip()
    assert shown == "success"
    assert "ran-by-cli" in systemd_machine.journal(service)

    checked = subprocess.run([*OPSCONSOLE, "--headless", "check", "--config", str(config)],
                             capture_output=True, text=True, env=cli_env, timeout=90,
                             check=False, stdin=subprocess.DEVNULL)
    assert f"OK unit:{timer} - waiting · next in " in checked.stdout, checked.stdout
    assert "· last run success in " in checked.stdout
