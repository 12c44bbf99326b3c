"""Redis queues: one row per queue family with depth, trend, rate, processing and failed."""

from __future__ import annotations

import time
from typing import ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from backends.redis.backend import RedisBackend
from backends.redis.checks import rate_text
from backends.redis.history import sparkline
from backends.redis.peek import Peek
from backends.redis.snapshot import FamilySnapshot, RedisSnapshot
from console.core.durations import format_span
from console.core.model import Status
from console.core.scrub import scrub_text
from console.core.sizes import format_bytes
from console.session import Polled
from screens.dialog import Dialog
from screens.table import TableScreen
from widgets.live_table import LiveTable, Row
from widgets.status_text import status_cell, styled

PEEK_ITEMS = 20


def _count(value: int | None) -> Text:
    return Text("-" if value is None else f"{value:,}", justify="right")


class QueuesScreen(TableScreen[RedisSnapshot]):
    VIEW = "queues"
    NOUN = "queue"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "peek", show=True),
        Binding("t", "retry", "retry failed"),
        Binding("u", "requeue", "requeue stuck"),
        Binding("x", "purge", "purge failed"),
    ]

    def __init__(self) -> None:
        super().__init__(RedisBackend)

    def compose_tables(self) -> ComposeResult:
        yield LiveTable([("Status", 4), ("Queue", None), ("Depth", 9, 1), ("Trend", 16, 3),
                         ("Rate", 18, 4), ("Drain", 9, 3), ("Processing", 10, 1),
                         ("Failed", 8, 1), ("Note", None)], id="queues",
                        empty="no queue families configured")

    def refresh_view(self) -> None:
        rows: list[Row] = []
        now = time.time()
        for polled in self.polled():
            snap = polled.snapshot
            if snap is not None:
                rows.extend(self._family_row(family, polled, now) for family in snap.families)
                continue
            reason = (polled.result.error if polled.result else None) or (polled.problem or "")
            for target in polled.backend.targets():
                status = polled.status(target)
                name = target.split(":", 1)[1]
                rows.append((target, (status_cell(status), Text(name), _count(None), Text(""),
                                      Text(""), Text(""), _count(None), _count(None),
                                      styled(reason, status))))
        rows.sort(key=lambda r: r[0])
        self.query_one(LiveTable).set_rows(rows)

    @staticmethod
    def _family_row(family: FamilySnapshot, polled: Polled[RedisSnapshot], now: float) -> Row:
        status = polled.status(family.target)
        trend = family.trend
        note = "; ".join(family.problems) if family.problems else ""
        stuck = trend.stuck_for(now)
        stuck_limit = family.config.stuck_for
        if not note and family.processing and stuck_limit is not None and stuck >= stuck_limit:
            note = f"processing stuck {format_span(stuck)}"
        if not note and family.pending is not None:
            note = f"stream pending {family.pending:,}"
        processing = _count(family.processing)
        if note.startswith("processing stuck"):
            processing.stylize("bold yellow")
        drain = format_span(trend.drain_seconds) if trend.drain_seconds is not None else "-"
        return (family.target, (
            status_cell(status), Text(family.target.split(":", 1)[1], overflow="ellipsis"),
            _count(family.depth), Text(sparkline(trend.samples), style="cyan"),
            Text(rate_text(trend.rate_per_min)), Text(drain), processing,
            _count(family.failed),
            styled(note, status if status is not Status.OK else Status.WARNING)))

    def open_details(self, key: str) -> None:
        backend = self._backend_for(key)
        if backend is None:
            self.notify("Select a queue first.", severity="warning")
            return
        self.app.push_screen(QueueDetailScreen(backend, key))

    def _backend_for(self, target: str) -> RedisBackend | None:
        for polled in self.polled():
            if polled.backend.is_a(RedisBackend) and polled.backend.answers_for(target):
                return cast(RedisBackend, polled.backend)  # or a fleet host's stand-in
        return None

    def action_retry(self) -> None:
        self.action_verb("retry")

    def action_requeue(self) -> None:
        self.action_verb("requeue")

    def action_purge(self) -> None:
        self.action_verb("purge")


class QueueDetailScreen(Dialog[None]):
    """The first items of a family's queue, processing and failed keys, shown safely."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close", "close"),
        Binding("r", "reload", "reload"),
    ]

    def __init__(self, backend: RedisBackend, target: str) -> None:
        super().__init__()
        self.backend = backend
        self.target = target

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(Text.assemble((self.target, "bold"), "\n\nreading…"), id="peek")

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self._load(), exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        body = self.query_one("#peek", Static)
        try:
            peeks = await self.backend.peek_family(self.target, PEEK_ITEMS)
        except Exception as exc:  # shown in the dialog; the console keeps running
            body.update(Text(scrub_text(f"{self.target}\n\ncannot read: {exc}"), style="red"))
            return
        body.update(self._describe(peeks))

    def _describe(self, peeks: list[Peek]) -> Text:
        text = Text()
        text.append(self.target, style="bold")
        text.append("\n")
        for peek in peeks:
            text.append(f"\n{scrub_text(peek.key)}", style="bold cyan")
            text.append(f"  ({peek.type}, first {len(peek.items)} shown)\n", style="dim")
            if not peek.items:
                text.append("  (empty)\n", style="dim")
            for index, item in enumerate(peek.items, start=1):
                text.append(f"  {index:>3}  ", style="dim")
                text.append(item.text)  # already escaped; Text never parses markup
                text.append(f"  [{format_bytes(item.size)}]\n", style="dim")
        text.append("\nr reload · escape close", style="dim")
        return text
