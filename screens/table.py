"""The base of the views built on live tables (units, containers, queues, celery, ...).

A `TableScreen` shows what one backend class says: a notice line above the tables names
every backend with a problem ("NAME: waiting for the first poll", "NAME unreachable since
03:12:05: reason"), the filter narrows every table, the selection is the row under the cursor
of the focused table (else the last focused, else the first), and enter on a row opens its
details through `open_details(key)`. Subclasses compose their tables and fill them from
`self.polled()`, reading each target's status from its polled check.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static

from backends.base import Backend
from console.core.scrub import scrub_text
from console.session import Polled
from screens.base import ConsoleScreen
from widgets.live_table import LiveTable
from widgets.quiet import set_text

S = TypeVar("S")

NOTICE_LINES = 4


def problem_line(polled: Polled[Any]) -> str | None:
    """The notice for one backend, or None when it has a fresh snapshot."""
    problem = polled.problem
    if problem is None:
        return None
    name = polled.backend.name
    return f"{name} {problem}" if problem.startswith("unreachable") else f"{name}: {problem}"


class TableScreen(ConsoleScreen, Generic[S]):
    """A view of live tables fed by every backend of one class.

    `compose_tables` yields the tables (the first is the primary one) and any captions
    between them.
    """

    def __init__(self, backend_type: type[Backend[S]]) -> None:
        super().__init__()
        self.backend_type = backend_type
        self._last_table: LiveTable | None = None

    # -- layout ---------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield Static("", id="table-notice", classes="table-notice")
        yield from self.compose_tables()

    def compose_tables(self) -> ComposeResult:
        yield from ()

    # -- what the backends say ------------------------------------------------------------
    def polled(self) -> list[Polled[S]]:
        """Every backend this view shows, with its typed snapshot, in config order."""
        return self.session.polled(self.backend_type)

    def extra_notices(self, polled: list[Polled[S]]) -> Iterable[str]:
        """Further notes for the notice line (an events stream reconnecting...)."""
        return ()

    def refresh_all(self) -> None:
        clean = functools.partial(scrub_text, redact=self.session.config.redactor)
        for table in self.tables():
            table.clean = clean
        super().refresh_all()
        self.show_notice()

    def show_notice(self) -> None:
        """One line per backend with a problem (red), then the view's own notes."""
        polled = self.polled()
        text = Text()
        lines = [(line, "bold red") for line in map(problem_line, polled) if line]
        lines += [(line, "yellow") for line in self.extra_notices(polled)]
        for index, (line, style) in enumerate(lines[:NOTICE_LINES]):
            text.append(("\n" if index else "") + line, style=style)
        notice = self.query_one("#table-notice", Static)
        set_text(notice, text)
        notice.display = bool(lines)

    # -- selection ------------------------------------------------------------------------
    def tables(self) -> list[LiveTable]:
        return list(self.query(LiveTable))

    def table(self) -> LiveTable:
        """The focused table, else the one focused last, else the primary (first) one."""
        focused = self.focused
        if isinstance(focused, LiveTable):
            self._last_table = focused
            return focused
        if self._last_table is not None and self._last_table.is_attached:
            return self._last_table
        return self.tables()[0]

    def selected_key(self) -> str | None:
        return self.table().selected_key

    def selected_target(self) -> str | None:
        return self.selected_key()

    def apply_filter(self, text: str) -> None:
        for table in self.tables():
            table.set_filter(text)

    # -- details --------------------------------------------------------------------------
    def action_details(self) -> None:
        if isinstance(self.focused, Input):  # enter in the filter line ends the filter
            self.table().focus()
            return
        key = self.selected_key()
        if key is None:
            self.notify(f"Select a {self.NOUN} first.", severity="warning")
            return
        self.open_details(key)

    def open_details(self, key: str) -> None:
        """Show the row `key` in detail; by default the check of its target, if any."""
        target = self.selected_target()
        check = next((c for p in self.polled() for c in p.checks if c.target == target), None)
        if check is not None:
            self.ops.open_details(check)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()
