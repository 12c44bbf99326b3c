"""Docker containers and volumes: state, health, restart counts, crash loops, actions.

The backend reads the engine with the docker SDK in threads (engine.py), keeps inspect results
fresh through the events stream (events.py) with a slow poll as a safety net, collects
CPU/memory in the background (stats.py), and offers restart/stop/start and volume
backup/restore (actions.py, volumes.py).
"""

from __future__ import annotations

from typing import Any

from backends.base import Backend, BackendKind, Runtime
from backends.docker.config import DockerConfig, parse, validate


def build(entries: list[DockerConfig], runtime: Runtime) -> list[Backend[Any]]:
    from backends.docker.backend import DockerBackend  # its client library: only when used

    return [DockerBackend(entry, runtime) for entry in entries]


KIND = BackendKind(section="docker", parse=parse, build=build, validate=validate)
