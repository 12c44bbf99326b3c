"""Host checks with psutil: disk usage per mount, memory, load, and ports that must listen."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass

import psutil

from backends.base import Backend, BackendKind, Runtime
from backends.sockdiag import DiagUnavailable, listening_tcp_ports
from console.core.configtable import Table
from console.core.model import CheckResult, Perf, Status, by_thresholds
from console.core.sizes import format_bytes


@dataclass(frozen=True)
class HostConfig:
    name: str
    disks: tuple[str, ...]
    ports: tuple[int, ...]
    disk_warn: float
    disk_crit: float
    memory_warn: float
    memory_crit: float
    load_warn: float | None
    load_crit: float | None
    interval: float | None


@dataclass(frozen=True)
class DiskUsage:
    mount: str
    percent: float | None
    used: int
    total: int
    error: str | None = None


@dataclass(frozen=True)
class HostSnapshot:
    disks: tuple[DiskUsage, ...]
    memory_percent: float
    memory_available: int
    memory_total: int
    load: tuple[float, float, float]
    cpus: int
    listening: frozenset[int]


def parse(table: Table) -> HostConfig:
    config = HostConfig(
        name=table.name("name", socket.gethostname().split(".")[0] or "localhost"),
        disks=tuple(table.str_list("disks", ["/"])),
        ports=tuple(table.int_list("ports", [], minimum=1, maximum=65535,
                                   what="a list of port numbers")),
        disk_warn=table.number("disk_warn", 80.0, minimum=0),
        disk_crit=table.number("disk_crit", 90.0, minimum=0),
        memory_warn=table.number("memory_warn", 90.0, minimum=0),
        memory_crit=table.number("memory_crit", 95.0, minimum=0),
        load_warn=table.number("load_warn", None, minimum=0),
        load_crit=table.number("load_crit", None, minimum=0),
        interval=table.duration("interval", None),
    )
    for mount in config.disks:
        table.check(mount.startswith("/"), "disks", f"expected absolute paths, got {mount!r}")
    table.done()
    return config


def build(entries: list[HostConfig], runtime: Runtime) -> list[Backend]:
    return [HostBackend(entry, runtime) for entry in entries]


_PROC_NET = ("/proc/net/tcp", "/proc/net/tcp6")
_TCP_LISTEN = "0A"


def listening_ports() -> frozenset[int]:
    """The TCP ports something listens on: from the kernel's socket diagnostics, else from
    /proc/net (two reads), else psutil.

    psutil.net_connections maps every socket to its process by reading every process's file
    descriptors: far more work than a poll every few seconds should cost.
    """
    try:
        return listening_tcp_ports()
    except DiagUnavailable:
        pass
    found: set[int] = set()
    try:
        for path in _PROC_NET:
            with open(path, encoding="ascii") as table:
                next(table, None)  # the header
                for line in table:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == _TCP_LISTEN:
                        found.add(int(fields[1].rsplit(":", 1)[1], 16))
    except (OSError, ValueError, IndexError):
        return frozenset(c.laddr.port for c in psutil.net_connections("inet")
                         if c.status == psutil.CONN_LISTEN and c.laddr)
    return frozenset(found)


class HostBackend(Backend[HostSnapshot]):
    kind = "host"

    def __init__(self, config: HostConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=config.interval or max(runtime.refresh, 5.0),
                         timeout=runtime.timeout)
        self.config = config

    def targets(self) -> list[str]:
        return [f"host:{self.name}"]

    async def collect(self) -> HostSnapshot:
        return await asyncio.to_thread(self._read)

    def _read(self) -> HostSnapshot:
        disks = []
        for mount in self.config.disks:
            try:
                usage = psutil.disk_usage(mount)
                disks.append(DiskUsage(mount, usage.percent, usage.used, usage.total))
            except OSError as exc:
                disks.append(DiskUsage(mount, None, 0, 0, exc.strerror or str(exc)))
        memory = psutil.virtual_memory()
        listening: frozenset[int] = frozenset()
        if self.config.ports:
            listening = listening_ports()
        return HostSnapshot(tuple(disks), memory.percent, memory.available, memory.total,
                            os.getloadavg(), os.cpu_count() or 1, listening)

    def evaluate(self, snapshot: HostSnapshot) -> list[CheckResult]:
        target = f"host:{self.name}"
        cfg = self.config
        results = []
        for disk in snapshot.disks:
            if disk.percent is None:
                results.append(CheckResult(target, Status.UNKNOWN, f"{disk.mount}: {disk.error}",
                                           check=f"disk {disk.mount}"))
                continue
            status = by_thresholds(disk.percent, cfg.disk_warn, cfg.disk_crit)
            results.append(CheckResult(
                target, status,
                f"{disk.mount} {disk.percent:.0f}% used, {format_bytes(disk.total - disk.used)} free",
                check=f"disk {disk.mount}",
                perfdata=(Perf(f"disk_{disk.mount}", round(disk.percent, 1), "%",
                               cfg.disk_warn, cfg.disk_crit, 0, 100),)))
        status = by_thresholds(snapshot.memory_percent, cfg.memory_warn, cfg.memory_crit)
        results.append(CheckResult(
            target, status,
            f"memory {snapshot.memory_percent:.0f}% used, "
            f"{format_bytes(snapshot.memory_available)} available",
            check="memory",
            perfdata=(Perf("memory", round(snapshot.memory_percent, 1), "%",
                           cfg.memory_warn, cfg.memory_crit, 0, 100),)))
        load1, load5, load15 = snapshot.load
        per_core = load5 / snapshot.cpus
        status = by_thresholds(per_core, cfg.load_warn, cfg.load_crit)
        results.append(CheckResult(
            target, status, f"load {load1:.2f} {load5:.2f} {load15:.2f} on {snapshot.cpus} cores",
            check="load",
            perfdata=(Perf("load5", round(load5, 2), "", cfg.load_warn and cfg.load_warn * snapshot.cpus,
                           cfg.load_crit and cfg.load_crit * snapshot.cpus, 0),)))
        for port in cfg.ports:
            up = port in snapshot.listening
            results.append(CheckResult(
                target, Status.OK if up else Status.CRITICAL,
                f"port {port} {'listening' if up else 'not listening'}", check=f"port {port}"))
        return results


KIND = BackendKind(section="host", parse=parse, build=build)
