"""The Logs view: pick sources on the left, follow them merged by time on the right.

Sources come from every backend offering `log_sources()`: log files, unit journals and
container logs (any backend returning objects with `label`, `status`, `read()` and
`close()` joins the same list).
Reading happens in a worker thread every 200 ms while the view is on screen; lines are
merged by time and handed to the shared LogView, which batches and caps them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from console.core.loglines import LineSource, LogLine, TimeMerger
from screens.base import ConsoleScreen
from widgets.log_view import LogView

_TICK = 0.2


class LogsScreen(ConsoleScreen):
    VIEW = "logs"
    DEFAULT_CSS = """
    LogsScreen #log-sources { width: 32; height: 1fr; border: round $panel; }
    LogsScreen #log-state { height: 1; padding: 0 1; color: $text-muted; }
    LogsScreen #log-pane { width: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "pause"),
        Binding("e", "first_error", "first error"),
        Binding("n", "next_match", "next match"),
        Binding("m", "only_matches", "only matches"),
        Binding("w", "wrap", "wrap"),
        Binding("c", "clear", "clear"),
        Binding("tab", "switch_pane", "sources/log", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._providers: dict[str, Callable[[], list[Any]]] = {}  # label -> backend hook
        self._active: dict[str, LineSource] = {}
        self._wanted: set[str] = set()
        self._reload = True
        self._busy = False
        self._merger = TimeMerger()
        self._state_text = ""
        self._catalog_ready = False

    def compose_body(self) -> ComposeResult:
        with Horizontal():
            yield SelectionList[str](id="log-sources")
            with Vertical(id="log-pane"):
                yield Static("", id="log-state")
                yield LogView(max_lines=5000, with_source=True, id="log")

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#log-sources", SelectionList).border_title = "sources (space)"
        self.run_worker(self._load_catalog(), exclusive=True, group="log-catalog")
        self.set_interval(_TICK, self._tick)

    async def _load_catalog(self) -> None:
        hooks = [(b.id, hook) for b in self.session.backends
                 if callable(hook := getattr(b, "log_sources", None))]

        def discover() -> list[tuple[str, Callable[[], list[Any]]]]:
            found = []
            for _, hook in hooks:
                for source in hook():
                    found.append((source.label, hook))
                    source.close()
            return found

        found = await asyncio.to_thread(discover)
        selection = self.query_one("#log-sources", SelectionList)
        new = [(label, hook) for label, hook in found if label not in self._providers]
        for label, hook in new:  # a file that a glob matches since the last look
            self._providers[label] = hook
            selection.add_option(Selection(label, label, True))
        if new:
            self._wanted |= {label for label, _ in new}
            self._reload = True
        if not self._catalog_ready:
            self._catalog_ready = True
            selection.focus()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._catalog_ready:
            self.run_worker(self._load_catalog(), exclusive=True, group="log-catalog")

    def on_selection_list_selected_changed(
            self, event: SelectionList.SelectedChanged[str]) -> None:
        wanted = set(event.selection_list.selected)
        if wanted != self._wanted:
            self._wanted = wanted
            self._reload = True

    # -- following ------------------------------------------------------------------------
    def _tick(self) -> None:
        if self._busy or not self._catalog_ready or self.app.screen is not self:
            return  # a hidden view reads nothing; the backlog is read when it comes back
        self._busy = True
        self.run_worker(self._follow(), group="log-follow", exit_on_error=False)

    async def _follow(self) -> None:
        try:
            reload, self._reload = self._reload, False
            if reload:
                self.log_view.clear_lines()
                self._merger = TimeMerger()
            ready = await asyncio.to_thread(self._read, reload, set(self._wanted))
            if ready:
                self.log_view.append_lines(ready)
            self._show_state()
        finally:
            self._busy = False

    def _read(self, reload: bool, wanted: set[str]) -> list[LogLine]:
        """In a worker thread: (re)open the chosen sources, read them, merge by time."""
        if reload:
            for source in self._active.values():
                source.close()
            self._active = {}
            hooks = {self._providers[label] for label in wanted if label in self._providers}
            for hook in hooks:
                for source in hook():
                    if source.label in wanted:
                        self._active[source.label] = source
                    else:
                        source.close()
        lines: list[LogLine] = []
        for source in self._active.values():
            lines.extend(source.read())
        if reload:
            lines.sort(key=lambda line: line.ts or 0.0)
            return lines
        self._merger.push(lines)
        return self._merger.release()

    def _show_state(self) -> None:
        log = self.log_view
        notes = [f"{s.label}: {s.status}" for s in self._active.values() if s.status]
        flags = []
        if log.paused:
            flags.append("PAUSED (p)")
        if log.wrap:
            flags.append("wrap")
        if log.term:
            flags.append(f"search {log.term!r}" + (" · only matches" if log.hide_unmatched
                                                    else ""))
        if not self._active:
            notes.append("no source chosen: pick one on the left with space")
        text = " · ".join([f"{len(self._active)} source(s)", f"{log.received} lines", *flags,
                           *notes])
        if text != self._state_text:
            self._state_text = text
            self.query_one("#log-state", Static).update(escape(text))

    def on_unmount(self) -> None:
        for source in self._active.values():
            source.close()
        self._active = {}

    # -- keys -----------------------------------------------------------------------------
    def apply_filter(self, text: str) -> None:
        self.log_view.set_search(text)
        self._show_state()

    def selected_target(self) -> str | None:
        selection = self.query_one("#log-sources", SelectionList)
        index = selection.highlighted
        if index is None:
            return None
        label = str(selection.get_option_at_index(index).value)
        return f"log:{label.split('/', 1)[0]}"

    def action_pause(self) -> None:
        paused = self.log_view.toggle_pause()
        self._show_state()
        self.notify("Paused: lines are still collected (p to resume)." if paused
                    else "Following again.", timeout=2)

    def action_first_error(self) -> None:
        log = self.log_view
        if not log.paused:
            log.toggle_pause()  # stay on the error instead of scrolling on with new lines
        if not log.jump_to_first_error():
            self.notify("No error line in the buffer.", timeout=3)
        self._show_state()

    def action_next_match(self) -> None:
        if not self.log_view.jump_to_next_match():
            self.notify("No match: type / and a word to search.", timeout=3)

    def action_only_matches(self) -> None:
        log = self.log_view
        if not log.term:
            self.notify("Search first with /, then m shows only the matching lines.", timeout=3)
            return
        log.set_search(log.term, hide_unmatched=not log.hide_unmatched)
        self._show_state()

    def action_wrap(self) -> None:
        log = self.log_view
        log.set_wrap(not log.wrap)
        self.notify("Long lines wrap." if log.wrap else "Long lines scroll sideways "
                    "(left/right).", timeout=2)

    def action_clear(self) -> None:
        self.log_view.clear_lines()

    def action_switch_pane(self) -> None:
        selection = self.query_one("#log-sources", SelectionList)
        (self.log_view if selection.has_focus else selection).focus()
