"""The Fleet view driven as a user would, against real sshd hosts on 127.A.B.K."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.config import load_config
from console.sandbox.sshd_host import SimulatedFleet
from screens.app import OpsConsoleApp
from screens.fleet import FleetScreen
from screens.overview import OverviewScreen
from tests.support.http_server import health_server
from widgets.topbar import TopBar


@pytest.fixture
def server() -> Iterator[str]:
    with health_server() as url:
        yield url


def rows(app: OpsConsoleApp) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)]
            for i in range(table.row_count)]


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str,
                seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds}s: {what}"
        await pilot.pause(0.1)


def row_of(app: OpsConsoleApp, host: str) -> list[str] | None:
    return next((r for r in rows(app) if r[0] == host), None)


async def select(pilot: Pilot[Any], app: OpsConsoleApp, host: str) -> None:
    """Move the cursor to `host`'s row with the arrow keys."""
    table = app.screen.query_one(DataTable)
    wanted = [r[0] for r in rows(app)].index(host)
    step = "down" if wanted > table.cursor_row else "up"
    await pilot.press(*[step] * abs(wanted - table.cursor_row))


async def test_fleet_view_lists_hosts_and_opens_one(ssh_fleet: SimulatedFleet,
                                                    server: str) -> None:
    ssh_fleet.add("web1", f'[[http]]\nname = "api"\nurl = "{server}/ok"\n', group="web")
    ssh_fleet.add("web2", f'[[http]]\nname = "api"\nurl = "{server}/fail"\n', group="web",
                  confirm="type-name")
    dead = ssh_fleet.add("db1", "")
    dead.kill_sshd()
    ssh_fleet.add("cache1", "").hang()  # accepts connections, then says nothing
    app = OpsConsoleApp(load_config(str(ssh_fleet.console_config())))
    async with app.run_test(size=(180, 40)) as pilot:
        await pilot.press("H")
        assert isinstance(app.screen, FleetScreen)
        await until(pilot, lambda: (row_of(app, "web1") or [""] * 8)[2] == "up"
                    and (row_of(app, "web1") or [""] * 8)[4] == "1 ok"  # its counts drawn too
                    and (row_of(app, "web2") or [""] * 8)[3] == "CRIT"
                    and (row_of(app, "db1") or [""] * 8)[2] == "DOWN", "every host's state")
        web1, web2, db1 = row_of(app, "web1"), row_of(app, "web2"), row_of(app, "db1")
        assert web1 is not None and web2 is not None and db1 is not None
        # the hung host is still connecting; it held up neither the others nor the keys
        cache1 = row_of(app, "cache1") or [""] * 8
        assert cache1[2] == "connecting" or (cache1[2] == "DOWN" and "timed out" in cache1[5])
        assert [r[0] for r in rows(app)] == ["web2", "cache1", "db1", "web1"]  # worst first
        assert web1[3:6] == ["OK", "1 ok", "all OK"] and web1[6].startswith("1 (")
        assert web1[7].endswith(" ms")
        assert web2[4] == "1 crit" and web2[5].startswith("http:api: 500")
        assert db1[3] == "UNKN" and db1[5].startswith("connection refused (")

        await select(pilot, app, "web2")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen)
                    and app.session.host == "web2", "web2's Overview")
        assert app.screen.has_class("-protected")
        bar = str(app.screen.query_one(TopBar).render())
        assert "web2 (" in bar and "via ssh, group web" in bar
        await until(pilot, lambda: bool(rows(app)), "web2's checks")
        assert rows(app)[0][:2] == ["CRIT", "http:api"]

        await pilot.press("H")
        assert isinstance(app.screen, FleetScreen)
        assert not app.screen.has_class("-protected")  # the fleet is no one host
        await select(pilot, app, "db1")  # whose sshd is stopped
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OverviewScreen)
                    and app.session.host == "db1", "db1's Overview")
        assert not app.screen.has_class("-protected")
        notice = str(app.screen.query_one("#notice", Static).render())
        assert notice.startswith("db1 unreachable: connection refused (")
        assert rows(app) == []
