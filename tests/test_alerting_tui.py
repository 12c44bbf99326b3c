"""Silences and maintenance in the TUI: the `z` key, dimmed rows, the header and the panel."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.config import load_config
from console.core.audit import AuditLog
from console.core.model import Status
from console.silences import Silences
from console.transitions import TransitionLog
from screens.app import OpsConsoleApp
from screens.silence import SilencesScreen
from tests.conftest import OPSCONSOLE
from tests.support.http_server import health_server
from tests.test_tui import rows, text_of, wait_for
from widgets.topbar import TopBar


@pytest.fixture
def app_config(write_config: Callable[[str], Path]) -> Iterator[Path]:
    with health_server() as server:
        yield write_config(f"[[http]]\nname = 'api'\nurl = '{server}/ok'\n"
                           f"[[http]]\nname = 'broken'\nurl = '{server}/fail'\n")


async def test_z_silences_the_row_which_stays_visible_dimmed(app_config: Path,
                                                             state_dir: Path) -> None:
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        assert rows(app)[0][:2] == ["CRIT", "http:broken"]
        # The TUI's polls record transitions in the state db, as cron's checks do.
        history = TransitionLog(state_dir)
        await wait_for(pilot, lambda: {(t.target, t.after) for t in history.history()} == {
            ("http:broken", Status.CRITICAL), ("http:api", Status.OK)})
        await pilot.press("z")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "SilenceScreen")
        for key in "db failover":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "http:broken" in app.session.silenced)
        await wait_for(pilot, lambda: "silenced by" in rows(app)[0][3])
        row = rows(app)[0]
        assert row[:2] == ["CRIT", "http:broken"], "its real status, not OK"
        assert "500 in" in row[3] and "db failover" in row[3]
        assert rows(app)[1][3].find("silenced") == -1
    silence = Silences(state_dir).for_target("http:broken")
    assert silence is not None and silence.reason == "db failover"
    assert [(r.verb, r.target) for r in AuditLog(state_dir).records() if r.phase == "finished"] \
        == [("silence", "http:broken")]


async def test_maintenance_shows_in_the_header_and_the_silences_panel(
        app_config: Path, cli_env: dict[str, str]) -> None:
    started = subprocess.run(
        [*OPSCONSOLE, "--headless", "maintenance", "start", "http:api", "--for", "2h",
         "--reason", "kernel update", "--yes", "--config", str(app_config)],
        capture_output=True, text=True, env=cli_env, timeout=60, check=False)
    assert started.returncode == 0, started.stderr
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(160, 48)) as pilot:
        bar = app.screen.query_one(TopBar)
        await wait_for(pilot, lambda: "MAINTENANCE http:api until" in text_of(bar))
        await pilot.press("ctrl+p")
        for key in "Silences":
            await pilot.press(key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SilencesScreen))
        panel = " ".join(text_of(w) for w in app.screen.query("Static"))
        assert "http:api" in panel and "kernel update" in panel and "MAINTENANCE" in panel
