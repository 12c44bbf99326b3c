"""The Logs view merges a unit's journal with log files through the one log widget."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.systemd.journal import JournalLineSource
from console.config import load_config
from console.sandbox.systemd_machine import SystemdMachine
from screens.app import OpsConsoleApp
from tests.test_systemd_fixtures import UnitFactory, config_text, make_unit, prefix
from widgets.log_view import LogView

__all__ = ["make_unit", "prefix"]  # fixtures used by name


def test_journal_source_reads_new_lines_without_blocking(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str) -> None:
    name = make_unit(f"{prefix}-talker.service",
                     "[Service]\nExecStart=/bin/sh -c 'while true; do echo hello-journal; "
                     "sleep 1; done'\n")
    source = JournalLineSource(name, systemd_machine.journal_dir, lines=10)
    try:
        assert source.read() == []  # nothing yet, and no wait
        systemd_machine.systemctl("start", name)
        deadline = time.monotonic() + 60
        seen: list[str] = []
        while time.monotonic() < deadline and not any("hello-journal" in t for t in seen):
            seen += [line.text for line in source.read()]
            time.sleep(0.1)
        assert any("hello-journal" in t for t in seen)
        assert source.status is None
    finally:
        source.close()


async def test_logs_view_offers_unit_journals_beside_files(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        tmp_path: Path, write_config: Callable[[str], Path]) -> None:
    name = make_unit(f"{prefix}-merged.service",
                     "[Service]\nExecStart=/bin/sh -c 'while true; do echo from-the-unit; "
                     "sleep 0.5; done'\n")
    systemd_machine.systemctl("start", name)
    app_log = tmp_path / "app.log"
    app_log.write_text("")
    config = write_config(config_text(systemd_machine, [f"{prefix}-*.service"])
                          + f"[[logs]]\nname = 'app'\npath = '{app_log}'\n")
    app = OpsConsoleApp(load_config(str(config)))
    async with app.run_test(size=(160, 40)) as pilot:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not app.session.board.backend_views("systemd")[0].result:
            await pilot.pause(0.1)
        await pilot.press("0")
        view: Any = app.screen
        log = view.query_one(LogView)
        with app_log.open("a") as out:
            out.write("from-the-file\n")
        texts: list[str] = []
        while time.monotonic() < deadline + 20:
            await pilot.pause(0.2)
            texts = [line.text for line in log.entries]
            sources = {line.source for line in log.entries}
            if "from-the-unit" in texts and "from-the-file" in texts:
                break
        assert "from-the-unit" in texts and "from-the-file" in texts
        assert {f"unit:{name}", "app"} <= sources
