"""What an opened fleet host's views do as on the local machine (real sshd hosts, the bridge
over ssh): silences kept, applied and audited on the host and shown on its Overview here, a
queue's items and a unit's properties read there, an endpoint's URL and a database's location without their
passwords, the host's own timeline, the deploy of the release chosen here confirmed with it."""

from __future__ import annotations

import socket

from redis import Redis
from textual.widgets import DataTable, Static

from console.config import load_config
from console.core.audit import AuditLog
from console.sandbox.sshd_host import SimulatedFleet
from console.sandbox.systemd_machine import SystemdMachine
from console.silences import Silences
from screens.app import OpsConsoleApp
from tests.support.http_server import health_server
from tests.test_deploy import Release, git, release
from tests.test_fleet_tui import rows, until
from tests.test_fleet_views import client, fleet_app, open_host, queue_row
from tests.test_systemd_fixtures import UnitFactory, config_text, make_unit, prefix

__all__ = ["client", "fleet_app", "make_unit", "prefix", "release"]  # fixtures used by name


async def test_z_on_a_host_silences_it_there_and_its_overview_says_so(
        fleet_app: OpsConsoleApp, ssh_fleet: SimulatedFleet) -> None:
    app = fleet_app
    async with app.run_test(size=(180, 48)) as pilot:
        await open_host(pilot, app, "web1")
        await until(pilot, lambda: any(r[1] == "queue:jobs/w1" for r in rows(app)),
                    "web1's queue on its Overview")
        wanted = [r[1] for r in rows(app)].index("queue:jobs/w1")
        table = app.screen.query_one(DataTable)
        await pilot.press(*["down"] * (wanted - table.cursor_row))
        await pilot.press("z")
        await until(pilot, lambda: type(app.screen).__name__ == "SilenceScreen", "the dialog")
        for key in "db failover":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")

        def row() -> list[str]:
            return next((r for r in rows(app) if r[1] == "queue:jobs/w1"), [])

        await until(pilot, lambda: "silenced by" in (row() or ["", "", "", ""])[3],
                    "the silenced row on web1's Overview")
        operator = f"root@{socket.gethostname()} via ssh"
        assert "db failover" in row()[3] and operator in row()[3]
        assert row()[0] != "OK"  # its real status stays visible
    silence = Silences(ssh_fleet.state_dir("web1")).for_target("queue:jobs/w1")
    assert silence is not None and silence.reason == "db failover" and silence.who == operator
    done = [r for r in AuditLog(ssh_fleet.state_dir("web1")).records() if r.phase == "finished"]
    assert [(r.verb, r.target) for r in done] == [("silence", "queue:jobs/w1")]
    assert done[0].client.startswith(operator)
    console_state = ssh_fleet.root / "console-state"
    assert Silences(console_state).active() == [] and AuditLog(console_state).records() == []


