"""The console as a user drives it: views, help, filter, palette, actions; and snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from console.config import load_config
from console.core.audit import AuditLog
from screens.app import OpsConsoleApp
from tests.support import fixed_backends
from tests.support.http_server import health_server
from widgets.live_table import LiveTable


@pytest.fixture
def server() -> Iterator[str]:
    with health_server() as url:
        yield url


@pytest.fixture
def app_config(server: str, write_config: Callable[[str], Path]) -> Path:
    return write_config(
        # the healthy endpoint stays OK however loaded the machine running the tests is
        f"[[http]]\nname = 'api'\nurl = '{server}/ok'\nlatency_warn = '30s'\n"
        f"[[http]]\nname = 'broken'\nurl = '{server}/fail'\n"
        "[[host]]\nname = 'web1'\ndisks = ['/']\n")


def rows(app: OpsConsoleApp) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)]
            for i in range(table.row_count)]


def labelled_rows(app: OpsConsoleApp) -> list[dict[str, str]]:
    """Rows as {column label: text} for the columns on screen (they fit the width)."""
    table = app.screen.query_one(LiveTable)
    return [dict(zip(table.shown_columns, row, strict=True)) for row in rows(app)]


def text_of(widget: Any) -> str:
    rendered = widget.render()
    return str(getattr(rendered, "plain", rendered))


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_overview_lists_every_check_worst_first(app_config: Path) -> None:
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) >= 5)
        table = rows(app)
        assert table[0][:2] == ["CRIT", "http:broken"]
        assert "500 in" in table[0][3]
        assert ["OK", "http:api"] in [r[:2] for r in table]
        assert {r[1] for r in table if r[1].startswith("host:web1")} == {
            "host:web1 disk /", "host:web1 memory", "host:web1 load"}


async def test_number_keys_switch_views_and_placeholders_explain(app_config: Path) -> None:
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("7")
        assert app.current_mode == "endpoints"
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        assert [r[1] for r in rows(app)] == ["api", "broken"]
        broken = labelled_rows(app)[1]
        assert broken["Code"] == "500" and broken["Cert"] == "-"
        assert "(expected 200)" in broken["Last error"]
        await pilot.press("3")
        assert app.current_mode == "queues"
        text = text_of(app.screen.query_one("#hint"))
        assert "add a [[redis]] section" in text
        await pilot.press("1")
        assert app.current_mode == "overview"


async def test_help_lists_the_keys_and_closes(app_config: Path) -> None:
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        shown = " ".join(f"{key} {text}" for _, keys in app.screen.sections  # type: ignore[attr-defined]
                         for key, text in keys)
        for words in ("switch view", "refresh", "filter", "actions", "quit", "details"):
            assert words in shown
        await pilot.press("escape")
        assert type(app.screen).__name__ == "OverviewScreen"


async def test_filter_narrows_and_escape_restores(app_config: Path) -> None:
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) >= 5)
        total = len(rows(app))
        await pilot.press("slash", *"broken")
        await pilot.pause(0.1)
        assert [r[1] for r in rows(app)] == ["http:broken"]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert len(rows(app)) == total


async def test_palette_reaches_views_and_actions(app_config: Path) -> None:
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) >= 5)
        await pilot.press("ctrl+p", *"Go to Endpoints")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "endpoints")
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Check http:api" in commands and "Go to Actions" in commands


async def test_check_now_runs_without_confirmation(app_config: Path) -> None:
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("7")
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        await pilot.press("c")
        await wait_for(pilot, lambda: bool(app.session.dispatcher.runs)
                       and app.session.dispatcher.runs[-1].state == "ok")
        assert app.session.dispatcher.runs[-1].outcome is not None
        assert app.session.dispatcher.runs[-1].outcome.message.startswith("OK: 200 in")


@pytest.mark.usefixtures("noop_kind")
async def test_mutating_action_is_confirmed_audited_and_shown(
        tmp_path: Path, write_config: Callable[[str], Path], state_dir: Path) -> None:
    journal = tmp_path / "journal"
    config = load_config(str(write_config(
        f"[[noop]]\nname = 'danger-app'\njournal = '{journal}'\nseconds = 0.3\n")))
    app = OpsConsoleApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        await pilot.press("a")
        assert type(app.screen).__name__ == "ActionMenuScreen"
        await pilot.press("enter")
        assert type(app.screen).__name__ == "ConfirmScreen"
        assert "type danger-app then enter" in text_of(app.screen.query_one("#confirm-keys"))
        await pilot.press(*"danger-ap", "enter")  # wrong name: nothing happens
        assert type(app.screen).__name__ == "ConfirmScreen"
        await pilot.press("p", "enter")
        await wait_for(pilot, lambda: journal.exists())
        await wait_for(pilot, lambda: app.session.dispatcher.runs[-1].state == "ok")
        await pilot.press("8")
        await wait_for(pilot, lambda: any("restart" in r for r in rows(app)))
        first = rows(app)[0]
        assert first[0] == "ok" and first[3] == "unit:danger-app"
        assert first[5] == "danger-app restarted"
    assert [r.phase for r in AuditLog(state_dir).records()] == ["started", "finished"]


@pytest.mark.usefixtures("noop_kind")
async def test_read_only_shows_the_action_disabled_with_the_reason(
        tmp_path: Path, write_config: Callable[[str], Path]) -> None:
    journal = tmp_path / "journal"
    config = load_config(str(write_config(f"[[noop]]\nname = 'app'\njournal = '{journal}'\n")))
    app = OpsConsoleApp(config, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        await pilot.press("a")
        menu = app.screen.query_one("OptionList")
        option = menu.get_option_at_index(0)  # type: ignore[attr-defined]
        assert option.disabled
        assert "read-only mode" in str(option.prompt)
        await pilot.press("enter", "escape")
        app.run_verb("unit:app", "restart")
        await pilot.pause(0.2)
    assert not journal.exists()


async def test_no_config_shows_the_host_and_where_it_looked(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("console.config.DEFAULT_PATHS", (tmp_path / "config.toml",))
    app = OpsConsoleApp(load_config(None))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(rows(app)) >= 3)
        notice = text_of(app.screen.query_one("#notice"))
        assert "No config file found" in notice and str(tmp_path / "config.toml") in notice
        assert "opsconsole --help" in notice


async def test_quit_key_leaves(app_config: Path) -> None:
    app = OpsConsoleApp(load_config(str(app_config)))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_code in (0, None)


# -- snapshots ------------------------------------------------------------------------------
@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed wall clock and time zone for the poll times shown on screen."""
    import console.poller

    class FrozenTime:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def time() -> float:
            return fixed_backends.FROZEN_TIME

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(console.poller, "time", FrozenTime)


