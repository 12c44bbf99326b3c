"""The Containers view with Pilot, a real dockerd behind it: rows, keys, details and logs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from screens.app import OpsConsoleApp
from screens.container_detail import ContainerDetailScreen
from screens.containers import ContainersScreen
from tests.test_docker_support import FATAL, LEDGER_SCRIPT, DockerLab, docker_lab, wait_for
from widgets.live_table import LiveTable
from widgets.log_view import LogView

__all__ = ["docker_lab"]


async def until(pilot, predicate: Callable[[], object], what: str,  # type: ignore[no-untyped-def]
                timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


def row_text(table: LiveTable, name: str) -> str:
    for index in range(table.row_count):
        cells = [str(getattr(c, "plain", c)) for c in table.get_row_at(index)]
        if name in cells:
            return " | ".join(cells)
    return ""


def test_containers_view_keys_details_and_logs(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("ledger-data")
    docker_lab.run("ledger", ["sh", "-c", LEDGER_SCRIPT],
                   restart_policy={"Name": "unless-stopped"}, volumes={volume: {"bind": "/data"}})
    docker_lab.run("web", ["sh", "-c", "echo 'web says hello'; exec sleep 3600"])
    wait_for(lambda: docker_lab.state("ledger")["State"]["Running"], what="ledger start")
    docker_lab.client.api.restart(docker_lab.name("ledger"), timeout=1)
    wait_for(lambda: docker_lab.state("ledger")["RestartCount"] >= 1, what="crash loop")
    web_started = docker_lab.state("web")["State"]["StartedAt"]
    app = OpsConsoleApp(docker_lab.config())

    async def scenario() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("5")
            await until(pilot, lambda: isinstance(app.screen, ContainersScreen), "the view")
            table = app.screen.query_one("#containers", LiveTable)
            await until(pilot, lambda: FATAL in row_text(table, docker_lab.name("ledger")),
                        "the crash loop row")
            ledger = row_text(table, docker_lab.name("ledger"))
            assert ledger.startswith("CRIT")
            assert docker_lab.name("ledger") in str(table.get_row_at(0)[1])  # worst first
            await until(pilot, lambda: row_text(table, docker_lab.name("web")), "the web row")
            assert row_text(table, docker_lab.name("web")).startswith("OK")
            volumes = app.screen.query_one("#volumes", LiveTable)
            await until(pilot, lambda: row_text(volumes, volume), "the volume row")

            assert "never" in row_text(volumes, volume)
            table.focus()
            table.move_cursor(row=0)
            await pilot.press("b")  # the ledger's volume
            await pilot.pause(0.3)
            await pilot.press("y")
            await until(pilot, lambda: "sha256" in row_text(volumes, volume), "the backup")

            table.move_cursor(row=1)
            await pilot.press("R")
            await pilot.pause(0.3)
            await pilot.press("y")
            await until(pilot, lambda: docker_lab.state("web")["State"]["StartedAt"]
                        != web_started, "the restart")

            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ContainerDetailScreen), "details")
            log = app.screen.query_one(LogView)
            await until(pilot, lambda: any(line.text == "web says hello" for line in log.entries),
                        "the web container's logs")
            await pilot.press("slash")
            await pilot.press(*"hello")
            assert log.term == "hello"
            await pilot.press("escape", "escape")
            await until(pilot, lambda: isinstance(app.screen, ContainersScreen), "back")

    asyncio.run(scenario())
