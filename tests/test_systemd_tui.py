"""The Units view and a unit's detail view, driven with Pilot against the real systemd."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from console.config import load_config
from console.sandbox.systemd_machine import SystemdMachine
from screens.app import OpsConsoleApp
from screens.confirm import ConfirmScreen
from screens.unit_detail import UnitDetailScreen
from screens.units import UnitsScreen
from tests.test_systemd_fixtures import UnitFactory, config_text, make_unit, prefix
from widgets.live_table import LiveTable
from widgets.log_view import LogView

__all__ = ["make_unit", "prefix"]  # fixtures used by name


async def wait_until(pilot: Pilot[int], condition: Callable[[], object], what: str,
                     timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


def row_texts(table: LiveTable, key: str) -> list[str]:
    return [getattr(cell, "plain", str(cell)) for cell in table.get_row(key)]


def row_by_label(table: LiveTable, key: str) -> dict[str, str]:
    """A row's cells by the label of the column they show in (columns fit the width)."""
    return dict(zip(table.shown_columns, row_texts(table, key), strict=True))


async def test_units_view_restart_and_journal(systemd_machine: SystemdMachine,
                                              make_unit: UnitFactory, prefix: str,
                                              write_config: Callable[[str], Path]) -> None:
    web = make_unit(f"{prefix}-web.service", (
        f"[Unit]\nDescription=web app {prefix}\n[Service]\n"
        f"ExecStart=/bin/sh -c 'echo serving {prefix}; echo \"<3>cache down {prefix}\"; "
        "sleep infinity'\n"))
    broken = make_unit(f"{prefix}-broken.service", "[Service]\nExecStart=/bin/sh -c 'exit 2'\n")
    systemd_machine.systemctl("start", web)
    systemd_machine.systemctl("start", broken, check=False)
    pid_before = systemd_machine.systemctl("show", "-P", "MainPID", web).stdout.strip()
    config = write_config(config_text(systemd_machine, [f"{prefix}-*"], "interval = 1"))
    app = OpsConsoleApp(load_config(str(config)))
    backend_id = "systemd:system"
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("2")
        assert isinstance(app.screen, UnitsScreen)
        table = app.screen.query_one("#units", LiveTable)
        await wait_until(pilot, lambda: table.row_count == 2, "both units listed")
        # Failed first, in red, then the running one with its real PID.
        first = row_by_label(table, f"{backend_id}|{broken}")
        assert table.selected_key == f"{backend_id}|{broken}"
        assert (first["Status"], first["Unit"], first["Active"]) == ("CRIT", broken, "failed")
        running = row_by_label(table, f"{backend_id}|{web}")
        assert (running["Status"], running["Active"], running["PID"]) == ("OK", "active",
                                                                         pid_before)
        assert running["Memory"] == "n/a" or running["Memory"][-1] in "BKMG"

        await pilot.press("down", "R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: bool(app.session.dispatcher.runs)
                         and app.session.dispatcher.runs[-1].state in ("ok", "failed"), "the restart")
        run = app.session.dispatcher.runs[-1]
        assert (run.state, run.spec.verb, run.spec.target) == ("ok", "restart", f"unit:{web}")
        pid_after = systemd_machine.systemctl("show", "-P", "MainPID", web).stdout.strip()
        assert pid_after != pid_before
        await wait_until(pilot, lambda: row_by_label(table, f"{backend_id}|{web}")["PID"]
                         == pid_after, "the new PID on screen")

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, UnitDetailScreen), "details")
        log = app.screen.query_one(LogView)
        marker = f"cache down {prefix}"
        await wait_until(pilot, lambda: sum(marker in e.text for e in log.entries) >= 2,
                         "both runs' lines in the journal view")
        assert all(e.is_error for e in log.entries if marker in e.text)
        await pilot.press("slash", *"serving")
        assert log.term == "serving"
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, UnitsScreen)
