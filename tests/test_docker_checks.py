"""Container checks against a real dockerd: states, health, crash loops, restart counts."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from console.config import load_config
from console.core.model import Status
from console.core.secrets import Redactor
from console.poller import BackendState, poll_once
from tests.test_docker_support import (
    FATAL,
    LEDGER_SCRIPT,
    DockerLab,
    backend_for,
    checks,
    docker_lab,
    wait_for,
)

__all__ = ["docker_lab"]


def test_ledger_crash_loop_shows_as_critical_with_its_fatal_line(docker_lab: DockerLab) -> None:
    volume = docker_lab.volume("ledger-data")
    docker_lab.run("ledger", ["sh", "-c", LEDGER_SCRIPT],
                   restart_policy={"Name": "unless-stopped"},
                   volumes={volume: {"bind": "/data", "mode": "rw"}})
    wait_for(lambda: docker_lab.state("ledger")["State"]["Running"], what="first start")
    backend = backend_for(docker_lab.config())
    target = f"container:{docker_lab.name('ledger')}"
    assert checks(backend)[target].status is Status.OK

    # The trap: after a restart the ledger directory exists and every start fails.
    docker_lab.client.api.restart(docker_lab.name("ledger"), timeout=1)
    wait_for(lambda: docker_lab.state("ledger")["RestartCount"] >= 2, what="restarts")

    result = checks(backend)[target]
    assert result.status is Status.CRITICAL
    assert result.summary.startswith("crash loop")
    assert FATAL in result.summary
    assert not result.summary.startswith("up")
    assert f"stderr: {FATAL}" in result.details
    restarts = next(p for p in result.perfdata if p.label.endswith("_restarts"))
    assert restarts.value >= 2


def test_httpd_state_and_health_transitions(docker_lab: DockerLab) -> None:
    docker_lab.run("web", ["httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/tmp"],
                   healthcheck={"test": ["CMD-SHELL", "test -f /tmp/healthy"],
                                "interval": 200_000_000, "timeout": 1_000_000_000,
                                "retries": 1, "start_period": 60_000_000_000})
    backend = backend_for(docker_lab.config())
    target = f"container:{docker_lab.name('web')}"
    first = checks(backend)[target]
    assert first.status is Status.WARNING
    assert "health starting" in first.summary

    container = docker_lab.client.containers.get(docker_lab.name("web"))
    container.exec_run(["touch", "/tmp/healthy"])
    wait_for(lambda: docker_lab.state("web")["State"]["Health"]["Status"] == "healthy",
             what="healthy")
    healthy = checks(backend)[target]
    assert healthy.status is Status.OK
    assert healthy.summary.startswith("up ") and "healthy" in healthy.summary

    container.exec_run(["rm", "/tmp/healthy"])
    wait_for(lambda: docker_lab.state("web")["State"]["Health"]["Status"] == "unhealthy",
             what="unhealthy")
    unhealthy = checks(backend)[target]
    assert unhealthy.status is Status.CRITICAL
    assert unhealthy.summary.startswith("unhealthy")

    container.stop(timeout=1)
    stopped = checks(backend)[target]
    assert stopped.status is Status.CRITICAL
    assert stopped.summary.startswith("exited (exit ")


def test_restart_count_growth_after_host_kill_is_critical(docker_lab: DockerLab) -> None:
    docker_lab.run("worker", ["sleep", "3600"], restart_policy={"Name": "unless-stopped"})
    backend = backend_for(docker_lab.config())
    target = f"container:{docker_lab.name('worker')}"
    before = checks(backend)[target]
    assert before.status is Status.OK
    assert "0 restarts" in before.summary

    os.kill(docker_lab.state("worker")["State"]["Pid"], signal.SIGKILL)
    wait_for(lambda: docker_lab.state("worker")["RestartCount"] == 1
             and docker_lab.state("worker")["State"]["Running"], what="automatic restart")

    after = checks(backend)[target]
    assert after.status is Status.CRITICAL
    # at least the restart the kill caused (the engine's record may hold one more by now:
    # a loaded engine sometimes reports the container restarting again at this moment)
    counted = int(after.summary.split("restarted ")[1].split("×")[0])
    assert counted >= 1 and "in 10m" in after.summary
    assert next(p.value for p in after.perfdata if p.label.endswith("_restarts")) >= 1


def test_missing_container_and_unmatched_glob(docker_lab: DockerLab) -> None:
    missing = docker_lab.name("absent")
    config = docker_lab.config(containers=missing)
    result = checks(backend_for(config))[f"container:{missing}"]
    assert result.status is Status.CRITICAL
    assert result.summary == f"no container named {missing} on {docker_lab.engine.host}"


def test_missing_socket_is_a_clear_error(tmp_path: Path,
                                        write_config: Callable[[str], Path]) -> None:
    sock = tmp_path / "nowhere" / "docker.sock"
    path = write_config(f'[[docker]]\nhost = "unix://{sock}"\ncontainers = ["ledger"]\n')
    result = asyncio.run(poll_once(backend_for(load_config(str(path))), BackendState(),
                                   Redactor()))
    assert result.error is not None
    assert result.error.startswith(f"Docker engine socket {sock} does not exist")
    assert result.checks[0].status is Status.CRITICAL
    assert "unreachable since" in result.checks[0].summary


def test_hung_engine_gives_an_error_within_the_timeout(
        tmp_path: Path, write_config: Callable[[str], Path]) -> None:
    sock_path = tmp_path / "hung.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(16)  # accepts connections (backlog) and never answers
    try:
        path = write_config(f'[[docker]]\nhost = "unix://{sock_path}"\n'
                            'containers = ["ledger"]\ntimeout = 1\n')
        backend = backend_for(load_config(str(path)))
        started = time.monotonic()
        result = asyncio.run(poll_once(backend, BackendState(), Redactor()))
        elapsed = time.monotonic() - started
        assert result.error is not None
        assert "did not answer" in result.error or "no answer within" in result.error
        assert elapsed < backend.timeout + 15  # wide: only proves the timeout cut the hang
    finally:
        listener.close()
