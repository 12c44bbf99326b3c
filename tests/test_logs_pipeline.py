"""One log pipeline: unit journals and container logs in the Logs view without [[logs]],
and lines without a timestamp keeping their place when merged by time."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import SelectionList

from backends.logs.sources import FileLineSource
from console.config import load_config
from console.core.loglines import LastTime
from console.sandbox.systemd_machine import SystemdMachine
from screens.app import OpsConsoleApp
from screens.help import HelpScreen
from screens.logs import LogsScreen
from tests.test_docker_support import DockerLab, docker_lab
from tests.test_systemd_fixtures import UnitFactory, config_text, make_unit, prefix
from widgets.log_pane import LogPane

__all__ = ["docker_lab", "make_unit", "prefix"]  # fixtures used by name

TICKER = "i=0; while true; do echo {word}-tick $i; i=$((i+1)); sleep 0.3; done"


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], what: str,
                   seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.1)


def test_a_line_without_time_takes_the_time_of_the_line_before(tmp_path: Path) -> None:
    web, worker = tmp_path / "web.log", tmp_path / "worker.log"
    web.write_text("2024-05-01 10:00:00 ERROR request failed\n"
                   "Traceback (most recent call last):\n"
                   '  File "app.py", line 3, in view\n'
                   "2024-05-01 10:00:02 INFO recovered\n")
    worker.write_text("2024-05-01 10:00:01 INFO worker tick\n")
    sources = [FileLineSource("web", str(web), "plain"), FileLineSource("worker", str(worker),
                                                                       "plain")]
    try:
        lines = [line for source in sources for line in source.read()]
    finally:
        for source in sources:
            source.close()
    stamped = datetime(2024, 5, 1, 10, 0, 0).timestamp()
    assert [line.ts for line in lines[:3]] == [stamped] * 3
    lines.sort(key=lambda line: line.ts or 0.0)
    assert [(line.source, line.text[-12:]) for line in lines] == [
        ("web", "quest failed"), ("web", " call last):"), ("web", "e 3, in view"),
        ("worker", " worker tick"), ("web", "FO recovered")]

    last = LastTime()
    assert last.stamp(None, now=50.0) == 50.0  # nothing before it: the time it arrived
    assert last.stamp(10.0, now=50.0) == 10.0
    assert last.stamp(None, now=60.0) == 10.0


async def test_logs_view_follows_journals_and_containers_without_logs_section(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        docker_lab: DockerLab) -> None:
    unit = make_unit(f"{prefix}-ticker.service",
                     f"[Service]\nExecStart=/bin/sh -c '{TICKER.format(word='unit')}'\n")
    systemd_machine.systemctl("start", unit)
    docker_lab.run("ticker", ["sh", "-c", TICKER.format(word="container")])
    unit_label, container_label = f"unit:{unit}", f"container:{docker_lab.name('ticker')}"
    config = docker_lab.write_config(config_text(systemd_machine, [f"{prefix}-*.service"])
                                     + docker_lab.config_text())
    assert "[[logs]]" not in config.read_text()
    app = OpsConsoleApp(load_config(str(config)))
    async with app.run_test(size=(160, 40)) as pilot:
        board = app.session.board
        await wait_for(pilot, lambda: all(board.backend_views(kind)[0].result
                                          for kind in ("systemd", "docker")), "a first poll")
        await pilot.press("0")
        assert isinstance(app.screen, LogsScreen)
        screen = app.screen
        selection = screen.query_one("#log-sources", SelectionList)
        options = lambda: [str(selection.get_option_at_index(i).value)  # noqa: E731
                           for i in range(selection.option_count)]
        await wait_for(pilot, lambda: {unit_label, container_label} <= set(options()),
                       "both sources listed")
        log = screen.query_one(LogPane).log_view

        def sources_seen() -> set[str]:
            return {line.source for line in log.entries}

        await wait_for(pilot, lambda: {unit_label, container_label} <= sources_seen()
                       and len(log.entries) >= 12, "lines of both sources")
        stamps = [line.ts or 0.0 for line in log.entries]
        assert stamps == sorted(stamps)  # merged by time
        order = [line.source for line in log.entries if line.source in (unit_label,
                                                                         container_label)]
        assert sum(a != b for a, b in itertools.pairwise(order)) >= 2  # interleaved
        assert any(line.text.startswith("unit-tick") for line in log.entries)
        assert any(line.text.startswith("container-tick") for line in log.entries)

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.sections[-2][1])
        assert keys["space"] == "pick/unpick source" and keys["tab"] == "sources/log"
        await pilot.press("escape")

        # space on the highlighted option, from the keyboard, unpicks the container
        assert selection.has_focus
        for _ in range(selection.option_count):
            if selection.highlighted is not None and str(selection.get_option_at_index(
                    selection.highlighted).value) == container_label:
                break
            await pilot.press("down")
        await pilot.press("space")
        assert container_label not in selection.selected
        await wait_for(pilot, lambda: log.entries and sources_seen() == {unit_label},
                       "only the journal after the reload")
        shown = log.received
        await wait_for(pilot, lambda: log.received >= shown + 3, "new journal lines")
        assert container_label not in sources_seen()
        assert screen.query_one(LogPane).sources == [unit_label]
