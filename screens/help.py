"""The help screen: every key that works, for the app and for the view it was opened from."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from screens.dialog import Dialog


class HelpScreen(Dialog[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,question_mark", "close", "close"),
    ]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for title, keys in self.sections:
            table.add_row(f"[u]{title}[/u]", "")
            for key, description in keys:
                table.add_row(key, description)
            table.add_row("", "")
        with VerticalScroll(classes="dialog"):
            yield Static("[b]opsconsole keys[/b]   (escape closes)\n")
            yield Static(table)
            yield Static("Mouse: click a view's name, a row, or a footer key.\n"
                         "Headless: opsconsole --headless check | status | audit ... "
                         "(opsconsole --help)")
