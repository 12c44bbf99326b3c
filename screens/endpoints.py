"""HTTP endpoints: status, code, latency and the last error of each."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from console.core.durations import clock
from console.core.model import Status
from screens.base import ConsoleScreen
from widgets.live_table import LiveTable, Row
from widgets.status_text import status_cell, styled


class EndpointsScreen(ConsoleScreen):
    VIEW = "endpoints"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "verb('check')", "check now"),
    ]

    def compose_body(self) -> ComposeResult:
        yield LiveTable([("Status", 6), ("Name", 18), ("URL", 40), ("Code", 5),
                         ("Latency", 9), ("Last error", None), ("Checked", 8)], id="endpoints")

    def refresh_view(self) -> None:
        rows: list[Row] = []
        for view in self.session.board.backend_views("http"):
            snap = view.result.snapshot if view.result else None
            check = view.result.checks[0] if view.result and view.result.checks else None
            status = check.status if check else Status.UNKNOWN
            url = getattr(view.backend, "config", None)
            code = str(getattr(snap, "status_code", "") or "-")
            latency = getattr(snap, "latency", None)
            last_error = view.last_problem or ""
            rows.append((view.backend.id, (
                status_cell(status), Text(view.backend.name),
                Text(getattr(url, "url", ""), overflow="ellipsis"), Text(code),
                Text(f"{latency * 1000:.0f} ms" if latency is not None else "-"),
                styled(last_error, status if status is not Status.OK else Status.WARNING),
                Text(clock(view.result.polled_at) if view.result else "-", style="dim"))))
        rows.sort(key=lambda r: r[0])
        self.query_one(LiveTable).set_rows(rows)

    def apply_filter(self, text: str) -> None:
        self.query_one(LiveTable).set_filter(text)

    def selected_target(self) -> str | None:
        key = self.query_one(LiveTable).selected_key
        return f"http:{key.split(':', 1)[1]}" if key else None
