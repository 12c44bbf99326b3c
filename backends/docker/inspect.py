"""What one poll knows of the watched containers: plain frozen data built from `docker inspect`.

`Inspector` keeps the last inspect of each container and re-inspects only those that the
events stream marked, whose listed state changed, or whose copy is getting old, so a refresh of
50 quiet containers costs one list call.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backends.docker.config import DockerConfig
from console.core.loglines import LogLine, printable

HELPER_LABEL = "org.opsconsole.helper"
FULL_REFRESH = 60.0  # seconds before an unchanged container is inspected again anyway


@dataclass(frozen=True)
class Mount:
    kind: str  # "volume", "bind", "tmpfs"
    name: str  # the volume's name, empty for binds
    source: str
    destination: str
    writable: bool


@dataclass(frozen=True)
class HealthProbe:
    ended: float | None
    exit_code: int
    output: str


@dataclass(frozen=True)
class Usage:
    """CPU % and memory from the background stats collector."""

    cpu_percent: float | None
    memory: int | None
    memory_limit: int | None


@dataclass(frozen=True)
class CrashLoop:
    """A container caught restarting: how often within the window, and its last log lines."""

    restarts: int
    window: float
    restarting: bool
    lines: tuple[LogLine, ...]

    @property
    def headline(self) -> str:
        """The line that explains the failure: the last fatal/error line, else the last one."""
        for line in reversed(self.lines):
            lowered = line.text.lower()
            if any(word in lowered for word in ("fatal", "error", "panic", "exception")):
                return line.text
        return self.lines[-1].text if self.lines else ""


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    image: str
    state: str  # created, running, paused, restarting, removing, exited, dead
    health: str | None  # starting, healthy, unhealthy, or None without a healthcheck
    health_log: tuple[HealthProbe, ...]
    started_at: float | None
    finished_at: float | None
    exit_code: int
    error: str
    oom_killed: bool
    restart_count: int
    restart_policy: str
    mounts: tuple[Mount, ...]
    ports: tuple[str, ...]
    network_mode: str
    command: str
    pid: int
    usage: Usage | None = None
    crash: CrashLoop | None = None

    @property
    def target(self) -> str:
        return f"container:{self.name}"

    @property
    def running(self) -> bool:
        return self.state in ("running", "paused", "restarting")

    @property
    def volumes(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.mounts if m.kind == "volume" and m.name)


def docker_time(value: str | None) -> float | None:
    """Docker's RFC 3339 nanosecond times as Unix time; its zero time as None."""
    if not value or value.startswith("0001-01-01"):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def container_info(attrs: dict[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    config = attrs.get("Config") or {}
    host = attrs.get("HostConfig") or {}
    health = state.get("Health") or None
    probes = tuple(
        HealthProbe(docker_time(p.get("End")), int(p.get("ExitCode") or 0),
                    printable(str(p.get("Output") or "").strip(), 300))
        for p in (health or {}).get("Log") or ())
    mounts = tuple(
        Mount(str(m.get("Type") or ""), str(m.get("Name") or ""), str(m.get("Source") or ""),
              str(m.get("Destination") or ""), bool(m.get("RW", True)))
        for m in attrs.get("Mounts") or ())
    ports: list[str] = []
    for port, bindings in sorted(((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items()):
        for binding in bindings or [None]:
            if binding:
                ports.append(f"{binding.get('HostIp') or ''}:{binding.get('HostPort')}->{port}")
            else:
                ports.append(port)
    policy = host.get("RestartPolicy") or {}
    policy_name = str(policy.get("Name") or "no")
    if policy_name == "on-failure" and policy.get("MaximumRetryCount"):
        policy_name += f":{policy['MaximumRetryCount']}"
    command = " ".join(str(part) for part in
                       [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])])
    return ContainerInfo(
        id=str(attrs.get("Id") or ""),
        name=str(attrs.get("Name") or "").lstrip("/"),
        image=str(config.get("Image") or attrs.get("Image") or ""),
        state=str(state.get("Status") or "unknown"),
        health=str(health.get("Status")) if health else None,
        health_log=probes,
        started_at=docker_time(state.get("StartedAt")),
        finished_at=docker_time(state.get("FinishedAt")),
        exit_code=int(state.get("ExitCode") or 0),
        error=printable(str(state.get("Error") or ""), 300),
        oom_killed=bool(state.get("OOMKilled")),
        restart_count=int(attrs.get("RestartCount") or 0),
        restart_policy=policy_name,
        mounts=mounts,
        ports=tuple(ports),
        network_mode=str(host.get("NetworkMode") or ""),
        command=printable(command, 300),
        pid=int(state.get("Pid") or 0),
    )


def selected(config: DockerConfig, name: str, labels: dict[str, str] | None) -> bool:
    """Whether the config watches a container with this name and these labels."""
    labels = labels or {}
    if HELPER_LABEL in labels:
        return False
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in config.containers):
        return True
    if config.labels:
        return all(key in labels and (value is None or labels[key] == value)
                   for key, value in config.labels)
    return False


@dataclass
class _Cached:
    info: ContainerInfo
    listed_state: str
    at: float


class Inspector:
    """List the engine's containers, pick the watched ones, inspect what may have changed."""

    def __init__(self, config: DockerConfig, workers: int = 4) -> None:
        self.config = config
        # Set while the events stream is connected; without it every read inspects everything.
        self.incremental: Callable[[], bool] = lambda: False
        self._cache: dict[str, _Cached] = {}
        self._dirty: set[str] = set()
        self._everything_dirty = True
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker-inspect")

    def mark_dirty(self, container_id: str | None = None) -> None:
        """Thread-safe: re-inspect this container (or all) at the next read."""
        with self._lock:
            if container_id is None:
                self._everything_dirty = True
            else:
                self._dirty.add(container_id)

    def read(self, client: Any) -> tuple[list[ContainerInfo], list[str]]:
        """(watched containers, configured exact names that do not exist). Thread side."""
        listed = client.api.containers(all=True)
        now = time.monotonic()
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            everything, self._everything_dirty = self._everything_dirty, False
        everything = everything or not self.incremental()
        wanted: list[tuple[str, str]] = []
        for entry in listed:
            names = [n.lstrip("/") for n in entry.get("Names") or ()]
            name = names[0] if names else entry.get("Id", "")[:12]
            if selected(self.config, name, entry.get("Labels")):
                wanted.append((str(entry["Id"]), _listed_state(entry)))
        stale = [cid for cid, state in wanted
                 if everything or cid in dirty or cid not in self._cache
                 or self._cache[cid].listed_state != state or state.startswith("restarting")
                 or now - self._cache[cid].at > FULL_REFRESH]
        for cid, attrs in zip(stale, self._pool.map(lambda c: _inspect(client, c), stale),
                              strict=True):
            if attrs is not None:
                state = next(s for c, s in wanted if c == cid)
                self._cache[cid] = _Cached(container_info(attrs), state, now)
        ids = {cid for cid, _ in wanted}
        for cid in list(self._cache):
            if cid not in ids:
                del self._cache[cid]
        infos = sorted((self._cache[cid].info for cid in ids if cid in self._cache),
                       key=lambda i: i.name)
        present = {info.name for info in infos}
        missing = [name for name in self.config.exact_names if name not in present]
        return infos, missing

    def running_ids(self) -> list[str]:
        return [c.info.id for c in list(self._cache.values()) if c.info.state == "running"]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _listed_state(entry: dict[str, Any]) -> str:
    """State plus the parenthesised parts of `docker ps`'s status: "running (healthy)"."""
    notes = re.findall(r"\(([^)]*)\)", str(entry.get("Status") or ""))
    return " ".join([str(entry.get("State") or ""), *notes])


def _inspect(client: Any, container_id: str) -> dict[str, Any] | None:
    import docker.errors  # type: ignore[import-untyped]

    try:
        attrs: dict[str, Any] = client.api.inspect_container(container_id)
        return attrs
    except docker.errors.NotFound:
        return None  # removed between the list and the inspect

