"""Smoke tests for the test bed: each fixture yields a real, working service."""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

import psycopg
import pytest
import redis

from console.sandbox.docker_engine import BUSYBOX_IMAGE, DockerEngine
from console.sandbox.postgres_cluster import PostgresCluster
from console.sandbox.redis_server import RedisServer
from console.sandbox.systemd_machine import SystemdMachine

if TYPE_CHECKING:
    from tests.testbed.fixtures import CeleryWorkerFactory


def test_shared_redis_answers(shared_redis_url: str) -> None:
    client = redis.Redis.from_url(shared_redis_url, socket_timeout=2)
    try:
        assert client.ping()
    finally:
        client.close()


def test_shared_postgres_answers(shared_pg_dsn: str) -> None:
    with psycopg.connect(shared_pg_dsn, connect_timeout=3) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_scratch_redis_can_hang_and_recover(scratch_redis: RedisServer) -> None:
    assert scratch_redis.port != 6379
    client = redis.Redis.from_url(scratch_redis.url, socket_timeout=0.3)
    try:
        assert client.set("k", "v")
        scratch_redis.pause()
        with pytest.raises(redis.TimeoutError):
            client.get("k")
        scratch_redis.resume()
        client.connection_pool.disconnect()
        assert client.get("k") == b"v"
    finally:
        client.close()


def test_pg_cluster_runs_queries(pg_cluster: PostgresCluster) -> None:
    assert pg_cluster.port != 5432
    dsn = pg_cluster.create_database(f"smoke_{int(time.time() * 1000)}")
    with psycopg.connect(dsn, connect_timeout=3) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_pg_cluster_can_hang_and_recover(pg_cluster: PostgresCluster) -> None:
    pg_cluster.pause()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_cluster.dsn(), connect_timeout=1)
    finally:
        pg_cluster.resume()
    with psycopg.connect(pg_cluster.dsn(), connect_timeout=3) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_docker_runs_busybox(docker_engine: DockerEngine) -> None:
    client = docker_engine.client()
    try:
        output = client.containers.run(
            BUSYBOX_IMAGE,
            ["echo", "hello from busybox"],
            init=True,
            network_mode="none",
            remove=True,
        )
        assert output == b"hello from busybox\n"
    finally:
        client.close()


def test_systemd_machine_lists_and_starts_units(systemd_machine: SystemdMachine) -> None:
    import pystemd.run  # type: ignore[import-untyped]
    from pystemd.dbuslib import DBusAddress  # type: ignore[import-untyped]
    from pystemd.systemd1 import Manager, Unit  # type: ignore[import-untyped]

    systemd_machine.add_unit(
        "smoke.service",
        "[Service]\nType=simple\nExecStart=/bin/sleep infinity\n",
    )
    systemd_machine.daemon_reload()
    with DBusAddress(systemd_machine.bus_address.encode()) as bus:
        manager = Manager(bus=bus, _autoload=True)
        names = {unit[0] for unit in manager.Manager.ListUnits()}
        assert b"dbus.service" in names

        manager.Manager.StartUnit(b"smoke.service", b"replace")
        unit = Unit(b"smoke.service", bus=bus, _autoload=True)
        deadline = time.monotonic() + 10
        while unit.Unit.ActiveState != b"active" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert unit.Unit.ActiveState == b"active"
        assert unit.Service.MainPID > 1

    transient = pystemd.run(
        ["/bin/true"],
        address=systemd_machine.bus_address,
        wait=True,
        remain_after_exit=True,
        user_mode=False,
    )
    assert transient.Service.Result == b"success"
    assert "active" in systemd_machine.systemctl("is-active", "smoke.service").stdout


def test_celery_worker_answers_ping(
    scratch_redis: RedisServer, celery_worker_factory: CeleryWorkerFactory
) -> None:
    from celery import Celery  # type: ignore[import-untyped]

    worker = celery_worker_factory(scratch_redis.url_for(1), backend_url=scratch_redis.url_for(2))
    assert worker.ping()
    client = Celery("smoke", broker=worker.broker_url, backend=worker.backend_url)
    try:
        assert client.send_task("testbed.add", (2, 3)).get(timeout=10) == 5
        failed = client.send_task("testbed.fail", ("expected",))
        with pytest.raises(ValueError, match="expected"):
            failed.get(timeout=10)
    finally:
        client.close()


def test_require_service_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.testbed.fixtures import require_service

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_service("thing", "not there")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_service("thing", "not there")


def test_free_port_is_free() -> None:
    from console.sandbox.processes import free_port

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", free_port()))
