"""Timeline: what happened, in order, across every target (key h, or the palette).

One row per event, oldest first: status transitions, the systems' own events (journal,
Docker, Celery failures) and the operators' actions, read for a window when the view opens
(`l` reads again). `/` filters by text (a target), `k` cycles the kind, `s` the status, `w`
the window; `f` jumps to the first failure; enter goes to the event's target view. A source
that could not be read is named above the table. Every string is shown as plain text.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from console.core.durations import clock, format_span
from console.core.errors import ConsoleError
from console.core.model import Status
from console.core.timeline import KINDS, TimelineEvent
from console.timeline import Timeline, select
from screens.base import ConsoleScreen, FilterInput
from widgets.live_table import LiveTable, Row
from widgets.status_text import STYLE

WINDOWS = (3600.0, 2 * 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
STATUS_FILTERS: tuple[tuple[str, tuple[Status, ...]], ...] = (
    ("all", ()), ("not OK", (Status.WARNING, Status.CRITICAL, Status.UNKNOWN)),
    ("CRITICAL", (Status.CRITICAL,)), ("WARNING", (Status.WARNING,)))


class TimelineScreen(ConsoleScreen):
    VIEW = "timeline"
    NOUN = "event"
    DEFAULT_CSS = """
    TimelineScreen #timeline-caption { height: auto; max-height: 4; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "first_failure", "first failure"),
        Binding("k", "cycle_kind", "kind"),
        Binding("s", "cycle_status", "status"),
        Binding("w", "cycle_window", "window"),
        Binding("l", "reload", "reload"),
    ]

    def __init__(self, window: float = 2 * 3600.0) -> None:
        super().__init__()
        self.window = window
        self.kind = ""  # "" all, else one of KINDS
        self.status_filter = 0
        self.timeline: Timeline | None = None
        self.shown: list[TimelineEvent] = []

    def compose_body(self) -> ComposeResult:
        yield Static("reading the timeline...", id="timeline-caption")
        yield LiveTable([("Time", 8), ("Status", 6), ("Kind", 6, 2), ("Target", 30, 1),
                         ("Event", 18, 3), ("Details", None)], id="timeline")

    def on_mount(self) -> None:
        super().on_mount()
        self.action_reload()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.action_reload()  # back on the view: read what happened meanwhile

    @work(exclusive=True, group="timeline")
    async def action_reload(self) -> None:
        session = self.session
        now = time.time()
        try:
            self.timeline = await session.timeline(now - self.window, now)
        except ConsoleError as exc:  # a fleet host that cannot answer now
            self.query_one("#timeline-caption", Static).update(
                Text(f"not read: {exc}", style="bold red"))
            return
        self.refresh_view()

    # -- drawing --------------------------------------------------------------------------
    def refresh_view(self) -> None:
        if self.timeline is None:
            return
        _, statuses = STATUS_FILTERS[self.status_filter]
        self.shown = select(self.timeline.events, kinds=(self.kind,) if self.kind else (),
                            statuses=statuses)
        rows: list[Row] = []
        for index, event in enumerate(self.shown):
            style = STYLE[event.status] if event.status is not None else "dim"
            word = event.status.short if event.status is not None else "-"
            rows.append((str(index), (Text(clock(event.ts)), Text(word, style=style),
                                      Text(event.kind), Text(event.target),
                                      Text(event.what), Text(event.summary))))
        self.query_one(LiveTable).set_rows(rows)
        self.query_one("#timeline-caption", Static).update(self._caption())

    def _caption(self) -> Text:
        timeline = self.timeline
        assert timeline is not None
        text = Text()
        text.append(f"Last {format_span(self.window)}: {len(self.shown)} of "
                    f"{len(timeline.events)} events · kind {self.kind or 'all'} · status "
                    f"{STATUS_FILTERS[self.status_filter][0]}")
        first = timeline.first_failure()
        if first is not None:
            text.append(f" · first failure {clock(first.ts)} {first.target}",
                        style=STYLE[first.status or Status.CRITICAL])
        for source, reason in timeline.problems:
            text.append(f"\nnot read: {source}: {reason}", style="bold red")
        return text

    # -- keys -----------------------------------------------------------------------------
    def selected_event(self) -> TimelineEvent | None:
        key = self.query_one(LiveTable).selected_key
        return self.shown[int(key)] if key is not None and int(key) < len(self.shown) else None

    def selected_target(self) -> str | None:
        event = self.selected_event()
        return event.target if event else None

    def apply_filter(self, text: str) -> None:
        self.query_one(LiveTable).set_filter(text)

    def on_data_table_row_selected(self) -> None:
        target = self.selected_target()
        if target is not None:
            self.ops.show_view_for(target)

    def action_first_failure(self) -> None:
        first = self.timeline.first_failure() if self.timeline else None
        if first is None:
            self.notify("No target left OK in this window.", timeout=3)
            return
        if first not in self.shown:
            self.kind, self.status_filter = "", 0
            self.refresh_view()
        self.query_one(FilterInput).value = ""
        table = self.query_one(LiveTable)
        table.set_filter("")
        table.move_cursor(row=self.shown.index(first))
        table.focus()

    def action_cycle_kind(self) -> None:
        order = ("", *KINDS)
        self.kind = order[(order.index(self.kind) + 1) % len(order)]
        self.refresh_view()

    def action_cycle_status(self) -> None:
        self.status_filter = (self.status_filter + 1) % len(STATUS_FILTERS)
        self.refresh_view()

    def action_cycle_window(self) -> None:
        position = WINDOWS.index(self.window) if self.window in WINDOWS else 0
        self.window = WINDOWS[(position + 1) % len(WINDOWS)]
        self.action_reload()
