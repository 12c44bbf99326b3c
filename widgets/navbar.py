"""The line of views ("1 Overview  2 Units ..."), current one highlighted, clickable.

Services (key i) is listed first when the config has [[service]] entries, else not at all.
"""

from __future__ import annotations

from textual.events import Resize
from textual.markup import escape
from textual.widgets import Static

from console import registry


class NavBar(Static):
    DEFAULT_CSS = """
    NavBar { height: 1; color: $text-muted; }
    """

    def __init__(self, current: str, *, services: bool = False) -> None:
        self.current = current
        self.views = registry.bar_views(services)
        self.wide_at = sum(len(v.title) + 5 for v in self.views)
        super().__init__(self._markup(wide=True))

    def on_resize(self, event: Resize) -> None:
        self.update(self._markup(wide=event.size.width >= self.wide_at))

    def _markup(self, wide: bool) -> str:
        parts = []
        for view in self.views:
            label = f"{view.key} {escape(view.title if wide else view.short_title)}"
            link = f"@click=app.show_view('{view.name}')"
            style = "bold reverse " if view.name == self.current else ""
            parts.append(f"[{style}{link}]{' ' if wide else ''}{label}{' ' if wide else ''}[/]")
        return " " + " ".join(parts)