async def test_enter_on_a_host_queue_peeks_at_its_items_there(
        fleet_app: OpsConsoleApp, client: Redis) -> None:
    client.rpush("w1:queue", '{"job": "web1-only"}')
    app = fleet_app
    async with app.run_test(size=(180, 48)) as pilot:
        await open_host(pilot, app, "web1")
        await pilot.press("3")
        await until(pilot, lambda: queue_row(app, "jobs/w1")[2:3] == ["8"], "web1's queue")
        wanted = [r[1] for r in rows(app)].index("jobs/w1")
        table = app.screen.query_one(DataTable)
        await pilot.press(*["down"] * (wanted - table.cursor_row), "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "QueueDetailScreen", "the peek")

        def peek() -> str:
            return str(app.screen.query_one("#peek", Static).render())

        await until(pilot, lambda: "reading" not in peek(), "the items read on web1")
        shown = peek()
        assert "cannot read" not in shown, shown
        assert "w1:queue" in shown and "w1:failed" in shown
        assert '{"job": "web1-only"}' in shown and "f1" in shown


async def test_a_host_endpoint_shows_its_url_and_its_database_where_it_is(
        ssh_fleet: SimulatedFleet, shared_pg_dsn: str) -> None:
    dsn = shared_pg_dsn.replace("postgres@", "postgres:pg-s3cret@", 1)
    assert "pg-s3cret" in dsn, shared_pg_dsn
    with health_server() as server:
        url = server.replace("http://", "http://ops:http-s3cret@", 1) + "/ok"
        ssh_fleet.add("db2", f'[[http]]\nname = "api"\nurl = "{url}"\n'
                             f'[[postgres]]\nname = "main"\ndsn = "{dsn}"\n',
                      console='refresh = "0.5s"')
        app = OpsConsoleApp(load_config(str(ssh_fleet.console_config())))
        async with app.run_test(size=(180, 48)) as pilot:
            await open_host(pilot, app, "db2")
            await pilot.press("7")
            host_port = server.removeprefix("http://")
            await until(pilot, lambda: any(host_port in c for r in rows(app) for c in r),
                        "db2's endpoint with its URL")
            shown = " ".join(c for r in rows(app) for c in r)
            assert "/ok" in shown and "http-s3cret" not in shown, shown
            await pilot.press("6")

            def summary() -> str:
                return str(app.screen.query_one("#pg-summary", Static).render())

            await until(pilot, lambda: "127.0.0.1:5432/postgres" in summary(),
                        "where db2's database is")
            assert "pg-s3cret" not in summary()


async def test_the_timeline_of_a_host_is_what_happened_there(
        fleet_app: OpsConsoleApp, ssh_fleet: SimulatedFleet) -> None:
    app = fleet_app
    async with app.run_test(size=(180, 48)) as pilot:
        await open_host(pilot, app, "web1")
        await pilot.press("h")
        assert app.current_mode == "timeline"

        def events() -> list[list[str]]:
            return [r for r in rows(app) if r[3] == "queue:jobs/w1"]

        await until(pilot, lambda: any(r[4] == "first seen -> WARNING" for r in events()),
                    "web1's queue turning WARNING, as recorded on web1")
        assert not any("here" in r[3] for r in rows(app))  # not this machine's history


async def test_a_host_deploy_confirms_the_chosen_release(ssh_fleet: SimulatedFleet,
                                                        release: Release) -> None:
    git(release.repo, "tag", "v1.0", release.good)
    ssh_fleet.add("app1", f'[[deploy]]\nname = "shop"\nrepo = "{release.repo}"\n'
                          f'units = []\n', console='refresh = "0.5s"')
    app = OpsConsoleApp(load_config(str(ssh_fleet.console_config())))
    async with app.run_test(size=(180, 48)) as pilot:
        await open_host(pilot, app, "app1")
        await pilot.press("9")
        await until(pilot, lambda: release.broken[:7] in str(
            app.screen.query_one("#summary", Static).render()), "app1's current release")
        await pilot.press("D")
        await until(pilot, lambda: type(app.screen).__name__ == "ReleaseScreen", "the dialog")
        await pilot.press(*"v1.0", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen",
                    "the confirmation")
        said = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "Deploy v1.0 to shop on app1" in said, said
        assert f"from {release.broken[:7]}" in said and "to v1.0" in said, said
        await pilot.press("escape")
    assert git(release.repo, "rev-parse", "HEAD") == release.broken  # nothing deployed


async def test_a_host_unit_detail_shows_its_properties_read_there(
        ssh_fleet: SimulatedFleet, systemd_machine: SystemdMachine, make_unit: UnitFactory,
        prefix: str) -> None:
    unit = make_unit(f"{prefix}-api.service",
                     f"[Unit]\nDescription=api of {prefix}\n[Service]\nExecStart=/bin/sleep infinity\n")
    systemd_machine.systemctl("start", unit)
    ssh_fleet.add("svc1", config_text(systemd_machine, [f"{prefix}-*"]),
                  console='refresh = "0.5s"')
    app = OpsConsoleApp(load_config(str(ssh_fleet.console_config())))
    async with app.run_test(size=(180, 48)) as pilot:
        await open_host(pilot, app, "svc1")
        await pilot.press("2")
        await until(pilot, lambda: any(unit in c for r in rows(app) for c in r), "svc1's unit")
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "UnitDetailScreen", "details")

        def properties() -> str:
            return str(app.screen.query_one("#unit-properties", Static).render())

        await until(pilot, lambda: f"api of {prefix}" in properties(),
                    "the unit's properties, read on svc1")
        assert "unavailable" not in properties() and "FragmentPath" in properties()
