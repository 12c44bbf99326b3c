"""Probe: the Docker engine at $DOCKER_HOST or the local socket, and its running containers."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from backends.discovery.model import Finding, ProbeResult
from backends.discovery.timing import blocking
from console.core.errors import one_line

DEFAULT_HOST = "unix:///var/run/docker.sock"


def where() -> str:
    return "docker"


async def probe(timeout: float, earlier: Sequence[ProbeResult] = ()) -> ProbeResult:
    started = time.monotonic()
    from_env = os.environ.get("DOCKER_HOST", "").strip()
    host = from_env or DEFAULT_HOST
    where = host + (" ($DOCKER_HOST)" if from_env else "")
    if host.startswith("unix://") and not os.path.exists(host.removeprefix("unix://")):
        return ProbeResult("docker", where, missing="no Docker socket there (Docker is not "
                                                    "installed or dockerd is not running)",
                           elapsed=time.monotonic() - started)
    try:
        containers = await blocking(lambda: _list(host, timeout), timeout)
    except TimeoutError:
        return ProbeResult("docker", where, missing=f"no answer within {timeout:g}s (hung?)",
                           elapsed=time.monotonic() - started)
    except Exception as exc:  # the SDK wraps socket and HTTP errors in many types
        text = one_line(exc)
        if "permission denied" in text.lower():
            text = "permission denied on the socket: run as root or join the docker group"
        elif "refused" in text.lower():
            text = "connection refused (dockerd is not running)"
        return ProbeResult("docker", where, missing=text, elapsed=time.monotonic() - started)
    names = [c["name"] for c in containers]
    table: dict[str, Any] = {"containers": names or ["*"]}
    if from_env:
        table = {"host": "${DOCKER_HOST}", **table}
    described = [f"{c['name']} ({c['detail']})" for c in containers[:4]]
    more = f" and {len(containers) - 4} more" if len(containers) > 4 else ""
    summary = (f"{len(containers)} running: {', '.join(described)}{more}" if containers
               else "engine up, no running containers")
    return ProbeResult("docker", where, (Finding("docker", table, summary),), summary,
                       elapsed=time.monotonic() - started)


def _list(host: str, timeout: float) -> list[dict[str, str]]:
    import docker  # type: ignore[import-untyped]

    client = docker.DockerClient(base_url=host, timeout=max(1, int(timeout + 0.999)))
    try:
        rows = client.api.containers(all=False)
        found = []
        for row in rows:
            name = (row.get("Names") or ["?"])[0].lstrip("/")
            status = str(row.get("Status") or row.get("State") or "")
            found.append({"name": name, "detail": status})
        return sorted(found, key=lambda c: c["name"])
    finally:
        client.close()