def snapshot_app(tmp_path: Path, read_only: bool = False) -> OpsConsoleApp:
    config_path = tmp_path / "config.toml"
    config_path.write_text("[console]\ntitle = 'web1'\n")
    app = OpsConsoleApp(load_config(str(config_path)), read_only=read_only,
                        backends=fixed_backends.sample_backends())
    app.session.identity = app.session.identity.__class__("root", "pts/0", "10.0.0.7")
    return app


async def settle(pilot: Pilot[Any]) -> None:
    await wait_for(pilot, lambda: len(pilot.app.session.board) >= 6)  # type: ignore[attr-defined]
    await pilot.pause(0.3)


@pytest.mark.usefixtures("frozen")
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_snapshot_overview(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    assert snap_compare(snapshot_app(tmp_path), terminal_size=size, run_before=settle)


@pytest.mark.usefixtures("frozen")
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_snapshot_endpoints(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def go(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("7")
        await pilot.pause(0.3)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=size, run_before=go)


@pytest.mark.usefixtures("frozen")
def test_snapshot_help(snap_compare: Any, tmp_path: Path) -> None:
    async def go(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(snapshot_app(tmp_path), terminal_size=(80, 24), run_before=go)


@pytest.mark.usefixtures("frozen")
def test_snapshot_read_only_overview(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(snapshot_app(tmp_path, read_only=True), terminal_size=(160, 48),
                        run_before=settle)
