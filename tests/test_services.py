"""Services against the real test bed: a stopped consumer unit explains its growing queue,
an indicator on a SQL count, the headless rollup, and config errors that name the key."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from console.config import parse_config
from console.core.errors import ConfigError
from console.core.model import Status
from console.poller import BackendState, poll_once
from console.sandbox.systemd_machine import SystemdMachine
from console.session import Session
from tests.conftest import OPSCONSOLE
from tests.test_systemd_fixtures import UnitFactory, make_unit, prefix, sleeper

__all__ = ["make_unit", "prefix"]  # fixtures used by name


def _load(text: str) -> None:
    parse_config(text, Path("config.toml"))


@pytest.mark.parametrize(("indicator", "says"), [
    ("queue crawl/auto_record depth growing", "cannot read 'depth growing'"),
    ("queue crawl/auto_record processing =< 2", "'=<' is not a comparison"),
    ("queue crawl/other depth < 5", "no queue 'crawl/other'"),
    ("sql missing >= 1", "no [[sql]] entry named 'missing'"),
    ("widget x ok", "'widget' is not a kind"),
    ("unit a.service active else maybe", "'else maybe'"),
])
def test_a_bad_indicator_names_the_key_and_the_fix(indicator: str, says: str) -> None:
    text = ('[[redis]]\nname = "crawl"\nurl = "redis://127.0.0.1:6379/0"\n'
            '[[redis.queues]]\nname = "auto_record"\nqueue = "crawl:auto_record:queue"\n'
            '[[systemd]]\nunits = ["a.service"]\n'
            f'[[service]]\nname = "pipeline"\nqueues = ["crawl/auto_record"]\n'
            f'indicators = ["unit a.service active", "{indicator}"]\n')
    with pytest.raises(ConfigError) as caught:
        _load(text)
    message = str(caught.value)
    assert "[[service]] 'pipeline' 'indicators'" in message and "#2" in message, message
    assert says in message, message


def test_member_keys_and_relations_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"'consumer'.*KIND one of unit, program"):
        _load('[[service]]\nname = "p"\nqueues = ["a/b"]\nconsumer = "queue:x"\n')
    with pytest.raises(ConfigError, match="'unitz': unknown key"):
        _load('[[service]]\nname = "p"\nunitz = ["a.service"]\n')
    config = parse_config('[[service]]\nname = "p"\nprocesses = ["gunicorn*"]\ncron = ["backup"]\n',
                          Path("config.toml"))
    assert config.services[0].members == ("process:gunicorn*", "cron:backup")
    state = Session(config).service("p")
    # both kinds are registered: a glob nothing in the config watches is UNKNOWN, and says so
    assert state is not None and state.not_watched == ()
    assert [(m.target, m.text) for m in state.members] == [
        ("process:gunicorn*", "matches no watched target"),
        ("cron:backup", "matches no watched target")]


@pytest.fixture
def queue_keys(shared_redis_url: str) -> Iterator[tuple[Redis, str]]:
    """A queue family of its own on the shared Redis; deleted afterwards."""
    client = Redis.from_url(shared_redis_url, socket_timeout=5)
    family = f"svc-{uuid.uuid4().hex[:8]}"
    yield client, family
    client.delete(f"{family}:queue", f"{family}:processing")
    client.close()


async def _poll(session: Session) -> None:
    """One poll of every backend onto the board, keeping the backends (and their history)."""
    for backend in session.backends:
        result = await poll_once(backend, BackendState(), session.config.redactor, timeout=30)
        session.board.update(result)
    session.refresh_services()


async def test_a_stopped_consumer_explains_a_growing_queue(
        systemd_machine: SystemdMachine, make_unit: UnitFactory, prefix: str,
        queue_keys: tuple[Redis, str], shared_redis_url: str, tmp_path: Path) -> None:
    client, family = queue_keys
    consumer = make_unit(f"{prefix}-{family}.service", sleeper("the queue's consumer"))
    other = make_unit(f"{prefix}-web.service", sleeper("a web app"))
    systemd_machine.systemctl("start", other)  # running: not the cause
    config = parse_config(
        f'[[systemd]]\nunits = ["{prefix}-*.service"]\nbus = "{systemd_machine.bus_address}"\n'
        f'journal_dir = "{systemd_machine.journal_dir}"\n'
        f'[[redis]]\nname = "crawl"\nurl = "{shared_redis_url}"\n'
        f'[[redis.queues]]\nname = "{family}"\nqueue = "{family}:queue"\n'
        f'processing = "{family}:processing"\n'
        f'[[service]]\nname = "auto-record"\ndescription = "records prices every minute"\n'
        f'units = ["{prefix}-*.service"]\nqueues = ["crawl/{family}"]\n'
        f'indicators = ["queue crawl/{family} processing <= 2"]\n', tmp_path / "c.toml")
    session = Session(config)
    try:
        client.rpush(f"{family}:queue", *range(3))
        await _poll(session)
        client.rpush(f"{family}:queue", *range(5))
        await _poll(session)
        state = session.service("auto-record")
        assert state is not None
        print(state.details())
        assert state.status is Status.CRITICAL
        assert state.cause.startswith(f"queue:crawl/{family} growing since "), state.cause
        assert f"(depth 8) because its consumer unit:{consumer} is inactive" in state.cause
        assert other not in state.cause
        link = next(link for link in state.links if link.subject == f"queue:crawl/{family}")
        assert (link.other, link.how) == (f"unit:{consumer}",
                                          "inferred: its name contains the queue's")
        member = {m.label: m for m in state.members}[f"unit:{consumer}"]
        assert member.status is Status.CRITICAL and "consumer of" in member.note
        assert [i.status for i in state.indicators] == [Status.OK]

        systemd_machine.systemctl("start", consumer)
        client.delete(f"{family}:queue")
        await _poll(session)
        state = session.service("auto-record")
        assert state is not None and state.status is Status.OK, state.details()
        assert state.cause == "all 4 members and indicators OK"
    finally:
        await session.close_backends()


@pytest.fixture
def record_table(shared_pg_dsn: str) -> Iterator[str]:
    table = f"svc_records_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(shared_pg_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE TABLE {table} (id serial, source text)")
    yield table
    with psycopg.connect(shared_pg_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def _check(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "check", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_sql_indicator_and_the_headless_rollup(
        record_table: str, shared_pg_dsn: str, shared_redis_url: str,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    query = f"SELECT count(*) FROM {record_table} WHERE source = 'AUTO'"
    config = write_config(
        f"[[sql]]\nname = 'auto-prices'\ndsn = '{shared_pg_dsn}'\nquery = \"{query}\"\n"
        f"[[sql]]\nname = 'other'\ndsn = '{shared_pg_dsn}'\nquery = 'SELECT 1'\n"
        "[[service]]\nname = 'prices'\nsql = ['auto-prices']\n"
        "indicators = ['sql auto-prices >= 1']\n"
        "[[service]]\nname = 'quiet'\nsql = ['other']\n")
    result = _check(config, cli_env)
    lines = result.stdout.splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert lines[0].startswith("OPSCONSOLE CRITICAL - 3 ok, 0 warning, 1 critical"), lines[0]
    # the services come first, worst first, each with its cause
    assert lines[1] == ("CRITICAL service:prices - sql auto-prices >= 1: "
                        "value 0 (want >= 1)"), lines
    assert lines[2] == "OK service:quiet - all 1 members and indicators OK", lines
    assert lines[3].startswith("OK sql:")

    result = _check(config, cli_env, "--only", "service:quiet")
    assert result.returncode == 0, result.stdout
    assert "service:prices" not in result.stdout and "sql:auto-prices" not in result.stdout
    assert "OK sql:other - 1" in result.stdout

    with psycopg.connect(shared_pg_dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {record_table} (source) VALUES ('AUTO'), ('MANUAL')")
    result = _check(config, cli_env, "--only", "service:prices", "--format", "json")
    assert result.returncode == 0, result.stdout
    import json

    document = json.loads(result.stdout)
    assert [s["target"] for s in document["services"]] == ["service:prices"]
    assert document["services"][0]["status"] == "OK"
    assert "OK sql auto-prices >= 1: value 1 (want >= 1)" in document["services"][0]["details"]

    result = _check(config, cli_env, "--only", "service:nope")
    assert result.returncode == 3
    assert "no [[service]] matches service:nope (services: prices, quiet)" in result.stdout


def test_session_rollup_is_unknown_until_polled(tmp_path: Path) -> None:
    config = parse_config('[[http]]\nname = "api"\nurl = "http://127.0.0.1:9/health"\n'
                          '[[service]]\nname = "web"\nhttp = ["api"]\nunits = ["web*"]\n',
                          tmp_path / "c.toml")
    session = Session(config)
    state = session.service("web")
    assert state is not None and state.status is Status.UNKNOWN
    lines = {m.label: (m.status, m.text) for m in state.members}
    assert lines["http:api"] == (Status.UNKNOWN, "waiting for the first poll")
    assert lines["unit:web*"] == (Status.UNKNOWN, "matches no watched target")
    asyncio.run(session.close_backends())


def test_init_proposes_services_by_shared_prefix(tmp_path: Path) -> None:
    from console.config_writer import _table_lines
    from console.services.proposals import propose

    found = [("systemd", {"units": ["crawl-scheduler.service", "nginx.service"]}),
             ("redis", {"name": "local", "queues": [{"name": "crawl:auto_record"}]}),
             ("docker", {"containers": ["ledger"]}), ("http", {"name": "crawl-api"})]
    proposals = propose(found)
    assert proposals == [{"name": "crawl", "description": "proposed by opsconsole init",
                          "units": ["crawl-scheduler.service"],
                          "queues": ["local/crawl:auto_record"], "http": ["crawl-api"]}]
    config = parse_config("\n".join(_table_lines("service", proposals[0])), tmp_path / "c.toml")
    assert config.services[0].members == ("unit:crawl-scheduler.service",
                                          "queue:local/crawl:auto_record", "http:crawl-api")


async def test_services_view_opens_first_and_enter_lists_members(
        write_config: Callable[..., Path]) -> None:
    from textual.widgets import OptionList

    from console.config import load_config
    from screens.app import OpsConsoleApp
    from screens.services import ServiceDetailScreen
    from tests.test_tui import rows, wait_for

    path = write_config('[[http]]\nname = "api"\nurl = "http://127.0.0.1:9/health"\ntimeout = 2\n'
                        '[[service]]\nname = "web"\nhttp = ["api"]\n'
                        'indicators = ["http api code == 200"]\n')
    app = OpsConsoleApp(load_config(str(path)))
    async with app.run_test(size=(140, 30)) as pilot:
        assert app.current_mode == "services"
        await wait_for(pilot, lambda: bool(rows(app)) and rows(app)[0][0] == "CRIT", 20)
        assert rows(app)[0][1] == "web" and rows(app)[0][2].startswith("http:api")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceDetailScreen))
        options = app.screen.query_one(OptionList)
        assert options.option_count == 2
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.current_mode == "endpoints")
