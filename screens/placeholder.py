"""A view whose backend is not configured (or not available): says how to turn it on."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from console import registry
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
        view = registry.view_by_name(self.view_name)
        title = view.title if view else self.view_name
        yield Static(Text.assemble((title, "bold"), "\n\n", self.reason), id="hint")
