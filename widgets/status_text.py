"""Status words and colours, the same on every screen, readable in 16 colours too."""

from __future__ import annotations

from rich.text import Text

from console.core.model import Status

STYLE = {
    Status.OK: "green",
    Status.WARNING: "bold yellow",
    Status.CRITICAL: "bold red",
    Status.UNKNOWN: "bold magenta",
}


def status_cell(status: Status) -> Text:
    return Text(status.short, style=STYLE[status])


def styled(text: str, status: Status) -> Text:
    return Text(text, style=STYLE[status] if status is not Status.OK else "")
