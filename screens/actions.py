"""Actions: running ones with progress, this session's and the audit log's recent history."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import RichLog, Static

from console.core.audit import AuditLog, AuditRecord
from console.core.durations import clock
from console.dispatcher import ActionRun
from screens.base import ConsoleScreen
from widgets.live_table import LiveTable, Row

_STATE_STYLE = {"running": "bold cyan", "ok": "green", "failed": "bold red",
                "refused": "yellow", "pending": "dim", "finished": "green"}


def _bar(fraction: float | None, width: int = 12) -> str:
    if fraction is None:
        return ""
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled) + f" {fraction * 100:3.0f}%"


class ActionsScreen(ConsoleScreen):
    VIEW = "actions"
    DEFAULT_CSS = """
    ActionsScreen #runs { height: 1fr; }
    ActionsScreen #output { height: 10; border-top: solid $primary; }
    ActionsScreen .caption { height: 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "reload_history", "reload history"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.history: list[AuditRecord] = []

    def compose_body(self) -> ComposeResult:
        yield Static("Actions of this console, then the audit log's recent history", classes="caption")
        yield LiveTable([("State", 8), ("Started", 8, 2), ("Action", 10), ("Target", 28, 1),
                         ("Progress", 18, 3), ("Message", None)], id="runs")
        yield RichLog(id="output", max_lines=500, markup=False, wrap=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.action_reload_history()

    @work(exclusive=True, group="audit-history")
    async def action_reload_history(self) -> None:
        log = AuditLog(self.session.config.console.state_dir)
        self.history = await asyncio.to_thread(log.records, None, 50)
        self.refresh_view()

    def refresh_view(self) -> None:
        rows: list[Row] = []
        own = {run.id for run in self.session.dispatcher.runs}
        for run in reversed(self.session.dispatcher.runs):
            rows.append((f"run-{run.id}", self._run_cells(run)))
        for record in reversed(self.history):
            if record.action_id in own or record.phase == "started":
                continue
            rows.append((f"audit-{record.id}", (
                Text(record.phase, style=_STATE_STYLE.get(record.phase, "")),
                Text(clock(record.ts)), Text(record.verb), Text(record.target), Text(""),
                Text(f"{record.who}: {record.error or record.outcome}"))))
        self.query_one(LiveTable).set_rows(rows)
        self._show_output()

    @staticmethod
    def _run_cells(run: ActionRun) -> tuple[Text, ...]:
        return (Text(run.state, style=_STATE_STYLE.get(run.state, "")), Text(clock(run.started)),
                Text(run.spec.verb), Text(run.spec.target), Text(_bar(run.fraction)),
                Text(run.message))

    def _show_output(self) -> None:
        key = self.query_one(LiveTable).selected_key or ""
        run = next((r for r in self.session.dispatcher.runs if f"run-{r.id}" == key), None)
        output = self.query_one(RichLog)
        lines = list(run.lines) if run else []
        if getattr(self, "_output_key", None) == (key, run.line_count if run else 0):
            return
        self._output_key = (key, run.line_count if run else 0)
        output.clear()
        for line in lines:
            output.write(line)

    def on_data_table_row_highlighted(self) -> None:
        self._show_output()

    def apply_filter(self, text: str) -> None:
        self.query_one(LiveTable).set_filter(text)
