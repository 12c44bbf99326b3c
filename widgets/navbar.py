"""The line of views ("1 Overview  2 Units ..."), current one highlighted, clickable."""

from __future__ import annotations

from textual.events import Resize
from textual.markup import escape
from textual.widgets import Static

from console import registry

VIEWS = [view for view in registry.views() if view.key and view.key.isdigit()]  # letters: help
_WIDE = sum(len(v.title) + 5 for v in VIEWS)


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; color: $text-muted; }
    """

    def __init__(self, current: str) -> None:
        self.current = current
        super().__init__(self._markup(wide=True))

    def on_resize(self, event: Resize) -> None:
        self.update(self._markup(wide=event.size.width >= _WIDE))

    def _markup(self, wide: bool) -> str:
        parts = []
        for view in VIEWS:
            label = f"{view.key} {escape(view.title if wide else view.short_title)}"
            link = f"@click=app.show_view('{view.name}')"
            style = "bold reverse " if view.name == self.current else ""
            parts.append(f"[{style}{link}]{' ' if wide else ''}{label}{' ' if wide else ''}[/]")
        return " " + " ".join(parts)
