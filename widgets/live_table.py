"""A DataTable that repaints only the rows that changed.

Screens hand it the full list of rows on every update; when the row order is unchanged it
stores just the cells whose value changed and repaints only their rows, otherwise it rebuilds
and keeps the cursor on the same row. A filter text hides rows that do not contain it.

Each row is drawn once into a line of segments and kept until its cells, its place, the
cursor or the styles change: DataTable's own renderer draws every visible cell again after
any single update, which is most of what an idle console would cost.

Columns fit the width: each is `(label, width)` or `(label, width, priority)`. Priority 0
(the default) always shows: identity and status. As the terminal narrows, the highest
priority numbers hide first. The last column without a width is the one that fills what is
left (the cause or summary); other columns without a width take their content's width.

Every cell passes `clean` (printable text; the screen adds the config's redactor), so what a
table shows is masked and escaped whatever a screen puts in it; strings are never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, NamedTuple

from rich.console import RenderableType
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.renderables.styled import Styled
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from console.core.scrub import scrub_text

Row = tuple[str, tuple[RenderableType, ...]]
Column = tuple[str, int | None] | tuple[str, int | None, int]

FILL_MIN = 16  # the fill column is never narrower than this while lower columns can hide
FILL_WANT = 60  # the fill column's content up to this width outranks optional columns
NATURAL_MAX = 40  # a content-width column never takes more than this
_PADDING = 2  # a DataTable cell's padding, left and right
_HEADER = "\0header"  # the strip cache's key for the header line


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

    def __init__(self, columns: Sequence[Column], *, id: str | None = None,
                 empty: str = "") -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._columns: list[tuple[str, int | None, int]] = [
            (c[0], c[1], c[2] if len(c) > 2 else 0) for c in columns]  # type: ignore[misc]
        unsized = [i for i, c in enumerate(self._columns) if c[1] is None]
        self._fill = unsized[-1] if unsized else None
        self._layout: tuple[tuple[int, int | None], ...] = ()  # (column index, width) shown
        self._rows: list[Row] = []
        # row key -> (the cells a screen gave, those cells cleaned, their signatures): a
        # screen that hands over the same cells again is not cleaned or compared again
        self._cleaned: dict[str, tuple[tuple[RenderableType, ...], tuple[RenderableType, ...],
                                       tuple[tuple[str, str], ...]]] = {}
        self._shown: dict[str, tuple[tuple[str, str], ...]] = {}
        self._order: list[str] = []
        self._strips: dict[str, tuple[tuple[object, ...], Strip]] = {}  # row key -> drawn line
        self._drawing: _Drawing | None = None
        self._filter = ""
        self.empty = empty
        self.clean: Callable[[str], str] = scrub_text

    def on_mount(self) -> None:
        self._apply_layout(self._fit(self.size.width))

    def on_resize(self) -> None:
        self._relayout()

    # -- fitting the width ----------------------------------------------------------------
    def _natural(self, index: int) -> int:
        label = self._columns[index][0]
        widest = max((len(_plain(cells[index])) for _, cells in self._rows
                      if index < len(cells)), default=0)
        return min(NATURAL_MAX, max(len(label), widest))

    def _fit(self, width: int) -> tuple[tuple[int, int | None], ...]:
        """Which columns show at this width, and how wide each is (None: as wide as needed)."""
        if width <= 0:  # not laid out yet: every column, as declared
            return tuple((i, c[1]) for i, c in enumerate(self._columns))
        available = width - 1  # the vertical scrollbar
        widths = {i: (c[1] if c[1] is not None else self._natural(i))
                  for i, c in enumerate(self._columns) if i != self._fill}
        # The fill column asks for its content's width (up to FILL_WANT) before a
        # lower-priority column may take the room.
        # Priority 1 columns (the key facts beside identity) need only leave FILL_MIN.
        wanted = 0
        if self._fill is not None:
            wanted = max(FILL_MIN, min(FILL_WANT, self._natural(self._fill))) + _PADDING
        order = sorted(range(len(self._columns)), key=lambda i: (self._columns[i][2], i))
        shown: list[int] = []
        used = 0
        for index in order:
            if index == self._fill:
                continue
            need = widths[index] + _PADDING
            priority = self._columns[index][2]
            reserve = 0 if self._fill is None else (
                FILL_MIN + _PADDING if priority <= 1 else wanted)
            if priority == 0 or used + need + reserve <= available:
                shown.append(index)
                used += need
        if self._fill is not None:
            shown.append(self._fill)
            widths[self._fill] = max(FILL_MIN, available - used - _PADDING)
        return tuple((i, widths[i]) for i in sorted(shown))

    def _relayout(self) -> None:
        layout = self._fit(self.size.width)
        if layout != self._layout:
            self._apply_layout(layout)

    def _apply_layout(self, layout: tuple[tuple[int, int | None], ...]) -> None:
        self._layout = layout
        self._strips = {}
        self.clear(columns=True)
        for index, width in layout:
            label = self._columns[index][0]
            self.add_column(label, key=label, width=width)
        self._order = []  # every row is added again with the cells that now show
        self._render_rows()

    @property
    def shown_columns(self) -> list[str]:
        """The labels of the columns on screen, left to right."""
        return [self._columns[index][0] for index, _ in self._layout]

    @property
    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def set_filter(self, text: str) -> None:
        self._filter = text.lower()
        self._render_rows()

    def set_rows(self, rows: Sequence[Row]) -> None:
        cleaned = {}
        for key, cells in rows:
            seen = self._cleaned.get(key)
            if seen is None or seen[0] is not cells:
                clean = tuple(clean_cell(c, self.clean) for c in cells)
                seen = (cells, clean, tuple(_signature(c) for c in clean))
            cleaned[key] = seen
        self._cleaned = cleaned
        self._rows = [(key, cleaned[key][1]) for key, _ in rows]
        if self._layout and any(width is not None and index != self._fill
                                and self._columns[index][1] is None
                                and self._natural(index) > width
                                for index, width in self._layout):
            self._relayout()  # a content-width column needs more room now
            return
        self._render_rows()

    def _visible(self) -> list[Row]:
        if not self._filter:
            return self._rows
        return [row for row in self._rows
                if self._filter in " ".join(_plain(c) for c in row[1]).lower()]

    def _render_rows(self) -> None:
        if not self._layout:
            return  # not mounted yet: the first layout renders them
        rows = [(key, tuple(cells[i] for i, _ in self._layout if i < len(cells)))
                for key, cells in self._visible()]
        labels = self.shown_columns
        order = [key for key, _ in rows]
        if order == self._order:
            for position, (key, cells) in enumerate(rows):
                signature = self._signature_shown(key, cells)
                old = self._shown.get(key)
                if old == signature:
                    continue
                # DataTable.update_cell would invalidate and repaint every row on screen
                stored = self._data[RowKey(key)]
                for index, cell in enumerate(cells):
                    if old is None or old[index] != signature[index]:
                        stored[ColumnKey(labels[index])] = cell
                self._shown[key] = signature
                self._repaint_row(position)
            return
        selected = self.selected_key
        self.clear()
        self._shown = {}
        kept = set(order) | {_HEADER}
        self._strips = {k: v for k, v in self._strips.items() if k in kept}
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._shown[key] = self._signature_shown(key, cells)
        self._order = order
        if selected in order:
            self.move_cursor(row=order.index(selected))

    def _repaint_row(self, position: int) -> None:
        """DataTable.refresh_row for a row of one line, found without adding up the heights
        of every row above it."""
        y = position + (self.header_height if self.show_header else 0)
        region = Region(0, y, max(self.size.width, self.virtual_size.width), 1)
        if self.window_region.overlaps(region):
            self.refresh(region.translate(-self.scroll_offset))

    def _signature_shown(self, key: str, cells: tuple[RenderableType, ...]) -> \
            tuple[tuple[str, str], ...]:
        """The signatures of a row's shown cells (worked out once, when the row was set)."""
        seen = self._cleaned.get(key)
        if seen is None:
            return tuple(_signature(c) for c in cells)
        full = seen[2]
        return tuple(full[i] for i, _ in self._layout if i < len(full))

    # -- drawing: one cached strip per row ------------------------------------------------
    def render_lines(self, crop: Region) -> list[Strip]:
        self._drawing = self._styles_now()  # looked up once per repaint, not once per line
        try:
            return super().render_lines(crop)
        finally:
            self._drawing = None

    def _styles_now(self) -> _Drawing:
        return _Drawing(self.size.width, self.rich_style,
                        self.get_component_rich_style("datatable--cursor"),
                        self.get_component_rich_style("datatable--header"),
                        tuple(column.get_render_width(self) for column in self.ordered_columns))

    def render_line(self, y: int) -> Strip:
        drawing = self._drawing or self._styles_now()
        scroll_x, scroll_y = self.scroll_offset
        width, base = drawing.width, drawing.base
        if y == 0 and self.show_header:
            strip = self._line(_HEADER, -1, (), drawing)
        else:
            index = y - (1 if self.show_header else 0) + scroll_y
            if not 0 <= index < len(self._order):
                return Strip.blank(width, base)
            key = self._order[index]
            strip = self._line(key, index, self._shown.get(key, ()), drawing)
        return strip.crop(scroll_x, scroll_x + width).adjust_cell_length(width, base)

    def _line(self, key: str, index: int, signature: tuple[object, ...],
              drawing: _Drawing) -> Strip:
        """The whole line of one row (index -1: the header), drawn again only when what it
        shows changed."""
        cursor = index >= 0 and self.show_cursor and index == self.cursor_row
        highlight = drawing.cursor if cursor else Style()
        header = drawing.header if index < 0 else None
        cache_key = (signature, index, cursor, drawing)
        cached = self._strips.get(key)
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        row_style = header if header is not None else drawing.base
        if index < 0:
            cells: list[RenderableType] = [column.label for column in self.ordered_columns]
        else:
            cells = self.get_row(key)
        # the cursor's colours win over a cell's own, as in DataTable
        post = Style.from_color(highlight.color, highlight.bgcolor) if cursor else Style()
        options = self.app.console_options.update_dimensions(1, 1).update(no_wrap=True)
        segments: list[Segment] = []
        for column, (cell, cell_width) in enumerate(zip(cells, drawing.widths, strict=False)):
            where = Style.from_meta({"row": index, "column": column})
            lines = self.app.console.render_lines(
                Styled(Padding(cell, (0, self.cell_padding)),
                       pre_style=row_style + highlight + where, post_style=post),
                options.update_width(cell_width))
            segments += lines[0]
        rest = max(0, drawing.width - sum(drawing.widths))
        segments.append(Segment(" " * rest, row_style + highlight + Style.from_meta(
            {"row": index, "column": 0, "out_of_bounds": True})))
        strip = Strip(segments).simplify()
        self._strips[key] = (cache_key, strip)
        return strip


class _Drawing(NamedTuple):
    """What every line of one repaint shares: a row is drawn again when any of it changes."""

    width: int
    base: Style
    cursor: Style
    header: Style
    widths: tuple[int, ...]
