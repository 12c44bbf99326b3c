"""pytest plugin giving tests real services (load with pytest_plugins = ["tests.testbed.fixtures"]).

Owns the fixtures shared_redis_url, shared_pg_dsn, scratch_redis, pg_cluster,
docker_engine, systemd_machine, celery_worker_factory, ssh_fleet, supervisor_factory, and require_service():
a service that cannot start skips the test, except in CI (CI=true) where it fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NoReturn, Protocol

import pytest

from console.sandbox.celery_worker import CELERY_APP, CeleryWorker
from console.sandbox.docker_engine import BUSYBOX_ROOTFS, DockerEngine
from console.sandbox.postgres_cluster import PostgresCluster
from console.sandbox.processes import ServiceError
from console.sandbox.reaping import reap_stale
from console.sandbox.redis_server import RedisServer
from console.sandbox.sshd_host import SimulatedFleet
from console.sandbox.supervisor_daemon import SupervisorDaemon
from console.sandbox.systemd_machine import SYSTEMD_ROOTFS, SystemdMachine

SHARED_REDIS_URL = os.environ.get("OPSCONSOLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SHARED_PG_DSN = os.environ.get("OPSCONSOLE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
INSTALL_HINT = "run: bash console/sandbox/install.sh"
# What a failed start may raise; anything else is a bug in the test bed and should show.
START_ERRORS = (ServiceError, OSError, subprocess.SubprocessError)


def require_service(name: str, reason: str) -> NoReturn:
    """Skip the test because ``name`` is unavailable; in CI (CI=true) fail it instead."""
    message = f"{name} unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _need_binaries(name: str, *binaries: str) -> None:
    missing = [b for b in binaries if shutil.which(b) is None]
    if missing:
        require_service(name, f"{', '.join(missing)} not installed ({INSTALL_HINT})")


def _need_root(name: str) -> None:
    if os.geteuid() != 0:
        require_service(name, "needs root")


@pytest.fixture(scope="session", autouse=True)
def _testbed_reap_stale() -> None:
    """Remove daemons and temp dirs left by an earlier run that was killed."""
    if os.geteuid() == 0:
        reap_stale()


@pytest.fixture(scope="session")
def shared_redis_url() -> str:
    """The machine's shared Redis (127.0.0.1:6379); do not break it, use scratch_redis for that."""
    from redis import Redis

    client = Redis.from_url(SHARED_REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as error:
        require_service("redis", f"{SHARED_REDIS_URL}: {error} ({INSTALL_HINT})")
    finally:
        client.close()
    return SHARED_REDIS_URL


@pytest.fixture(scope="session")
def shared_pg_dsn() -> str:
    """The machine's shared PostgreSQL (127.0.0.1:5432 as postgres, trust auth)."""
    import psycopg

    try:
        with psycopg.connect(SHARED_PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:
        require_service("postgres", f"{SHARED_PG_DSN}: {error} ({INSTALL_HINT})")
    return SHARED_PG_DSN


@pytest.fixture
def scratch_redis() -> Iterator[RedisServer]:
    """An own redis-server for this test only: kill it, pause it, fill it."""
    _need_binaries("redis", "redis-server")
    server = RedisServer()
    try:
        server.start()
    except START_ERRORS as error:
        require_service("redis", str(error))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """An own PostgreSQL cluster for the session; pause()/resume() it, create databases in it."""
    _need_root("postgres")
    try:
        cluster = PostgresCluster()
        cluster.start()
    except START_ERRORS as error:
        require_service("postgres", str(error))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A private dockerd with the image opsconsole-test/busybox:latest and no networking."""
    _need_root("docker")
    _need_binaries("docker", "dockerd", "containerd", "runc")
    if not BUSYBOX_ROOTFS.exists():
        require_service("docker", f"{BUSYBOX_ROOTFS} missing ({INSTALL_HINT})")
    engine = DockerEngine()
    try:
        engine.start()
    except START_ERRORS as error:
        require_service("docker", str(error))
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def systemd_machine() -> Iterator[SystemdMachine]:
    """A booted systemd 252 in systemd-nspawn; drive it over .bus_address."""
    _need_root("systemd")
    _need_binaries("systemd", "systemd-nspawn", "busctl", "nsenter")
    if not SYSTEMD_ROOTFS.exists():
        require_service("systemd", f"{SYSTEMD_ROOTFS} missing ({INSTALL_HINT})")
    machine = SystemdMachine()
    try:
        machine.start()
    except START_ERRORS as error:
        require_service("systemd", str(error))
    try:
        yield machine
    finally:
        machine.stop()


class CeleryWorkerFactory(Protocol):
    def __call__(
        self,
        broker_url: str,
        *,
        name: str = ...,
        app_module: str = ...,
        queues: Iterable[str] = ...,
        concurrency: int = ...,
        extra_env: Mapping[str, str] | None = ...,
        backend_url: str | None = ...,
    ) -> CeleryWorker: ...


@pytest.fixture
def supervisor_factory() -> Iterator[Callable[..., SupervisorDaemon]]:
    """Start real supervisords (steady runs, crasher ends FATAL, idle stays STOPPED)."""
    import importlib.util

    if importlib.util.find_spec("supervisor") is None:
        require_service("supervisor", "the supervisor package is not installed "
                                      "(pip install -e '.[test]')")
    started: list[SupervisorDaemon] = []

    def start(password: str | None = "s3cret-supervisor") -> SupervisorDaemon:
        daemon = SupervisorDaemon(password=password)
        try:
            daemon.start()
        except START_ERRORS as error:
            require_service("supervisor", str(error))
        started.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            daemon.stop()


@pytest.fixture
def celery_worker_factory() -> Iterator[CeleryWorkerFactory]:
    """Start real Celery workers (console.sandbox.celeryapp by default); all stop after the test."""
    workers: list[CeleryWorker] = []

    def start(
        broker_url: str,
        *,
        name: str = "w1@%h",
        app_module: str = CELERY_APP,
        queues: Iterable[str] = ("celery",),
        concurrency: int = 1,
        extra_env: Mapping[str, str] | None = None,
        backend_url: str | None = None,
    ) -> CeleryWorker:
        worker = CeleryWorker(
            app_module=app_module,
            broker_url=broker_url,
            name=name,
            queues=queues,
            concurrency=concurrency,
            extra_env=extra_env,
            backend_url=backend_url,
        )
        workers.append(worker)
        try:
            worker.start()
        except START_ERRORS as error:
            require_service("celery", str(error))
        return worker

    factory: CeleryWorkerFactory = start
    try:
        yield factory
    finally:
        for worker in reversed(workers):
            worker.stop()


__all__ = [
    "CeleryWorkerFactory",
    "celery_worker_factory",
    "docker_engine",
    "pg_cluster",
    "require_service",
    "scratch_redis",
    "shared_pg_dsn",
    "shared_redis_url",
    "systemd_machine",
]


@pytest.fixture
def ssh_fleet() -> Iterator[SimulatedFleet]:
    """A fleet of real sshd hosts on 127.A.B.K:2222 (add them with `.add(name, sections)`)."""
    _need_root("sshd")
    _need_binaries("sshd", "/usr/sbin/sshd", "ssh", "ssh-keygen")
    try:
        fleet = SimulatedFleet()
    except START_ERRORS as error:
        require_service("sshd", f"{error} ({INSTALL_HINT})")
    try:
        yield fleet
    finally:
        fleet.stop()
