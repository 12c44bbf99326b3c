"""Every view on a fleet host: opened from the Fleet view, fed by its bridge over real sshd.

Three simulated hosts (127.A.B.K, one sshd each) and the console each watch their own queue
family on one scratch redis-server, so a view that showed the local machine's data instead of
the host's would show the wrong queue.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from redis import Redis
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from console.config import load_config
from console.core.audit import AuditLog
from console.sandbox.redis_server import RedisServer
from console.sandbox.sshd_host import SimulatedFleet
from screens.app import OpsConsoleApp
from screens.fleet import FleetScreen
from tests.test_fleet_tui import rows, until
from tests.test_redis_screen import client
from widgets.log_view import LogView
from widgets.topbar import TopBar

__all__ = ["client"]  # a fixture used by name


def queue_section(server: RedisServer, family: str) -> str:
    return (f'[[redis]]\nname = "jobs"\nurl = "{server.url}"\ntimeout = 2\n'
            f'  [[redis.queues]]\n  name = "{family}"\n  queue = "{family}:queue"\n'
            f'  processing = "{family}:processing"\n  failed = "{family}:failed"\n')


@pytest.fixture
def fleet_app(ssh_fleet: SimulatedFleet, scratch_redis: RedisServer,
              client: Redis) -> OpsConsoleApp:
    """web1 (group web, with a log file), web2 (group web, protected), db1 (group db,
    read-only on the host); the console itself watches family `here`."""
    client.rpush("here:queue", "l1")
    client.rpush("w1:queue", *[f"w{i}" for i in range(7)])
    client.sadd("w1:failed", "f1", "f2", "f3")
    client.rpush("d1:queue", "d1")
    client.sadd("d1:failed", "g1", "g2")
    log = ssh_fleet.root / "web1-app.log"
    log.write_text("".join(f"2026-11-30 03:12:0{i} web1 app line {i}\n" for i in range(3)))
    ssh_fleet.add("web1", queue_section(scratch_redis, "w1")
                  + f'[[logs]]\nname = "app"\npath = "{log}"\n', console='refresh = "0.5s"',
                  group="web")
    ssh_fleet.add("web2", queue_section(scratch_redis, "w2"), console='refresh = "0.5s"',
                  group="web", confirm="type-name")
    ssh_fleet.add("db1", queue_section(scratch_redis, "d1"),
                  console='refresh = "0.5s"\nread_only = true', group="db")
    config = ssh_fleet.console_config(f'\n{queue_section(scratch_redis, "here")}')
    text = config.read_text().replace('[console]\n', '[console]\nrefresh = "0.5s"\n', 1)
    config.write_text(text)
    return OpsConsoleApp(load_config(str(config)))


def bar(app: OpsConsoleApp) -> str:
    return str(app.screen.query_one(TopBar).render())


async def open_host(pilot: Pilot[Any], app: OpsConsoleApp, name: str) -> None:
    """From the Fleet view: wait for the host to be up, move to its row, press enter."""
    await pilot.press("H")
    fleet = app.fleet
    assert fleet is not None
    # every host up with its checks first: the rows are sorted worst first
    await until(pilot, lambda: all(h.state == "up" and h.results for h in fleet.hosts.values())
                and len(rows(app)) == len(fleet.hosts), "every host up")
    await pilot.pause(1.2)  # the redraw that sorts them
    table = app.screen.query_one(DataTable)
    wanted = [r[0] for r in rows(app)].index(name)
    step = "down" if wanted > table.cursor_row else "up"
    await pilot.press(*[step] * abs(wanted - table.cursor_row), "enter")
    await until(pilot, lambda: app.session.host == name and app.current_mode == "overview",
                f"{name}'s Overview")


def queue_row(app: OpsConsoleApp, name: str) -> list[str]:
    return next((r for r in rows(app) if r[1] == name), [])


async def test_every_view_shows_the_opened_host(fleet_app: OpsConsoleApp,
                                                ssh_fleet: SimulatedFleet) -> None:
    app = fleet_app
    async with app.run_test(size=(180, 48)) as pilot:
        await open_host(pilot, app, "web1")
        assert "web1 (" in bar(app) and "via ssh, group web" in bar(app)
        await until(pilot, lambda: any(r[1] == "queue:jobs/w1" for r in rows(app)),
                    "web1's checks on its Overview")
        assert not any("here" in r[1] for r in rows(app))  # not this machine's queue
        assert not app.screen.has_class("-protected")

        await pilot.press("3")  # Queues: web1's own family, from its snapshot
        assert app.current_mode == "queues"
        await until(pilot, lambda: queue_row(app, "jobs/w1")[2:3] == ["7"], "web1's queue")
        assert queue_row(app, "jobs/w1")[7] == "3"  # its failed set
        assert queue_row(app, "jobs/here") == []
        assert "web1 (" in bar(app)

        await pilot.press("0")  # Logs: read on web1, by its bridge
        assert app.current_mode == "logs"
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: any("web1 app line 2" in e.text for e in view.entries),
                    "web1's log lines")

        await pilot.press("L")  # this machine again, in every view
        await until(pilot, lambda: app.session is app.local_session
                    and app.current_mode == "overview", "this machine's Overview")
        await pilot.press("3")
        await until(pilot, lambda: queue_row(app, "jobs/here")[2:3] == ["1"], "the local queue")
        assert queue_row(app, "jobs/w1") == [] and "web1" not in bar(app)

        await pilot.press("N")  # the next host after this machine: db1 (by name)
        await until(pilot, lambda: app.session.host == "db1", "db1 by key")
        await pilot.press("N", "N")
        await until(pilot, lambda: app.session.host == "web2", "web2 by key")
        assert app.screen.has_class("-protected")  # a protected group: on every view
        await pilot.press("3")
        assert app.current_mode == "queues" and app.screen.has_class("-protected")
        await until(pilot, lambda: queue_row(app, "jobs/w2")[2:3] == ["0"], "web2's queue")
        assert "web2 (" in bar(app)
        ssh_fleet.hosts["web2"].kill_sshd()  # the host goes away: its views say so
        await until(pilot, lambda: queue_row(app, "jobs/w2")[:1] == ["UNKN"], "web2 down")


async def test_a_remote_retry_is_confirmed_here_and_audited_there(
        fleet_app: OpsConsoleApp, ssh_fleet: SimulatedFleet, client: Redis) -> None:
    app = fleet_app
    async with app.run_test(size=(180, 48)) as pilot:
        await open_host(pilot, app, "web1")
        await pilot.press("3")
        await until(pilot, lambda: queue_row(app, "jobs/w1")[7:8] == ["3"], "web1's failed set")
        await pilot.press("t")
        assert type(app.screen).__name__ == "ConfirmScreen"
        said = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "on web1" in said and "move 3 items from w1:failed back to w1:queue" in said
        await pilot.press("y")
        await until(pilot, lambda: queue_row(app, "jobs/w1")[2:3] == ["10"]
                    and queue_row(app, "jobs/w1")[7] == "0", "the retried items on screen")
    assert client.llen("w1:queue") == 10 and client.exists("w1:failed") == 0
    assert client.llen("here:queue") == 1  # this machine's family untouched
    records = AuditLog(ssh_fleet.state_dir("web1")).records()
    assert [(r.phase, r.verb, r.target) for r in records] == [
        ("started", "retry", "queue:jobs/w1"), ("finished", "retry", "queue:jobs/w1")]
    operator = f"root@{socket.gethostname()} via ssh from 127.0.0.1"
    assert all(r.client == operator for r in records), records
    assert AuditLog(ssh_fleet.root / "console-state").records() == []


async def test_a_read_only_host_refuses_with_its_reason_on_screen(
        fleet_app: OpsConsoleApp, ssh_fleet: SimulatedFleet, client: Redis) -> None:
    app = fleet_app
    async with app.run_test(size=(180, 48)) as pilot:
        await open_host(pilot, app, "db1")
        assert "READ-ONLY" in bar(app)
        await pilot.press("3")
        await until(pilot, lambda: queue_row(app, "jobs/d1")[7:8] == ["2"], "db1's failed set")
        await pilot.press("t")
        wanted = "read-only mode: 'retry' changes queue:jobs/d1 and is disabled"
        await until(pilot, lambda: any(wanted in str(n.message)
                                       for n in app._notifications), "the host's refusal")
        assert type(app.screen).__name__ != "ConfirmScreen"
    assert client.scard("d1:failed") == 2 and client.llen("d1:queue") == 1
    refused = AuditLog(ssh_fleet.state_dir("db1")).records()
    assert [(r.phase, r.verb, r.target) for r in refused] == [
        ("refused", "retry", "queue:jobs/d1")]
    assert refused[0].client.startswith(f"root@{socket.gethostname()} via ssh")


async def test_the_group_filter_cycles_through_the_groups(fleet_app: OpsConsoleApp) -> None:
    app = fleet_app
    async with app.run_test(size=(180, 48)) as pilot:
        await pilot.press("H")
        assert isinstance(app.screen, FleetScreen)
        await until(pilot, lambda: len(rows(app)) == 3, "every host listed")

        def shown() -> list[str]:
            return sorted(r[0] for r in rows(app))

        def notice() -> str:
            return str(app.screen.query_one("#notice", Static).render())

        await pilot.press("g")
        assert shown() == ["db1"] and notice().startswith("Group db: 1 hosts")
        await pilot.press("g")
        assert shown() == ["web1", "web2"] and notice().startswith("Group web: 2 hosts")
        await pilot.press("g")
        assert shown() == ["db1", "web1", "web2"] and notice().startswith("3 hosts")
        footer = {a.binding.key: a.binding.description for a in app.screen.active_bindings.values()}
        assert footer.get("g") == "group"
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        keys = dict(k for _, keys in app.screen.sections for k in keys)  # type: ignore[attr-defined]
        assert keys.get("g") == "group" and keys.get("N") == "next host"
        assert keys.get("L") == "this machine"
