"""A DataTable that is updated cell by cell: only changed values are redrawn.

Screens hand it the full list of rows on every update; when the row order is unchanged it
updates just the cells whose value changed, otherwise it rebuilds and keeps the cursor on the
same row. A filter text hides rows that do not contain it.

Every cell passes `clean` (printable text; the screen adds the config's redactor), so what a
table shows is masked and escaped whatever a screen puts in it; strings are never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from console.core.scrub import scrub_text

Row = tuple[str, tuple[RenderableType, ...]]


def _plain(cell: RenderableType) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def clean_cell(cell: RenderableType, clean: Callable[[str], str]) -> RenderableType:
    """A cell as plain Text with `clean` applied (its style kept when the text changes)."""
    if isinstance(cell, str):
        return Text(clean(cell))
    if isinstance(cell, Text):
        shown = clean(cell.plain)
        if shown != cell.plain:
            return Text(shown, style=cell.style, overflow=cell.overflow, no_wrap=cell.no_wrap,
                        justify=cell.justify)
    return cell


def _signature(cell: RenderableType) -> tuple[str, str]:
    if isinstance(cell, Text):
        return (cell.plain, str(cell.style))
    return (str(cell), "")


class LiveTable(DataTable[RenderableType]):
    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "details"),
    ]

    def __init__(self, columns: Sequence[tuple[str, int | None]], *, id: str | None = None,
                 empty: str = "") -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._columns = list(columns)
        self._rows: list[Row] = []
        self._shown: dict[str, tuple[tuple[str, str], ...]] = {}
        self._order: list[str] = []
        self._filter = ""
        self.empty = empty
        self.clean: Callable[[str], str] = scrub_text

    def on_mount(self) -> None:
        for label, width in self._columns:
            self.add_column(label, key=label, width=width)

    @property
    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def set_filter(self, text: str) -> None:
        self._filter = text.lower()
        self._render_rows()

    def set_rows(self, rows: Sequence[Row]) -> None:
        self._rows = [(key, tuple(clean_cell(c, self.clean) for c in cells))
                      for key, cells in rows]
        self._render_rows()

    def _visible(self) -> list[Row]:
        if not self._filter:
            return self._rows
        return [row for row in self._rows
                if self._filter in " ".join(_plain(c) for c in row[1]).lower()]

    def _render_rows(self) -> None:
        rows = self._visible()
        order = [key for key, _ in rows]
        if order == self._order:
            for key, cells in rows:
                signature = tuple(_signature(c) for c in cells)
                old = self._shown.get(key)
                if old == signature:
                    continue
                for index, cell in enumerate(cells):
                    if old is None or old[index] != signature[index]:
                        self.update_cell(key, self._columns[index][0], cell)
                self._shown[key] = signature
            return
        selected = self.selected_key
        self.clear()
        self._shown = {}
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._shown[key] = tuple(_signature(c) for c in cells)
        self._order = order
        if selected in order:
            self.move_cursor(row=order.index(selected))
