"""Every view pictured at 80x24 and 200x50 from snapshots recorded on the test bed, and the
cause of the worst row on screen at 80x24 in each view that has a cause column.

The backends replay recorded snapshots (tests/support/view_replays.py): the real checks judge
them and the real screens draw them, under a fixed clock and time zone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.core.audit import AuditLog
from screens.app import OpsConsoleApp
from tests.support import view_replays
from widgets.live_table import LiveTable

REPLAYED_CHECKS = 29  # what evaluate() makes of every recorded snapshot together
SIZES = [(80, 24), (200, 50)]
VIEWS = ["overview", "units", "queues", "celery", "containers", "database", "endpoints",
         "actions", "deploy", "logs", "processes", "services", "fleet"]


@pytest.fixture
def replayed(monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> Iterator[None]:
    """The recording's wall clock and UTC for every time shown; an audited failed restart."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(time, "time", lambda: view_replays.NOW)
    audit = AuditLog(state_dir)
    for phase, error in (("started", ""), ("finished", "demo-flappy.service: Main process "
                                                        "exited, code=exited, status=1/FAILURE")):
        audit.append(action_id="a-0001", phase=phase, who="root", client="pts/0 10.0.0.7",
                     verb="restart", target="unit:demo-flappy.service", error=error)
    yield
    monkeypatch.undo()
    time.tzset()


def replay_app(tmp_path: Path) -> OpsConsoleApp:
    config = view_replays.write_config(tmp_path)
    app = OpsConsoleApp(config, backends=view_replays.replay_backends(config))
    app.session.identity = app.session.identity.__class__("root", "pts/0", "10.0.0.7")
    return app


async def wait_for(pilot: Pilot[Any], condition: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def show(pilot: Pilot[Any], view: str) -> None:
    """Every recorded check on the board, then `view` on screen and drawn."""
    app: OpsConsoleApp = pilot.app  # type: ignore[assignment]
    await wait_for(pilot, lambda: len(app.session.board) >= REPLAYED_CHECKS)
    await app.switch_mode(view)
    screen = app.screen
    tables = list(screen.query(LiveTable))
    if tables and view not in ("actions", "fleet"):
        await wait_for(pilot, lambda: tables[0].row_count > 0)
    await pilot.pause(1.2)  # past the redraw gap: the last poll's redraw has landed


def table_text(table: LiveTable) -> str:
    """The table as the terminal shows it, line by line."""
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


@pytest.mark.usefixtures("replayed")
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", VIEWS)
def test_snapshot_view(snap_compare: Any, tmp_path: Path, view: str,
                       size: tuple[int, int]) -> None:
    async def go(pilot: Pilot[Any]) -> None:
        await show(pilot, view)

    assert snap_compare(replay_app(tmp_path), terminal_size=size, run_before=go)


# (view, table id, cause column, leading words of the worst row's cause, a key to press first)
CAUSES = [
    ("overview", "checks", "Summary", "crash loop: restarting", None),
    ("units", "units", "Note", '"Fatal: config missing"', None),
    ("queues", "queues", "Failed", "5", None),
    ("celery", "failed-table", "Exception", "ValueError: demo failure", "f"),
    ("containers", "containers", "Note", "Fatal: On start, ledger", None),
    ("database", "pg-sessions", "Query", "UPDATE customers SET", None),
    ("endpoints", "endpoints", "Last error", "503 in 17 ms (expected 200)", None),
    ("actions", "runs", "Message", "root: demo-flappy.service", None),
    ("deploy", "history", "Outcome", "failed: health check", None),
    ("processes", "programs", "Cause", "Exited too quickly", None),
    ("processes", "processes", "Summary", "no process matches", None),
    ("processes", "cronjobs", "Summary", "*/5 * * * * root", None),
    ("services", "services", "Cause", "", None),
]


@pytest.mark.usefixtures("replayed")
@pytest.mark.parametrize(("view", "table_id", "column", "words", "key"), CAUSES,
                         ids=[f"{c[0]}-{c[1]}" for c in CAUSES])
async def test_the_cause_is_on_screen_at_80x24(tmp_path: Path, view: str, table_id: str,
                                                column: str, words: str,
                                                key: str | None) -> None:
    app = replay_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await show(pilot, view)
        if key:
            await pilot.press(key)
        table = app.screen.query_one(f"#{table_id}", LiveTable)
        await wait_for(pilot, lambda: table.row_count > 0 and table.size.height > 2)
        assert column in table.shown_columns, table.shown_columns
        shown = table_text(table)
        cell = str(getattr(table.get_row_at(0)[table.shown_columns.index(column)], "plain", ""))
        assert cell.startswith(words) or words in cell, (cell, words)
        lead = cell.strip()[:max(len(words), 12)]
        assert lead in shown, f"{lead!r} not on screen:\n{shown}"
