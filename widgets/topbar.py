"""The top line: host, who, read-only state, status counts and the last poll time."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.core.model import Status
from widgets.status_text import STYLE


class TopBar(Static):
    """One line; redrawn only when its content changes."""

    DEFAULT_CSS = """
    TopBar { height: 1; background: $panel; color: $text; }
    """

    def show(self, *, host: str, read_only: bool, counts: dict[Status, int],
             polled: str, title: str = "", maintenance: str = "") -> None:
        line = Text(" opsconsole ", style="bold reverse")
        line.append(f" {title or host} ")
        line.append(" READ-ONLY " if read_only else " READ-WRITE ",
                    style="bold black on yellow" if read_only else "dim")
        line.append("  ")
        for status, mark in ((Status.CRITICAL, "●"), (Status.UNKNOWN, "?"),
                             (Status.WARNING, "▲"), (Status.OK, "✓")):
            count = counts.get(status, 0)
            if count or status in (Status.OK, Status.CRITICAL):
                line.append(f"{mark} {count} {status.short.lower()}  ",
                            style=STYLE[status] if count else "dim")
        # a narrow terminal keeps the poll time and loses its label first
        room = self.size.width - len(line.plain) - (len(maintenance) + 16 if maintenance else 0)
        line.append(f"polled {polled}" if room <= 0 or room >= len(polled) + 7 else polled,
                    style="dim")
        if maintenance:
            line.append("  ")
            line.append(f" MAINTENANCE {maintenance} ", style="bold black on yellow")
        if line.plain != getattr(self, "_plain", None):
            self._plain = line.plain
            self.update(line, layout=False)  # one line, always: no layout for a new time
