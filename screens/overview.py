"""The overview: every check of every backend, worst first across all targets.

The Polled column stays empty while a check is fresh and shows its poll time once it is
stale: a cell that changed on every poll would redraw the whole table for nothing.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from console.core.durations import clock
from console.core.loglines import printable
from console.core.model import CheckResult
from screens.base import ConsoleScreen
from widgets.live_table import LiveTable, Row
from widgets.quiet import set_text
from widgets.status_text import status_cell, styled


def _cells(check: CheckResult, polled: str, quiet: str | None) -> tuple[Text, ...]:
    if quiet is not None:  # its real status, dimmed, with who, why and until
        return (Text(check.status.short, style="dim"), Text(check.label, style="dim"),
                Text(polled, style="dim"),
                Text(f"{check.summary} · {printable(quiet)}", style="dim"))
    return (status_cell(check.status), Text(check.label), Text(polled, style="bold yellow"),
            styled(check.summary, check.status))


class OverviewScreen(ConsoleScreen):
    VIEW = "overview"
    # the row last made for each check, with what it was made from (replaced whole on each
    # refresh, never changed in place)
    _made: dict[str, tuple[CheckResult, str, str | None, Row]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static(id="notice")
        yield LiveTable([("Status", 4), ("Target", None), ("Polled", None, 3), ("Summary", None)],
                        id="checks")

    def refresh_view(self) -> None:
        notice = self.query_one("#notice", Static)
        text = self.ops.notice_text()
        notice.display = bool(text)
        if text:
            set_text(notice, text)
        self.query_one(LiveTable).set_rows(self._rows())

    def _rows(self) -> list[Row]:
        session = self.session  # looked up once: each lookup goes through the app
        silenced = session.silenced
        now = time.time()
        rows: list[Row] = []
        made: dict[str, tuple[CheckResult, str, str | None, Row]] = {}
        for check, _ in session.checks_worst_first():
            stale = session.stale_since(check.key, now)
            polled = f"{clock(stale)} (stale)" if stale is not None else ""
            quiet = silenced.get(check.target)
            before = self._made.get(check.key)
            if before is not None and before[1:3] == (polled, quiet) and before[0] == check:
                row = before[3]  # the same cells: the table skips them without a look
            else:
                row = (check.key, _cells(check, polled, quiet))
            made[check.key] = (check, polled, quiet, row)
            rows.append(row)
        self._made = made
        return rows

    def apply_filter(self, text: str) -> None:
        self.query_one(LiveTable).set_filter(text)

    def _selected_check(self) -> CheckResult | None:
        key = self.query_one(LiveTable).selected_key
        return self.session.check(key) if key else None

    def selected_target(self) -> str | None:
        check = self._selected_check()
        return check.target if check else None

    def action_details(self) -> None:
        check = self._selected_check()
        if check is not None:
            self.ops.open_details(check)

    def on_data_table_row_selected(self) -> None:
        self.action_details()
