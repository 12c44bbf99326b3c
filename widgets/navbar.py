"""The line of views ("1 Overview  2 Units ..."), current one highlighted, clickable."""

from __future__ import annotations

from rich.markup import escape
from textual.widgets import Static

from console.views import VIEWS


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; color: $text-muted; }
    """

    def __init__(self, current: str) -> None:
        super().__init__(self._markup(current))

    @staticmethod
    def _markup(current: str) -> str:
        parts = []
        for view in VIEWS:
            label = f"{view.key} {escape(view.title)}"
            style = "bold reverse" if view.name == current else ""
            link = f"@click=app.show_view('{view.name}')"
            parts.append(f"[{style} {link}] {label} [/]" if style else f"[{link}] {label} [/]")
        return " " + " ".join(parts)
