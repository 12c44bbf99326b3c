"""Helpers for the Docker tests: unique names on the session's engine, configs, cleanup.

Holds no tests; the test modules import `docker_lab` from here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from console.assembly import build_backends
from console.config import Config, load_config
from console.core.model import CheckResult
from console.core.secrets import Redactor
from console.poller import BackendState, poll_once
from console.sandbox.docker_engine import BUSYBOX_IMAGE, DockerEngine

FATAL = "Fatal: On start, ledger directory should not exist (ledger). Exiting."
# The ledger service's start: refuse when the ledger directory already exists.
LEDGER_SCRIPT = (f'if [ -d /data/ledger ]; then echo "{FATAL}" >&2; exit 1; fi; '
                 'mkdir /data/ledger; echo "ledger started"; exec sleep 3600')


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class DockerLab:
    """Containers and volumes with names unique to one test, removed afterwards."""

    def __init__(self, engine: DockerEngine, tmp_path: Path,
                 write_config: Callable[[str], Path]) -> None:
        self.engine = engine
        self.client = engine.client(timeout=60)
        self.prefix = f"t{uuid.uuid4().hex[:8]}"
        self.tmp_path = tmp_path
        self.write_config = write_config
        self.backup_dir = tmp_path / "backups"
        self._volumes: list[str] = []

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def run(self, what: str, command: list[str], **options: Any) -> Any:
        options.setdefault("init", True)
        options.setdefault("network_mode", "none")
        return self.client.containers.run(BUSYBOX_IMAGE, command, name=self.name(what),
                                          detach=True, **options)

    def volume(self, what: str) -> str:
        name = self.name(what)
        self.client.volumes.create(name)
        self._volumes.append(name)
        return name

    def fill(self, volume: str, script: str) -> None:
        """Run a shell script with the volume at /data, to its end."""
        self.client.containers.run(BUSYBOX_IMAGE, ["sh", "-c", script], remove=True,
                                   network_mode="none", volumes={volume: {"bind": "/data"}})

    def listing(self, volume: str) -> str:
        """Every file of the volume with its md5, for comparing content."""
        out: bytes = self.client.containers.run(
            BUSYBOX_IMAGE, ["sh", "-c", "cd /data && find . | sort && "
                            "find . -type f | sort | xargs -r md5sum"],
            remove=True, network_mode="none", volumes={volume: {"bind": "/data"}})
        return out.decode()

    def state(self, what: str) -> dict[str, Any]:
        attrs: dict[str, Any] = self.client.api.inspect_container(self.name(what))
        return attrs

    def config_text(self, extra: str = "", containers: str | None = None) -> str:
        pattern = containers or f"{self.prefix}-*"
        return (f'[[docker]]\nhost = "{self.engine.host}"\ncontainers = ["{pattern}"]\n'
                f'helper_image = "{BUSYBOX_IMAGE}"\ntimeout = 10\n'
                f'backup = {{ dir = "{self.backup_dir}", keep = 3 }}\n{extra}')

    def config_path(self, extra: str = "", containers: str | None = None) -> Path:
        return self.write_config(self.config_text(extra, containers))

    def config(self, extra: str = "", containers: str | None = None) -> Config:
        return load_config(str(self.config_path(extra, containers)))

    def cleanup(self) -> None:
        for container in self.client.containers.list(all=True):
            if container.name.startswith(self.prefix) or self.prefix in container.name:
                try:
                    container.remove(force=True)
                except Exception:  # already gone
                    pass
        for name in self._volumes:
            try:
                self.client.volumes.get(name).remove(force=True)
            except Exception:  # already gone
                pass
        self.client.close()


@pytest.fixture
def docker_lab(docker_engine: DockerEngine, tmp_path: Path,
               write_config: Callable[[str], Path]) -> Iterator[DockerLab]:
    lab = DockerLab(docker_engine, tmp_path, write_config)
    try:
        yield lab
    finally:
        lab.cleanup()


def checks(backend: Any) -> dict[str, CheckResult]:
    """Poll a backend once; its checks by target."""
    result = asyncio.run(poll_once(backend, BackendState(), Redactor()))
    return {c.target: c for c in result.checks}


def backend_for(config: Config) -> Any:
    backends = build_backends(config)
    assert len(backends) == 1
    return backends[0]
