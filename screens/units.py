"""systemd units: state, since when, restarts, PID, memory and CPU; timers with their runs.

Failed units come first and red. Keys act on the unit under the cursor: enter opens its
properties and journal, R restarts, s starts, S stops, l reloads (when it can); on a timer, n
runs its service now.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from backends.systemd.backend import SystemdBackend
from backends.systemd.listing import SystemdSnapshot, UnitState
from backends.systemd.verdicts import (
    cpu_text,
    last_run_text,
    memory_text,
    since_text,
    timer_text,
)
from console.core.model import CheckResult, Status
from screens.table import TableScreen
from widgets.live_table import Column, LiveTable, Row
from widgets.status_text import STYLE, status_cell, styled

# Identity and status always; then Active and Restarts; the Note (the cause for a unit in
# trouble, else its description) takes what is left; the rest hide as the terminal narrows.
UNIT_COLUMNS: list[Column] = [
    ("Status", 4), ("Unit", None), ("Active", 10, 1), ("Sub", 12, 2), ("Restarts", 8, 1),
    ("Since", 9, 3), ("PID", 8, 5), ("Memory", 8, 4), ("CPU", 8, 4), ("Load", 9, 6),
    ("Note", None)]
TIMER_COLUMNS: list[Column] = [("Status", 4), ("Timer", None), ("State", 10, 1),
                               ("Last run", 26, 1), ("Next · last · runs", None)]


def _severity(status: Status) -> int:
    return -status.severity


class UnitsScreen(TableScreen[SystemdSnapshot]):
    VIEW = "units"
    NOUN = "unit"
    DEFAULT_CSS = """
    UnitsScreen #units { height: 2fr; }
    UnitsScreen #timers { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: the table would otherwise take enter and hide it from the footer
        Binding("enter", "details", "details", priority=True),
        Binding("R", "verb('restart')", "restart", key_display="R"),
        Binding("s", "verb('start')", "start"),
        Binding("S", "verb('stop')", "stop", key_display="S"),
        Binding("l", "verb('reload')", "reload"),
        Binding("n", "verb('run')", "run now"),
    ]

    def __init__(self) -> None:
        super().__init__(SystemdBackend)

    def compose_tables(self) -> ComposeResult:
        yield LiveTable(UNIT_COLUMNS, id="units")
        yield Static("Timers", classes="caption")
        yield LiveTable(TIMER_COLUMNS, id="timers")

    def refresh_view(self) -> None:
        unit_rows: list[tuple[tuple[int, str], Row]] = []
        timer_rows: list[tuple[tuple[int, str], Row]] = []
        for polled in self.polled():
            snapshot = polled.snapshot
            if snapshot is None:
                continue
            for unit in snapshot.units:
                check = polled.check(unit.target)
                status = polled.status(unit.target)
                key = f"{polled.backend.id}|{unit.name}"
                order = (_severity(status), unit.name)
                if unit.kind == "timer":
                    timer_rows.append((order, (key, self._timer_cells(unit, status))))
                else:
                    unit_rows.append((order, (key, self._unit_cells(unit, status, check))))
        self.query_one("#units", LiveTable).set_rows([row for _, row in sorted(unit_rows)])
        self.query_one("#timers", LiveTable).set_rows([row for _, row in sorted(timer_rows)])

    @staticmethod
    def _unit_cells(unit: UnitState, status: Status, check: CheckResult | None) -> tuple[Any, ...]:
        red = status is Status.CRITICAL
        name_style = STYLE[status] if red else ""
        restarts = "n/a" if unit.restarts is None else str(unit.restarts)
        if unit.restarts_in_window:
            restarts += f" (+{unit.restarts_in_window})"
        if status is Status.OK or check is None:
            note = Text(unit.description, overflow="ellipsis")
        elif unit.cause:  # the journal's word first: the state has columns of its own
            note = styled(f'"{unit.cause}"', status)
        else:
            note = styled(check.summary, status)
        return (status_cell(status), Text(unit.name, style=name_style, overflow="ellipsis"),
                styled(unit.active, status), Text(unit.sub),
                styled(restarts, status if unit.restarts_in_window else Status.OK),
                Text(since_text(unit) or "-"),
                Text(str(unit.main_pid) if unit.main_pid else "-"),
                Text(memory_text(unit)), Text(cpu_text(unit)), Text(unit.load), note)

    @staticmethod
    def _timer_cells(unit: UnitState, status: Status) -> tuple[Any, ...]:
        ran = unit.triggered
        failed = ran is not None and (ran.active == "failed" or ran.result not in ("", "success"))
        return (status_cell(status), Text(unit.name, overflow="ellipsis"),
                styled(unit.sub or unit.active, status),
                styled(last_run_text(unit) or "-", Status.CRITICAL if failed else Status.OK),
                styled(timer_text(unit), status))

    # -- selection and keys ---------------------------------------------------------------
    def _selected(self) -> tuple[str, str] | None:
        key = self.selected_key()
        if not key:
            return None
        backend_id, _, unit = key.partition("|")
        return backend_id, unit

    def selected_target(self) -> str | None:
        selected = self._selected()
        return f"unit:{selected[1]}" if selected else None

    def open_details(self, key: str) -> None:
        from screens.unit_detail import UnitDetailScreen

        backend_id, _, unit = key.partition("|")
        self.app.push_screen(UnitDetailScreen(backend_id, unit))
