"""The one log pane: journals, container logs and files followed, merged by time, shown.

A `LogPane` is given a callable returning the `LineSource`s to follow; it is called in a
worker thread when the pane mounts and on every `reload()`. Every 200 ms, while the pane's
screen is the one on top, a worker thread reads all sources: the backlog read on (re)load
(lines older than the (re)load, which a source may deliver a few reads late) is put in
its place by time, later lines go through a `TimeMerger`. Lines are shown by the capped,
batched `LogView` inside; a state line above it tells the sources, the lines, the flags
(PAUSED, wrap, search) and why a source shows nothing. The pane closes its sources when it
is reloaded and when it goes away.

Screens add `LOG_KEYS` to their bindings and `LogPaneActions` to their bases, so the keys
show in the footer and in `?` help whatever has the focus.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.widgets import Static

from console.core.loglines import LineSource, LogLine, TimeMerger, printable
from widgets.log_view import LogView

_TICK = 0.2
# How long after a (re)load a source's history may still arrive and be put in its place;
# later, old-stamped lines (a skewed clock) are appended instead of redrawing every tick.
_SETTLE = 5.0

LOG_KEYS: list[BindingType] = [
    Binding("p", "pause", "pause"),
    Binding("n", "next_match", "next match"),
    Binding("m", "only_matches", "only matches"),
    Binding("e", "first_error", "first error"),
    Binding("w", "wrap", "wrap"),
    Binding("c", "clear", "clear"),
]


class LogPane(Vertical):
    """A state line over a `LogView`, fed from line sources read in a worker thread."""

    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    LogPane > #log-state { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, sources: Callable[[], list[LineSource]], *, with_source: bool = False,
                 max_lines: int = 5000, empty_hint: str = "no source",
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self._open_sources = sources
        self._with_source = with_source
        self._max_lines = max_lines
        self._empty_hint = empty_hint
        self._active: list[LineSource] = []  # replaced only under _lock
        self._lock = threading.Lock()
        self._closed = False
        self._reload = True
        self._busy = False
        self._merger = TimeMerger()
        self._loaded_at = 0.0
        self._newest = 0.0  # the time of the newest line handed to the view
        self._state_text = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="log-state")
        yield LogView(max_lines=self._max_lines, with_source=self._with_source)

    @property
    def log_view(self) -> LogView:
        return self.query_one(LogView)

    @property
    def sources(self) -> list[str]:
        """The labels of the sources followed now."""
        return [source.label for source in self._active]

    def on_mount(self) -> None:
        self.set_interval(_TICK, self._tick)

    def reload(self) -> None:
        """Close the sources, ask for them again and show their backlog from the start."""
        self._reload = True

    # -- following ------------------------------------------------------------------------
    def _tick(self) -> None:
        if self._busy or self.app.screen is not self.screen:
            return  # a hidden pane reads nothing; what came meanwhile is read when it is back
        self._busy = True
        self.run_worker(self._follow(), group="log-pane", exit_on_error=False)

    async def _follow(self) -> None:
        try:
            reload, self._reload = self._reload, False
            if reload:
                self.log_view.clear_lines()
                self._merger = TimeMerger()
                self._loaded_at, self._newest = time.time(), 0.0
            backlog, live = await asyncio.to_thread(self._read, reload)
            self._show_lines(backlog, live)
            self._show_state()
        finally:
            self._busy = False

    def _read(self, reload: bool) -> tuple[list[LogLine], list[LogLine]]:
        """In a worker thread: (re)open the sources, read them; (backlog, live) by time."""
        with self._lock:
            if reload or self._closed:
                self._close_sources()
            if self._closed:
                return [], []
            if reload:
                self._active = list(self._open_sources())
            lines = [line for source in self._active for line in source.read()]
        cut = self._loaded_at if time.time() < self._loaded_at + _SETTLE else 0.0
        backlog = sorted((line for line in lines if (line.ts or 0.0) < cut),
                         key=lambda line: line.ts or 0.0)
        self._merger.push([line for line in lines if (line.ts or 0.0) >= cut])
        return backlog, self._merger.release()

    def _show_lines(self, backlog: list[LogLine], live: list[LogLine]) -> None:
        log = self.log_view
        if backlog and (backlog[0].ts or 0.0) < self._newest:
            log.merge_lines(backlog)  # a source's history came after others' lines: once
        elif backlog:
            log.append_lines(backlog)
        if live:
            log.append_lines(live)
        for line in backlog[-1:] + live[-1:]:
            self._newest = max(self._newest, line.ts or 0.0)

    def _close_sources(self) -> None:
        sources, self._active = self._active, []
        for source in sources:
            source.close()

    def on_unmount(self) -> None:
        self._closed = True

        def close() -> None:
            with self._lock:
                self._close_sources()

        # a journal's close waits for journalctl to end: not on the UI thread
        threading.Thread(target=close, name="log-pane-close", daemon=True).start()

    def _show_state(self) -> None:
        log = self.log_view
        active = list(self._active)
        parts = [f"{len(active)} source(s)", f"{log.received} lines"]
        if log.paused:
            parts.append("PAUSED (p)")
        if log.wrap:
            parts.append("wrap")
        if log.term:
            parts.append(f"search {log.term!r}" + (" · only matches" if log.hide_unmatched
                                                    else ""))
        parts += [f"{source.label}: {source.status}" for source in active if source.status]
        if not active:
            parts.append(self._empty_hint)
        text = printable(" · ".join(parts))
        if text != self._state_text:
            self._state_text = text
            self.query_one("#log-state", Static).update(Text(text), layout=False)

    # -- what keys do ---------------------------------------------------------------------
    def set_search(self, term: str) -> None:
        """Highlight `term` (case-insensitive); n jumps to it, m shows only its lines."""
        self.log_view.set_search(term)
        self._show_state()

    def toggle_pause(self) -> None:
        paused = self.log_view.toggle_pause()
        self._show_state()
        self.notify("Paused: lines are still collected (p to resume)." if paused
                    else "Following again.", timeout=2)

    def first_error(self) -> None:
        log = self.log_view
        if not log.paused:
            log.toggle_pause()  # stay on the error instead of scrolling on with new lines
        if not log.jump_to_first_error():
            self.notify("No error line in the buffer.", timeout=3)
        self._show_state()

    def next_match(self) -> None:
        if not self.log_view.jump_to_next_match():
            self.notify("No match: type / and a word to search.", timeout=3)

    def only_matches(self) -> None:
        log = self.log_view
        if not log.term:
            self.notify("Search first with /, then m shows only the matching lines.", timeout=3)
            return
        log.set_search(log.term, hide_unmatched=not log.hide_unmatched)
        self._show_state()

    def toggle_wrap(self) -> None:
        log = self.log_view
        log.set_wrap(not log.wrap)
        self._show_state()
        self.notify("Long lines wrap." if log.wrap else "Long lines scroll sideways "
                    "(left/right).", timeout=2)

    def clear(self) -> None:
        self.log_view.clear_lines()


class LogPaneActions:
    """The actions `LOG_KEYS` name, for a screen that holds one `LogPane`."""

    def _log_pane(self) -> LogPane:
        assert isinstance(self, DOMNode)
        return self.query_one(LogPane)

    def action_pause(self) -> None:
        self._log_pane().toggle_pause()

    def action_next_match(self) -> None:
        self._log_pane().next_match()

    def action_only_matches(self) -> None:
        self._log_pane().only_matches()

    def action_first_error(self) -> None:
        self._log_pane().first_error()

    def action_wrap(self) -> None:
        self._log_pane().toggle_wrap()

    def action_clear(self) -> None:
        self._log_pane().clear()
