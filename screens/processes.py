"""Supervisor programs, plain processes and cron jobs: the services that are not systemd units.

Three tables, worst first within each: programs with state, uptime, PID and the cause of a
failure; `[[process]]` entries with their count, PIDs and uptime; cron jobs with schedule,
last run and next run. Keys act on the row under the cursor: R restart, s start, S stop
(programs; s also starts a process entry), n runs a cron job now; enter shows the check.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from backends.base import Backend
from console.core.durations import clock, format_span
from console.core.model import Status
from console.session import Polled
from screens.table import TableScreen
from widgets.live_table import Column, LiveTable, Row
from widgets.status_text import status_cell, styled

# Identity and status always, then the key count or state; the cause or summary takes what
# is left, and the rest hide as the terminal narrows.
PROGRAM_COLUMNS: list[Column] = [("Status", 6), ("Program", None), ("State", 9, 1),
                                 ("Uptime", 9, 3), ("PID", 8, 4), ("Exit", 5, 2),
                                 ("Cause", None)]
PROCESS_COLUMNS: list[Column] = [("Status", 6), ("Process", None), ("Pattern", 30, 3),
                                 ("Count", 6, 1), ("Summary", None)]
CRON_COLUMNS: list[Column] = [("Status", 6), ("Job", None), ("Schedule", 14, 2), ("User", 9, 4),
                              ("Last run", 10, 1), ("Next", 9, 3), ("Summary", None)]

KINDS = ("supervisor", "process", "cron")


class ProcessesScreen(TableScreen[Any]):
    VIEW = "processes"
    NOUN = "program, process or job"
    DEFAULT_CSS = """
    ProcessesScreen #programs { height: 1fr; }
    ProcessesScreen #processes { height: 1fr; }
    ProcessesScreen #cronjobs { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "details", priority=True),
        Binding("R", "verb('restart')", "restart", key_display="R"),
        Binding("s", "verb('start')", "start"),
        Binding("S", "verb('stop')", "stop", key_display="S"),
        Binding("n", "verb('run')", "run job now"),
    ]

    def __init__(self) -> None:
        super().__init__(Backend)  # type: ignore[type-abstract]  # polled() picks the kinds

    def polled(self) -> list[Polled[Any]]:
        return [p for kind in KINDS for p in self.session.polled_kind(kind)]

    def compose_tables(self) -> ComposeResult:
        yield Static("Supervisor programs", classes="caption")
        yield LiveTable(PROGRAM_COLUMNS, id="programs")
        yield Static("Processes", classes="caption")
        yield LiveTable(PROCESS_COLUMNS, id="processes")
        yield Static("Cron jobs", classes="caption")
        yield LiveTable(CRON_COLUMNS, id="cronjobs")

    def refresh_view(self) -> None:
        rows: dict[str, list[tuple[tuple[int, str], Row]]] = {k: [] for k in KINDS}
        for polled in self.polled():
            snapshot = polled.snapshot
            if snapshot is None:
                continue
            kind = polled.backend.kind
            for target, cells in _rows(kind, snapshot, polled):
                order = (-polled.status(target).severity, target)
                rows[kind].append((order, (target, cells)))
        for kind, table_id in zip(KINDS, ("programs", "processes", "cronjobs"), strict=True):
            self.query_one(f"#{table_id}", LiveTable).set_rows(
                [row for _, row in sorted(rows[kind])])

    def selected_target(self) -> str | None:
        return self.selected_key()


def _rows(kind: str, snapshot: Any, polled: Polled[Any]) -> list[tuple[str, tuple[Any, ...]]]:
    out: list[tuple[str, tuple[Any, ...]]] = []
    if kind == "supervisor":
        for program in snapshot.programs:
            status = polled.status(program.target)
            uptime = program.uptime
            check = polled.check(program.target)
            cause = program.spawn_error or (program.stderr_tail[-1] if program.stderr_tail else "")
            out.append((program.target, (
                status_cell(status), Text(program.name, overflow="ellipsis"),
                styled(program.state, status),
                Text(format_span(uptime) if uptime is not None else "-"),
                Text(str(program.pid) if program.pid else "-"),
                Text(str(program.exit_status) if program.state == "EXITED" else "-"),
                styled(cause or (check.summary if check and status is not Status.OK else ""),
                       status))))
    elif kind == "process":
        status = polled.status(snapshot.target)
        check = polled.check(snapshot.target)
        out.append((snapshot.target, (
            status_cell(status), Text(snapshot.name, overflow="ellipsis"),
            Text(snapshot.pattern, overflow="ellipsis"), styled(str(len(snapshot.processes)), status),
            styled(check.summary if check else "", status))))
    elif kind == "cron":
        daemon = f"cron:{snapshot.name}"
        daemon_check = polled.check(daemon)
        status = polled.status(daemon)
        out.append((daemon, (status_cell(status), styled(f"({snapshot.name} daemon)", status),
                             Text(""), Text(""), Text(""), Text(""),
                             styled(daemon_check.summary if daemon_check else "", status))))
        for state in snapshot.jobs:
            job = state.job
            status = polled.status(job.target)
            check = polled.check(job.target)
            last = clock(state.last_run.started) if state.last_run else "never"
            out.append((job.target, (
                status_cell(status), Text(job.name, overflow="ellipsis"), Text(job.schedule),
                Text(job.user, overflow="ellipsis"), styled(last, status),
                Text(clock(state.next_due) if state.next_due else "-"),
                styled(check.summary if check else "", status))))
    return out
