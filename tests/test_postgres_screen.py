"""The Database view driven by keys, with a real PostgreSQL behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from console.config import load_config
from console.core.audit import AuditLog
from screens.app import OpsConsoleApp
from tests import test_postgres_support as support
from tests.test_postgres_support import WriteConfig, fill, make_config
from widgets.live_table import LiveTable

pg_db = support.pg_db  # the fixture, shared by the PostgreSQL test modules


def cells(app: OpsConsoleApp, table_id: str) -> list[list[str]]:
    table = app.screen.query_one(table_id, LiveTable)
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)]
            for i in range(table.row_count)]


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_database_view_cancel_backup_and_backups_list(pg_db: str, write_config: WriteConfig,
                                                            tmp_path: Path) -> None:
    fill(pg_db)
    bk = tmp_path / "bk"
    config = write_config(make_config(
        pg_db, extra='interval = "1s"\nthresholds = { long_query = { warn = "1s" } }',
        backup_dir=bk))
    sleeper = await psycopg.AsyncConnection.connect(pg_db, autocommit=True,
                                                    application_name="sleeper")
    sleeping = asyncio.create_task(sleeper.execute("SELECT pg_sleep(120)"))
    app = OpsConsoleApp(load_config(str(config)))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.press("6")
            assert app.current_mode == "database"
            await wait_for(pilot, lambda: any("pg_sleep" in r[-1]
                                              for r in cells(app, "#pg-sessions")))
            summary = str(app.screen.query_one("#pg-summary", Static).render())
            assert "postgres:main" in summary and "primary" in summary
            assert "long queries" in summary
            assert any(r[0] == "public.items" and r[2] == "2,000"
                       for r in cells(app, "#pg-tables"))
            assert any("items_label_idx" in r[1] for r in cells(app, "#pg-other"))

            sessions = app.screen.query_one("#pg-sessions", LiveTable)
            sessions.focus()
            sessions.move_cursor(row=next(i for i, r in enumerate(cells(app, "#pg-sessions"))
                                          if "pg_sleep" in r[-1]))
            await pilot.pause()
            await pilot.press("c")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
            await pilot.press("y")
            with pytest.raises(psycopg.errors.QueryCanceled):
                async with asyncio.timeout(15):
                    await sleeping
            await wait_for(pilot, lambda: not any("pg_sleep" in r[-1]
                                                  for r in cells(app, "#pg-sessions")))

            await pilot.press("b")
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
            await pilot.press("y")
            await wait_for(pilot, lambda: bool(list(bk.glob("*.dump"))))
            await pilot.press("B")
            await wait_for(pilot, lambda: any(r[3] == "verified"
                                              for r in cells(app, "#pg-backups")))
            assert app.screen.query_one("#pg-backups", LiveTable).display
            await pilot.press("T")  # test-restore the selected backup into a scratch database
            await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen")
            await pilot.press("y")
            dbname = pg_db.rsplit("/", 1)[1]
            await wait_for(pilot, lambda: any(
                r.spec.verb == "restore-test" and r.state == "ok"
                for r in app.session.dispatcher.runs), seconds=60)
            run = next(r for r in app.session.dispatcher.runs if r.spec.verb == "restore-test")
            assert run.outcome and "rows identical to the manifest" in run.outcome.message
            with psycopg.connect(pg_db) as conn:
                scratch = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                                       (dbname + "\\_restore\\_%",)).fetchone()
            assert scratch == (1,)
    finally:
        sleeping.cancel()
        await asyncio.gather(sleeping, return_exceptions=True)
        await sleeper.close()
    records = AuditLog(app.config.console.state_dir).records()
    assert {(r.verb, r.phase) for r in records} >= {("cancel", "finished"),
                                                    ("backup", "finished")}
