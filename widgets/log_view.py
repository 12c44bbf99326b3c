"""The one log widget: journals, container logs and log files all show through it.

Lines arrive as `LogLine`s from any backend, are buffered and written in batches (at most
every 50 ms) into a capped buffer, so a source writing thousands of lines a second does not
slow the UI. Errors are red, warnings yellow; a search term is highlighted, and can also hide
the lines that do not match. Pausing keeps collecting without scrolling. Long lines scroll
sideways, or wrap at the widget's width with `set_wrap(True)`.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator

from rich.highlighter import Highlighter
from rich.text import Text
from textual import events
from textual.widgets import Log

from console.core.durations import clock
from console.core.loglines import LogLine

_FLUSH_DELAY = 0.05
_TAG_ERROR, _TAG_WARNING, _TAG_NONE = "ERR ", "WARN", "    "
_TAG_AT = 9  # lines read "HH:MM:SS TAG  text": the tag starts after the time


class _LogHighlighter(Highlighter):
    def __init__(self) -> None:
        self.term = ""

    def highlight(self, text: Text) -> None:
        tag = text.plain[_TAG_AT:_TAG_AT + 4]
        if tag == _TAG_ERROR:
            text.stylize("bold red")
        elif tag == _TAG_WARNING:
            text.stylize("yellow")
        if self.term:
            lowered = text.plain.lower()
            start = lowered.find(self.term)
            while start >= 0:
                text.stylize("reverse", start, start + len(self.term))
                start = lowered.find(self.term, start + len(self.term))


def format_line(line: LogLine, with_source: bool) -> str:
    tag = _TAG_ERROR if line.is_error else _TAG_WARNING if line.is_warning else _TAG_NONE
    source = f"{line.source}: " if with_source and line.source else ""
    return f"{clock(line.ts) if line.ts else '--:--:--'} {tag} {source}{line.text}"


class LogView(Log):
    """A capped, batched, searchable log."""

    DEFAULT_CSS = """
    LogView { height: 1fr; }
    """

    def __init__(self, *, max_lines: int = 5000, with_source: bool = False,
                 id: str | None = None) -> None:
        super().__init__(highlight=True, max_lines=max_lines, id=id, auto_scroll=True)
        self.highlighter = _LogHighlighter()
        self.with_source = with_source
        self.entries: collections.deque[LogLine] = collections.deque(maxlen=max_lines)
        self._pending: list[LogLine] = []
        self._held: list[LogLine] = []
        self._flush_scheduled = False
        self.paused = False
        self.hide_unmatched = False
        self.wrap = False
        self.received = 0

    @property
    def term(self) -> str:
        return self._term_highlighter.term

    @property
    def _term_highlighter(self) -> _LogHighlighter:
        highlighter = self.highlighter
        assert isinstance(highlighter, _LogHighlighter)
        return highlighter

    # -- feeding --------------------------------------------------------------------------
    def append_lines(self, lines: Iterable[LogLine]) -> None:
        """Queue lines for display (UI thread); they are drawn in the next batch."""
        self._pending.extend(lines)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.set_timer(_FLUSH_DELAY, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if self.max_lines is not None and len(batch) > self.max_lines:
            batch = batch[-self.max_lines:]
        self.entries.extend(batch)
        self.received += len(batch)
        if self.paused:
            self._held.extend(batch)
            del self._held[:-len(self.entries) or None]
        else:
            self._write(batch)

    def merge_lines(self, lines: list[LogLine]) -> None:
        """Put lines older than some already shown in their place by time, and redraw."""
        self._flush()
        merged = sorted([*self.entries, *lines], key=lambda line: line.ts or 0.0)
        self.entries = collections.deque(merged, maxlen=self.entries.maxlen)
        self.received += len(lines)
        self._redraw()

    def _write(self, lines: Iterable[LogLine]) -> None:
        self.write_lines(self._rows(lines))

    def _shown(self, line: LogLine) -> bool:
        return not (self.hide_unmatched and self.term) or self.term in line.text.lower()

    def clear_lines(self) -> None:
        self.entries.clear()
        self._pending.clear()
        self._held.clear()
        self.clear()

    # -- reading --------------------------------------------------------------------------
    def set_search(self, term: str, *, hide_unmatched: bool | None = None) -> None:
        """Highlight `term` (case-insensitive); optionally show only the lines holding it."""
        self._term_highlighter.term = term.lower()
        if hide_unmatched is not None:
            self.hide_unmatched = hide_unmatched
        self._redraw()

    def toggle_pause(self) -> bool:
        """Pause (keep collecting, stop scrolling) or resume (show what came meanwhile)."""
        self.paused = not self.paused
        if not self.paused:
            held, self._held = self._held, []
            self._write(held)
        return self.paused

    def _rows(self, lines: Iterable[LogLine]) -> Iterator[str]:
        """The display rows of log lines: one each, or several when wrapping."""
        formatted = (format_line(line, self.with_source) for line in lines if self._shown(line))
        if not self.wrap:
            yield from formatted
            return
        width = max(30, self.scrollable_content_region.width - 1)
        for text in formatted:
            yield text[:width]
            # continuation rows repeat the tag column, so they keep the line's colour
            indent = " " * _TAG_AT + text[_TAG_AT:_TAG_AT + 4] + " "
            step = width - len(indent)
            for start in range(width, len(text), step):
                yield indent + text[start:start + step]

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines at the widget's width (True) or scroll them sideways (False)."""
        self.wrap = wrap
        self._redraw()

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap:
            self._redraw()

    def _redraw(self) -> None:
        self._held.clear()
        self.clear()
        self._write(self.entries)
        self._render_line_cache.clear()
        self.refresh()

    def jump_to_next_match(self) -> bool:
        """Scroll to the next line holding the search term, below the top of the view."""
        if not self.term:
            return False
        start = int(self.scroll_y) + 1
        lines = self.lines
        for index in [*range(start, len(lines)), *range(0, start)]:
            if self.term in lines[index].lower():
                self.scroll_to(y=index, animate=False)
                return True
        return False

    def jump_to_first_error(self) -> bool:
        for index, text in enumerate(self.lines):
            if text[_TAG_AT:_TAG_AT + 4] == _TAG_ERROR:
                self.scroll_to(y=index, animate=False)
                return True
        return False
