"""Discovery against the real test-bed services: found, stopped, hung; and the Discovery panel."""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis

from backends import discovery
from backends.discovery import default_timeout, discover
from backends.discovery.model import DiscoveryReport, ProbeResult
from console import registry
from console.config import discovered_config
from console.core.secrets import Redactor
from console.discovered import parse_sections
from console.sandbox.processes import free_port
from screens.app import OpsConsoleApp
from screens.discovery import DiscoveryScreen
from tests.conftest import OPSCONSOLE
from tests.support.http_server import hung_listener


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 200 if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def healthz_server() -> Iterator[int]:
    """A real HTTP server answering 200 on /healthz only; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def probe(report: DiscoveryReport, name: str) -> list[ProbeResult]:
    return [r for r in report.results if r.probe == name]


def tables(report: DiscoveryReport, section: str) -> list[dict[str, Any]]:
    return [f.table for f in report.findings if f.section == section]


@pytest.fixture
def nothing_local(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Point every probe that takes an address at places where nothing runs."""
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres",
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
        "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


async def test_discovery_finds_the_real_services(
        scratch_redis: Any, celery_worker_factory: Any, pg_cluster: Any, docker_engine: Any,
        systemd_machine: Any, supervisor_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tag = f"t{secrets.token_hex(3)}"
    # A queue family and Celery queues (with a live worker) in an own Redis.
    client = redis.Redis.from_url(scratch_redis.url)
    client.rpush(f"{tag}:jobs:queue", "a", "b", "c")
    client.sadd(f"{tag}:jobs:failed", "x")
    client.close()
    celery_worker_factory(scratch_redis.url_for(1), name=f"{tag}@%h", queues=("celery",))
    database = pg_cluster.create_database(f"db_{tag}")
    docker = docker_engine.client()
    container = docker.containers.run("opsconsole-test/busybox:latest", ["sleep", "300"],
                                      name=f"{tag}-app", detach=True, init=True,
                                      network_mode="none")
    systemd_machine.add_unit(f"{tag}-app.service",
                             "[Service]\nExecStart=/bin/sleep infinity\n")
    systemd_machine.daemon_reload()
    systemd_machine.systemctl("start", f"{tag}-app.service")
    monkeypatch.setenv("REDIS_URL", scratch_redis.url)
    monkeypatch.setenv("DATABASE_URL", database)
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", systemd_machine.bus_address)
    monkeypatch.setenv("SUPERVISOR_SERVER_URL", supervisor_factory(password=None).url)
    try:
        with healthz_server() as port:
            report = await discover(registry.discovery_probes(), timeout=3.0)
    finally:
        container.remove(force=True)
        docker.close()
        systemd_machine.systemctl("stop", f"{tag}-app.service", check=False)

    # cron: the host's own crontabs, which a test machine may lack
    assert [r.probe for r in report.missing
            if r.probe not in ("redis", "postgres", "cron")] == []
    assert [t["url"] for t in tables(report, "supervisor")] == [
        os.environ["SUPERVISOR_SERVER_URL"]]
    redis_tables = tables(report, "redis")
    families = [q for t in redis_tables for q in t.get("queues", [])]
    assert {"name": f"{tag}.jobs", "queue": f"{tag}:jobs:queue",
            "failed": f"{tag}:jobs:failed"} in families
    assert any("celery" in t.get("celery_queues", []) for t in redis_tables)
    celery = tables(report, "celery")
    assert celery and celery[0]["broker"] == scratch_redis.url_for(1)
    assert celery[0]["expect_workers"] == 1  # the worker answered the ping
    assert f"{tag}-app" in tables(report, "docker")[0]["containers"]
    assert tables(report, "docker")[0]["host"] == "${DOCKER_HOST}"
    assert any(t["dsn"] == database for t in tables(report, "postgres"))
    units = tables(report, "systemd")[0]
    assert f"{tag}-app.service" in units["units"]
    assert units["bus"] == systemd_machine.bus_address
    assert any(t["url"] == f"http://127.0.0.1:{port}/healthz" for t in tables(report, "http"))
    # Every finding is accepted by its backend's own parser.
    sections = parse_sections(report, Redactor())
    assert {"systemd", "redis", "celery", "docker", "postgres", "http", "host"} <= set(sections)


async def test_stopped_services_are_reported_not_found_with_a_reason(
        scratch_redis: Any, nothing_local: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", scratch_redis.url)
    scratch_redis.stop()  # a real Redis that was running and is gone now
    report = await discover(registry.discovery_probes(), timeout=1.5)
    env_redis = [r for r in probe(report, "redis") if "$REDIS_URL" in r.where]
    assert env_redis and env_redis[0].missing and "refused" in env_redis[0].missing
    docker = probe(report, "docker")[0]
    assert docker.missing and "no Docker socket" in docker.missing
    systemd = probe(report, "systemd")[0]
    assert systemd.missing and "no-bus" in systemd.missing
    env_pg = [r for r in probe(report, "postgres") if r.where == "$DATABASE_URL"]
    assert env_pg and env_pg[0].missing
    lines = report.lines()
    assert sum(line.startswith("not found") for line in lines) >= 4
    assert all("\n" not in line for line in lines)


async def test_a_hung_server_is_given_up_within_its_timeout(
        nothing_local: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    with hung_listener() as url:
        port = url.split(":")[2].split("/")[0]
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
        monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/postgres")
        report = await discover(registry.discovery_probes(), timeout=1.0)
    hung_redis = next(r for r in probe(report, "redis") if "$REDIS_URL" in r.where)
    assert hung_redis.missing and ("no answer" in hung_redis.missing
                                   or "timeout" in hung_redis.missing.lower())
    hung_pg = next(r for r in probe(report, "postgres") if r.where == "$DATABASE_URL")
    assert hung_pg.missing and "no answer" in hung_pg.missing
    # The probes that could answer did, despite the hung one.
    assert probe(report, "docker")[0].missing and probe(report, "systemd")[0].missing


def test_probes_wait_longer_on_a_host_busier_than_its_cores() -> None:
    assert default_timeout(load=0.3, cores=2) == pytest.approx(0.8)
    assert default_timeout(load=2.0, cores=2) == pytest.approx(0.8)  # busy, not over
    assert default_timeout(load=3.0, cores=2) == pytest.approx(1.2)
    assert default_timeout(load=7.0, cores=2) == pytest.approx(2.4)  # at most 3 times
    assert default_timeout(load=7.0, cores=0) == pytest.approx(2.4)  # cores unknown: 1


async def test_the_default_wait_follows_the_load(
        nothing_local: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery as the console and `init` run it: on a host loaded to twice its cores a
    hung server is given twice as long before it is called not found, and the line says so."""
    busy = 2.0 * (os.cpu_count() or 1)
    monkeypatch.setattr(discovery.os, "getloadavg", lambda: (busy, busy, busy))
    waited = default_timeout(load=busy)
    assert waited == pytest.approx(1.6)
    with hung_listener() as url:
        port = url.split(":")[2].split("/")[0]
        monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/postgres")
        report = await discover(registry.discovery_probes())
    hung_pg = next(r for r in probe(report, "postgres") if r.where == "$DATABASE_URL")
    assert hung_pg.missing.startswith(f"no answer within {waited:g}s"), hung_pg.missing


def test_no_config_check_runs_on_discovery_without_a_traceback(
        cli_env: dict[str, str], tmp_path: Path, nothing_local: dict[str, str],
        scratch_redis: Any) -> None:
    client = redis.Redis.from_url(scratch_redis.url)
    client.rpush("orders:queue", *range(7))
    client.close()
    env = dict(cli_env, HOME=str(tmp_path), **nothing_local)
    env["REDIS_URL"] = scratch_redis.url
    result = subprocess.run([*OPSCONSOLE, "--headless", "check"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr + result.stdout
    assert "watching what discovery found" in result.stderr
    assert "queue:redis-env/orders - depth 7" in result.stdout
    assert "host:" in result.stdout


async def test_discovery_panel_lists_found_and_not_found(
        scratch_redis: Any, nothing_local: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    client = redis.Redis.from_url(scratch_redis.url)
    client.rpush("mail:queue", "m1")
    client.close()
    monkeypatch.setenv("REDIS_URL", scratch_redis.url)
    config = discovered_config([tmp_path / "config.toml"])
    app = OpsConsoleApp(config)
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(100):
            if "DISCOVERED" in app.notice_text() and app.session.counts():
                break
            await pilot.pause(0.05)
        notice = app.notice_text()
        assert "No config file found" in notice and "DISCOVERED" in notice
        assert "docker: no Docker socket" in notice
        await pilot.press("D")
        await pilot.pause(0.2)
        panel = str(app.screen.query_one("#discovery").render())
        assert "Not found" in panel and "no-bus" in panel
        assert "[[redis]] redis-env" in panel
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, DiscoveryScreen)
