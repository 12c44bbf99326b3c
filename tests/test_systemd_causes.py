"""The cause on a troubled unit's row, against a real systemd and its journal.

Each failure of a unit that stays failed is quoted once it happens; a unit that systemd keeps
restarting is quoted from a journal read at most every REREAD seconds, and a newer failure
shows once that time has passed.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from backends.systemd import causes
from backends.systemd.backend import SystemdBackend
from console.sandbox.systemd_machine import SystemdMachine
from tests.test_docker_support import wait_for
from tests.test_systemd_fixtures import UnitFactory, make_backend, make_unit, prefix

__all__ = ["make_unit", "prefix"]


def _counting(counter: str, restart: str) -> str:
    """A unit that says which attempt it is on stderr, then fails."""
    return ("[Unit]\nStartLimitIntervalSec=0\n[Service]\n"
            f"ExecStart=/bin/sh -c 'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); "
            f"echo $n > {counter}; echo Fatal: attempt $n >&2; sleep 0.2; exit 3'\n{restart}")


def _attempt(summary: str) -> int:
    assert "Fatal: attempt " in summary, summary
    return int(summary.split("Fatal: attempt ")[1].split()[0].strip('"'))


async def _summary(backend: SystemdBackend) -> str:
    [check] = backend.evaluate(await backend.collect())
    return check.summary


def _journaled(machine: SystemdMachine, name: str, attempt: int) -> bool:
    """Whether the unit's journal holds its line of this attempt yet."""
    wanted = f"Fatal: attempt {attempt}"
    return any(json.loads(line).get("MESSAGE") == wanted
               for line in machine.journal(name).splitlines() if line.strip())


async def _quoted(backend: SystemdBackend, attempt: int) -> None:
    """Poll until the row quotes this attempt (the unit's new state may take a signal)."""
    deadline = time.monotonic() + 30
    while f'Fatal: attempt {attempt}"' not in (summary := await _summary(backend)):
        assert time.monotonic() < deadline, f"attempt {attempt} never quoted: {summary}"
        await asyncio.sleep(0.2)


async def test_each_failure_of_a_failed_unit_is_quoted(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(causes, "REREAD", 300.0)
    name = make_unit(f"{prefix}-once.service", _counting(f"/run/{prefix}-count", ""))
    backend = make_backend(systemd_machine, [name], tmp_path / "state")
    backend.watch(lambda: None)  # as the console does: signals say when a unit changed

    def failed() -> bool:
        return systemd_machine.systemctl("is-failed", name, check=False).stdout.strip() \
            == "failed"

    try:
        for attempt in (1, 2):
            systemd_machine.systemctl("start", name, check=False)

            def quoted_and_failed(attempt: int = attempt) -> bool:
                return _journaled(systemd_machine, name, attempt) and failed()

            wait_for(quoted_and_failed, what=f"attempt {attempt} to fail")
            await _quoted(backend, attempt)
    finally:
        await backend.close()


async def test_a_restarting_unit_is_quoted_from_a_journal_read_now_and_then(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(causes, "REREAD", 300.0)
    name = make_unit(f"{prefix}-loop.service",
                     _counting(f"/run/{prefix}-count", "Restart=always\nRestartSec=100ms\n"))
    systemd_machine.systemctl("start", name)
    wait_for(lambda: _journaled(systemd_machine, name, 2), what="a restart")
    backend = make_backend(systemd_machine, [name], tmp_path / "state",
                           restarts={"warn": 1, "crit": 50})
    backend.watch(lambda: None)
    try:
        first = _attempt(await _summary(backend))
        deadline = time.monotonic() + 30
        while not _journaled(systemd_machine, name, first + 3):  # polls catch every state
            assert _attempt(await _summary(backend)) == first  # read within REREAD: kept
            assert time.monotonic() < deadline, "the unit stopped restarting"
            await asyncio.sleep(0.05)
        monkeypatch.setattr(causes, "REREAD", 0.0)
        assert _attempt(await _summary(backend)) >= first + 3  # REREAD passed: read again
    finally:
        await backend.close()


async def test_a_unit_that_recovered_is_quoted_afresh_when_it_fails_again(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a unit is well again (stopped, no restart within restarts_window) its cause is
    forgotten: the next crash loop quotes its own failure at once, never one from before."""
    monkeypatch.setattr(causes, "REREAD", 300.0)
    counter = f"/run/{prefix}-count"
    name = make_unit(f"{prefix}-again.service",
                     _counting(counter, "Restart=always\nRestartSec=100ms\n"))
    backend = make_backend(systemd_machine, [name], tmp_path / "state",
                           restarts={"warn": 1, "crit": 1000}, restarts_window="3s")
    backend.watch(lambda: None)
    try:
        systemd_machine.systemctl("start", name)
        wait_for(lambda: _journaled(systemd_machine, name, 2), what="a restart")
        assert "Fatal: attempt" in await _summary(backend)
        systemd_machine.systemctl("stop", name)
        deadline = time.monotonic() + 30
        while True:  # until no restart is left in the window
            [check] = backend.evaluate(await backend.collect())
            if [p.value for p in check.perfdata] == [0]:
                break
            assert time.monotonic() < deadline, f"still restarting: {check.summary}"
            await asyncio.sleep(0.2)
        assert check.summary == "inactive (dead): not running"
        stopped_at = int(systemd_machine.run_inside("cat", counter).stdout.strip())
        systemd_machine.systemctl("start", name)
        wait_for(lambda: _journaled(systemd_machine, name, stopped_at + 2), what="new restarts")
        deadline = time.monotonic() + 30
        while (quoted := _attempt(await _summary(backend))) <= stopped_at:
            assert time.monotonic() < deadline, \
                f"still quotes attempt {quoted}, from before the unit was stopped"
            await asyncio.sleep(0.2)
    finally:
        await backend.close()
