"""The Processes view with Pilot: a real supervisord's programs and a real process, keys act."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from console.config import load_config
from console.sandbox.supervisor_daemon import SupervisorDaemon
from screens.app import OpsConsoleApp
from screens.confirm import ConfirmScreen
from screens.processes import ProcessesScreen
from widgets.live_table import LiveTable


async def wait_until(pilot: Pilot[int], condition: Callable[[], object], what: str,
                     timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


def row_texts(table: LiveTable, key: str) -> list[str]:
    return [getattr(cell, "plain", str(cell)) for cell in table.get_row(key)]


async def test_processes_view_lists_programs_worst_first_and_starts_one(
        supervisor_factory: Callable[..., SupervisorDaemon], tmp_path: Path,
        write_config: Callable[[str], Path]) -> None:
    daemon = supervisor_factory()
    daemon.wait_state("crasher", ("FATAL",))
    marker = f"octb-tui-{tmp_path.name}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker])
    try:
        config = write_config(
            f'[console]\nrefresh = 1\n[[supervisor]]\nname = "main"\nurl = "{daemon.url}"\n'
            f'username = "ops"\npassword = "{daemon.password}"\n'
            f'[[process]]\nname = "sched"\npattern = "{marker}"\n')
        app = OpsConsoleApp(load_config(str(config)))
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("P")
            assert isinstance(app.screen, ProcessesScreen)
            programs = app.screen.query_one("#programs", LiveTable)
            processes = app.screen.query_one("#processes", LiveTable)
            await wait_until(pilot, lambda: programs.row_count == 3 and processes.row_count == 1,
                             "programs and the process listed")
            crasher = row_texts(programs, "program:crasher")
            assert crasher[:3] == ["CRIT", "crasher", "FATAL"]
            assert crasher[6] == "Exited too quickly (process log may have details)"
            assert programs.selected_key == "program:crasher"  # worst first
            assert row_texts(programs, "program:steady")[:3] == ["OK", "steady", "RUNNING"]
            sched = row_texts(processes, "process:sched")
            assert sched[0] == "OK" and sched[3] == "1" and f"PID {proc.pid}" in sched[4]

            await wait_until(pilot, lambda: row_texts(programs, "program:idle")[2] == "STOPPED",
                             "idle stopped")
            order = [key for key, _ in programs._rows]
            programs.move_cursor(row=order.index("program:idle"))
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
            await pilot.press("y")
            await wait_until(pilot, lambda: bool(app.session.dispatcher.runs)
                             and app.session.dispatcher.runs[-1].state in ("ok", "failed"),
                             "the start")
            run = app.session.dispatcher.runs[-1]
            assert (run.state, run.spec.verb, run.spec.target) == ("ok", "start", "program:idle")
            assert daemon.state("idle") == "RUNNING"
            await wait_until(pilot, lambda: row_texts(programs, "program:idle")[2] == "RUNNING",
                             "idle running on screen")
    finally:
        proc.kill()
        proc.wait()
