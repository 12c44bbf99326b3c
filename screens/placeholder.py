"""A view whose backend is not configured (or not available): says how to turn it on."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from console.views import VIEW_BY_NAME
from screens.base import ConsoleScreen


class PlaceholderScreen(ConsoleScreen):
    DEFAULT_CSS = """
    PlaceholderScreen #hint { height: 1fr; padding: 1 2; }
    """

    def __init__(self, view: str, reason: str) -> None:
        self._view = view
        super().__init__()
        self.reason = reason

    @property
    def view_name(self) -> str:
        return self._view

    def compose_body(self) -> ComposeResult:
        title = VIEW_BY_NAME[self.view_name].title
        yield Static(Text.assemble((title, "bold"), "\n\n", self.reason), id="hint")
