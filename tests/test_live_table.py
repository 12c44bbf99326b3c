"""The live table on screen: a changed cell shows at once while the other rows stay as drawn,
the cursor stays on its row through updates and reordering, the filter narrows the rows and
enter reports the row under the cursor."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable

from widgets.live_table import LiveTable, Row

COLUMNS = [("Status", 4), ("Target", 16), ("Summary", None)]


def rows(summaries: dict[str, str], order: list[str] | None = None) -> list[Row]:
    keys = order or sorted(summaries)
    return [(key, (Text("OK"), Text(key), Text(summaries[key]))) for key in keys]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield LiveTable(COLUMNS, id="t")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        table = self.query_one(LiveTable)
        if table.selected_key is not None:
            self.chosen.append(table.selected_key)


def screen_lines(table: LiveTable) -> list[str]:
    """The lines as painted: a line not marked for repainting keeps its old content."""
    width, height = table.size
    return [strip.text.rstrip() for strip in table.render_lines(Region(0, 0, width, height))]


def line_of(table: LiveTable, key: str) -> str:
    return next(line for line in screen_lines(table) if f" {key} " in f"{line} ")


async def showing(pilot: Pilot[None], summaries: dict[str, str], cursor: int) -> LiveTable:
    """The table filled with one row per summary, focused, the cursor on row `cursor`."""
    table = pilot.app.query_one(LiveTable)
    table.set_rows(rows(summaries))
    await pilot.pause()
    table.focus()
    table.move_cursor(row=cursor)
    await pilot.pause()
    return table


async def test_a_changed_cell_shows_and_the_rest_stays() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        summaries = {"unit:a": "up 3m", "unit:b": "up 5m", "unit:c": "up 7m"}
        table = await showing(pilot, summaries, cursor=1)
        before = {key: line_of(table, key) for key in summaries}

        summaries["unit:b"] = "failed since 03:12 (exit 3)"
        table.set_rows(rows(summaries))
        await pilot.pause()

        assert "failed since 03:12 (exit 3)" in line_of(table, "unit:b")
        assert line_of(table, "unit:a") == before["unit:a"]
        assert line_of(table, "unit:c") == before["unit:c"]
        assert [str(c) for c in table.get_row("unit:b")][2] == "failed since 03:12 (exit 3)"
        assert table.selected_key == "unit:b"


async def test_the_cursor_follows_its_row_the_filter_narrows_enter_reports() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        summaries = {"unit:a": "up", "unit:b": "up", "unit:c": "up"}
        table = await showing(pilot, summaries, cursor=2)  # unit:c

        summaries["unit:c"] = "failed"
        table.set_rows(rows(summaries, order=["unit:c", "unit:a", "unit:b"]))  # worst first
        await pilot.pause()
        assert table.selected_key == "unit:c"
        assert screen_lines(table)[1].split()[1] == "unit:c"
        assert "failed" in line_of(table, "unit:c")

        table.set_filter("unit:b")
        await pilot.pause()
        shown = [line for line in screen_lines(table)[1:] if line.strip()]
        assert len(shown) == 1 and "unit:b" in shown[0]

        await pilot.press("enter")
        await pilot.pause()
        assert app.chosen == ["unit:b"]


async def test_a_changed_row_is_marked_for_repainting_where_it_sits_scrolled_or_not() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        summaries = {f"unit:{n:02d}": "up" for n in range(40)}
        table = await showing(pilot, summaries, cursor=0)
        marked: list[Region] = []
        real_refresh = table.refresh

        def refresh(*regions: Region, **options: object) -> LiveTable:
            marked.extend(regions)
            return real_refresh(*regions, **options)  # type: ignore[arg-type]

        table.refresh = refresh  # type: ignore[method-assign]
        for scroll, changed in ((0, 3), (25, 30)):
            table.scroll_to(y=scroll, animate=False)
            await pilot.pause()
            marked.clear()
            summaries[f"unit:{changed:02d}"] = f"failed {changed}"
            table.set_rows(rows(summaries))
            # where DataTable.refresh_row would mark it, on screen
            expected = table._get_row_region(changed).translate(-table.scroll_offset)
            assert marked == [expected], (scroll, marked, expected)
            await pilot.pause()
            assert f"failed {changed}" in line_of(table, f"unit:{changed:02d}")
        marked.clear()
        summaries["unit:01"] = "failed off screen"
        table.set_rows(rows(summaries))  # scrolled past it: nothing on screen to repaint
        assert marked == []
