"""HTTP endpoints: status, code, latency and the last error of each."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType

from backends.http.backend import HttpBackend
from backends.http.config import EndpointSnapshot
from console.core.durations import clock
from console.core.model import Status
from screens.table import TableScreen
from widgets.live_table import LiveTable, Row
from widgets.status_text import status_cell, styled


class EndpointsScreen(TableScreen[EndpointSnapshot]):
    VIEW = "endpoints"
    NOUN = "endpoint"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "verb('check')", "check now"),
    ]

    def __init__(self) -> None:
        super().__init__(HttpBackend)

    def compose_tables(self) -> ComposeResult:
        yield LiveTable([("Status", 4), ("Name", None), ("URL", 40, 4), ("Code", 5, 1),
                         ("Latency", 9, 2), ("Cert", 6, 3), ("Checked", 8, 5),
                         ("Last error", None)],
                        id="endpoints")

    def refresh_view(self) -> None:
        rows: list[Row] = []
        for polled in self.polled():
            backend = polled.backend
            snap = polled.snapshot
            status = polled.status(backend.id)
            url = backend.location()
            code = str(snap.status_code) if snap and snap.status_code else "-"
            latency = snap.latency if snap else None
            check = polled.check(backend.id)
            if check is not None and status is not Status.OK:
                cause = styled(check.summary, status)  # what it answered, now
            else:
                cause = Text(f"last: {polled.last_problem}" if polled.last_problem else "",
                             style="dim")
            cert = snap.cert if snap else None
            days = cert.days_left(snap.checked_at) if cert is not None and snap else None
            rows.append((backend.id, (
                status_cell(status), Text(backend.name),
                Text(url, overflow="ellipsis"), Text(code),
                Text(f"{latency * 1000:.0f} ms" if latency is not None else "-"),
                Text(f"{days}d" if days is not None else "-"),
                Text(clock(polled.result.polled_at) if polled.result else "-", style="dim"),
                cause)))
        rows.sort(key=lambda r: r[0])
        self.query_one(LiveTable).set_rows(rows)
