"""The Logs view driven with Pilot while the test writes, rotates and truncates real files."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import SelectionList

from console.config import load_config
from screens.app import OpsConsoleApp
from widgets.log_view import LogView


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def append(path: Path, *lines: str) -> None:
    with path.open("a") as handle:
        handle.write("".join(line + "\n" for line in lines))


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def texts(view: LogView) -> list[str]:
    return [line.text.split(" ", 3)[3] for line in view.entries]


async def test_follow_merged_sources_through_rotation_with_search_and_keys(
        tmp_path: Path, write_config: Callable[..., Path]) -> None:
    web, worker = tmp_path / "web.log", tmp_path / "worker.log"
    base = time.time() - 60
    append(web, f"{stamp(base)} INFO web started", f"{stamp(base + 2)} INFO web request",
           f"{stamp(base + 4)} ERROR web failed request")
    append(worker, f"{stamp(base + 1)} INFO worker started",
           f"{stamp(base + 3)} WARNING worker slow task")
    config = write_config(
        f"[[logs]]\nname = 'web'\npath = '{web}'\nerror_pattern = 'failed'\n"
        f"[[logs]]\nname = 'worker'\npath = '{worker}'\n")
    app = OpsConsoleApp(load_config(str(config)))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("0")
        await wait_for(pilot, lambda: len(app.screen.query(LogView)) == 1)
        view = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: len(view.entries) == 5)
        # both files' existing lines, merged in time order
        assert texts(view) == ["web started", "worker started", "web request",
                               "worker slow task", "web failed request"]
        assert [line.source for line in view.entries] == ["web", "worker", "web", "worker", "web"]

        # live lines: written out of order across the two files, shown in time order
        now = time.time()
        append(web, f"{stamp(now + 0.2)} INFO web live")
        append(worker, f"{stamp(now + 0.1)} INFO worker live")
        await wait_for(pilot, lambda: len(view.entries) == 7)
        assert texts(view)[-2:] == ["worker live", "web live"]

        # rotation by rename (web) and by copytruncate (worker) while following
        web.rename(tmp_path / "web.log.1")
        append(web, f"{stamp(time.time())} INFO web after rotation")
        with worker.open("r+") as handle:
            handle.truncate(0)
        append(worker, f"{stamp(time.time())} INFO worker after truncate")
        await wait_for(pilot, lambda: len(view.entries) == 9)
        assert set(texts(view)[-2:]) == {"web after rotation", "worker after truncate"}

        # `/` searches and highlights; `m` hides what does not match
        await pilot.press("slash", *"after", "enter")
        assert view.term == "after"
        await pilot.press("m")
        await wait_for(pilot, lambda: len(view.lines) == 2)
        assert all("after" in line for line in view.lines)
        await pilot.press("m")
        await wait_for(pilot, lambda: len(view.lines) == 9)

        # `e` jumps to the first error and holds the view there; `p` follows again
        append(worker, *(f"{stamp(time.time())} INFO filler {i}" for i in range(200)))
        await wait_for(pilot, lambda: len(view.lines) == 209)
        await pilot.pause(0.1)
        assert view.scroll_y > 100  # following: the newest lines are on screen
        await pilot.press("e")
        assert view.paused
        assert "web failed request" in view.lines[int(view.scroll_y)]
        await pilot.press("p")
        assert not view.paused

        # `w` wraps a long line over several rows, and back
        append(web, f"{stamp(time.time())} INFO web long " + "x" * 400)
        await wait_for(pilot, lambda: "x" * 400 in view.lines[-1])
        await pilot.press("w")
        await wait_for(pilot, lambda: view.wrap and "x" * 400 not in "".join(view.lines[-1:]))
        assert max(len(row) for row in view.lines) < 160
        assert "".join(row.strip() for row in view.lines[-5:]).count("x") == 400
        await pilot.press("w")
        await wait_for(pilot, lambda: "x" * 400 in view.lines[-1])

        # unticking a source leaves only the other one
        sources = app.screen.query_one(SelectionList)
        sources.deselect("worker")
        await wait_for(pilot, lambda: bool(view.entries)
                       and {line.source for line in view.entries} == {"web"})
        append(worker, f"{stamp(time.time())} INFO worker unseen")
        append(web, f"{stamp(time.time())} INFO web seen")
        await wait_for(pilot, lambda: "web seen" in texts(view))
        assert "worker unseen" not in texts(view)


async def test_missing_file_shows_waiting_then_its_lines(tmp_path: Path,
                                                         write_config: Callable[..., Path]
                                                         ) -> None:
    later = tmp_path / "later.log"
    config = write_config(f"[[logs]]\nname = 'later'\npath = '{later}'\n")
    app = OpsConsoleApp(load_config(str(config)))
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("0")
        await wait_for(pilot, lambda: "waiting for file" in str(
            app.screen.query_one("#log-state").render()))
        later.write_bytes(b"no timestamp here, and a stray byte \xff\n")
        view = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: len(view.entries) == 1)
        assert view.entries[0].text == "no timestamp here, and a stray byte \\xff"
        assert view.entries[0].ts is not None  # stamped when it arrived
        await wait_for(pilot, lambda: "waiting" not in str(
            app.screen.query_one("#log-state").render()))


async def test_on_a_narrow_terminal_the_sources_list_shows_only_while_picking(
        tmp_path: Path, write_config: Callable[..., Path]) -> None:
    web = tmp_path / "web.log"
    append(web, f"{stamp(time.time() - 5)} INFO web started")
    config = write_config(f"[[logs]]\nname = 'web'\npath = '{web}'\n")
    app = OpsConsoleApp(load_config(str(config)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("0")
        await wait_for(pilot, lambda: len(app.screen.query(LogView)) == 1)
        sources = app.screen.query_one(SelectionList)
        view = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: sources.has_focus and len(view.entries) == 1)
        assert sources.display and view.size.width < 50  # picking: the list is there
        await pilot.press("tab")
        await wait_for(pilot, lambda: view.size.width >= 76)  # reading: the log has the width
        assert not sources.display and view.has_focus
        await pilot.press("space")  # picking again brings the list back, nothing toggled
        await wait_for(pilot, lambda: sources.display and sources.has_focus)
        assert sources.selected == ["web"]
        await pilot.press("tab", "tab")
        await wait_for(pilot, lambda: sources.display and sources.has_focus)
    wide = OpsConsoleApp(load_config(str(config)))
    async with wide.run_test(size=(160, 48)) as pilot:
        await pilot.press("0")
        await wait_for(pilot, lambda: len(wide.screen.query(LogView)) == 1)
        sources = wide.screen.query_one(SelectionList)
        await wait_for(pilot, lambda: sources.has_focus)
        await pilot.press("tab")
        await wait_for(pilot, lambda: wide.screen.query_one(LogView).has_focus)
        assert sources.display  # wide enough for both
