"""The history chart in a target's details, and the Timeline view's keys, on fixed backends
with a frozen clock (the real sequence is tests/test_timeline_testbed.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Sparkline

import screens.details
from console.config import load_config
from console.core.model import CheckResult, Perf, Status
from console.perfhistory import PerfHistory
from console.transitions import Transition, TransitionLog
from screens.app import OpsConsoleApp
from tests.support.fixed_backends import FROZEN_TIME, FixedBackend
from tests.test_tui import frozen, rows, wait_for
from widgets.perf_chart import buckets, marks

__all__ = ["frozen"]

TARGET = "queue:crawl/auto_record"
NOW_CHECK = CheckResult(TARGET, Status.WARNING, "depth 96 · growing for 25m", perfdata=(
    Perf("depth", 96, warn=50, crit=200), Perf("failed", 3)))


def depth_at(minute: int) -> float:
    """The queue drains at about 5 until minute 30, then grows by 3 a minute."""
    return 5.0 + minute % 3 if minute < 30 else 5.0 + (minute - 30) * 3


def record_an_hour(state_dir: Path) -> None:
    """What an hour of cron runs left: a value a minute, the queue going bad at minute 45."""
    history = PerfHistory(state_dir)
    start = FROZEN_TIME - 3600
    for minute in range(61):
        check = CheckResult(TARGET, Status.OK, "", perfdata=(
            Perf("depth", depth_at(minute)), Perf("failed", 0 if minute < 40 else 3)))
        history.record("redis:crawl", [check], start + minute * 60)
    log = TransitionLog(state_dir)
    log.record([CheckResult(TARGET, Status.OK, "depth 5")], start - 60)
    log.record([CheckResult(TARGET, Status.WARNING, "growing")], start + 45 * 60)
    log.record([CheckResult(TARGET, Status.CRITICAL, "failed 3")], start + 50 * 60)
    log.record([NOW_CHECK], start + 55 * 60)


def chart_app(tmp_path: Path) -> OpsConsoleApp:
    config_path = tmp_path / "config.toml"
    config_path.write_text("[console]\ntitle = 'web1'\n")
    app = OpsConsoleApp(load_config(str(config_path)),
                        backends=[FixedBackend("redis", "crawl", [NOW_CHECK])])
    app.session.identity = app.session.identity.__class__("root", "pts/0", "10.0.0.7")
    record_an_hour(app.session.config.console.state_dir)
    return app


def test_buckets_and_marks_place_values_and_transitions_in_their_columns() -> None:
    start = FROZEN_TIME - 3600
    points = [(start + m * 60, depth_at(m)) for m in range(0, 60, 2)]
    columns = buckets(points, start, FROZEN_TIME)
    assert columns[0] == 5.0 and columns[1] is None and columns[58] == depth_at(58)
    marked = marks([Transition(TARGET, Status.OK, Status.WARNING, start + 45 * 60, ""),
                    Transition(TARGET, Status.WARNING, Status.CRITICAL, start + 45 * 60 + 5, ""),
                    Transition(TARGET, None, Status.OK, start - 60, "")], start, FROZEN_TIME)
    assert marked == {45: Status.CRITICAL}


@pytest.mark.usefixtures("frozen")
def test_snapshot_details_chart_with_transitions(snap_compare: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    class Frozen:
        @staticmethod
        def time() -> float:
            return FROZEN_TIME

    monkeypatch.setattr(screens.details, "time", Frozen)

    async def go(pilot: Pilot[Any]) -> None:
        app: Any = pilot.app
        await wait_for(pilot, lambda: app.session.check(TARGET) is not None)
        app.open_details(app.session.check(TARGET))
        await wait_for(pilot, lambda: len(app.screen.query(Sparkline)) == 2)
        await pilot.pause(0.3)

    assert snap_compare(chart_app(tmp_path), terminal_size=(100, 40), run_before=go)


async def test_timeline_view_filters_and_jumps_to_the_first_failure(tmp_path: Path) -> None:
    app = chart_app(tmp_path)
    # the transitions were recorded an hour before the frozen time: widen to the last day
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("h")
        assert app.current_mode == "timeline"
        screen: Any = app.screen
        await wait_for(pilot, lambda: screen.timeline is not None)
        screen.window = time.time() - FROZEN_TIME + 7200
        screen.action_reload()
        await wait_for(pilot, lambda: len(rows(app)) >= 4)
        assert [r[4] for r in rows(app)][:4] == ["first seen -> OK", "OK -> WARNING",
                                                 "WARNING -> CRITICAL", "CRITICAL -> WARNING"]
        await pilot.press("s")  # not OK only
        assert [r[1] for r in rows(app)] == ["WARN", "CRIT", "WARN"]
        await pilot.press("k")  # kind: status only
        await pilot.press("s", "s", "s")  # back to every status
        assert len(rows(app)) == 4
        await pilot.press("f")
        assert screen.selected_event().what == "OK -> WARNING"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "queues")


async def test_the_console_records_perfdata_history_as_it_polls(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text("[console]\ntitle = 'web1'\n")
    app = OpsConsoleApp(load_config(str(config_path)),
                        backends=[FixedBackend("redis", "crawl", [NOW_CHECK])])
    history = PerfHistory(app.session.config.console.state_dir)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: history.series(TARGET, time.time() - 120) != {})
    recorded = history.series(TARGET, time.time() - 120)
    assert [v for _, v in recorded["depth"]] == [96.0]
    assert [v for _, v in recorded["failed"]] == [3.0]
