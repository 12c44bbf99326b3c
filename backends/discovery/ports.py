"""Probe: listening TCP ports with their processes (psutil), and HTTP health endpoints on them.

Each port gets GET /health, /health/ and /healthz with a short timeout; an endpoint that
answers 200 becomes an `[[http]]` entry. Ports of well-known non-HTTP servers are not asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

from backends.discovery.model import Finding, ProbeResult, safe_name
from backends.discovery.timing import blocking
from backends.http.client import httpx
from console.core.errors import one_line

HEALTH_PATHS = ("/health", "/health/", "/healthz")
NOT_HTTP = {22, 25, 53, 111, 631, 2375, 2376, 3306, 4369, 5432, 5672, 6379, 11211, 25672, 27017}
MAX_PORTS = 40
PER_REQUEST = 0.25


@dataclass(frozen=True)
class Listener:
    port: int
    address: str
    process: str


def where() -> str:
    return "this host"


async def probe(timeout: float, earlier: Sequence[ProbeResult] = ()) -> ProbeResult:
    started = time.monotonic()
    try:
        listeners = await blocking(_listeners, timeout / 2)
    except TimeoutError:
        return ProbeResult("ports", "this host", missing="listing sockets took too long",
                           elapsed=time.monotonic() - started)
    except (psutil.Error, OSError) as exc:
        return ProbeResult("ports", "this host", missing=f"cannot list sockets: {one_line(exc)}",
                           elapsed=time.monotonic() - started)
    if not listeners:
        return ProbeResult("ports", "this host", missing="no listening TCP ports",
                           elapsed=time.monotonic() - started)
    left = max(0.2, timeout - (time.monotonic() - started))
    health = await _health_endpoints([item for item in listeners if item.port not in NOT_HTTP], left)
    findings = []
    taken: set[str] = set()
    for listener, url in health:
        name = safe_name(f"{listener.process or 'http'}-{listener.port}", taken)
        findings.append(Finding("http", {"name": name, "url": url},
                                f"{url} answers 200 ({listener.process or 'unknown process'})"))
    shown = ", ".join(f"{item.port} {item.process or '?'}" for item in listeners[:8])
    more = f" and {len(listeners) - 8} more" if len(listeners) > 8 else ""
    summary = f"{len(listeners)} listening ({shown}{more}); {len(health)} health endpoints"
    return ProbeResult("ports", "this host", tuple(findings), summary,
                       elapsed=time.monotonic() - started,
                       extra={"ports": [item.port for item in listeners]})


def _listeners() -> list[Listener]:
    found: dict[int, Listener] = {}
    for conn in psutil.net_connections("tcp"):
        if conn.status != psutil.CONN_LISTEN or not conn.laddr:
            continue
        port = conn.laddr.port
        if port in found:
            continue
        process = ""
        if conn.pid:
            try:
                process = psutil.Process(conn.pid).name()
            except psutil.Error:
                process = ""
        found[port] = Listener(port, conn.laddr.ip, process)
    return sorted(found.values(), key=lambda item: item.port)[:MAX_PORTS * 2]


def _host_for(address: str) -> str:
    if address in ("0.0.0.0", "::", "127.0.0.1", ""):
        return "127.0.0.1"
    if address == "::1":
        return "[::1]"
    return f"[{address}]" if ":" in address else address


async def _health_endpoints(listeners: list[Listener],
                            timeout: float) -> list[tuple[Listener, str]]:
    # A local health endpoint answers in milliseconds; what is slower is not one.
    per_request = min(PER_REQUEST, timeout)
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=0)
    # Plain http:// only, so no TLS context (loading the CA bundle costs ~50 ms).
    async with httpx.AsyncClient(timeout=per_request, follow_redirects=False, limits=limits,
                                 verify=False,
                                 headers={"User-Agent": "opsconsole-discovery"}) as client:
        async def first_healthy(listener: Listener) -> tuple[Listener, str] | None:
            base = f"http://{_host_for(listener.address)}:{listener.port}"
            for path in HEALTH_PATHS:
                try:
                    response = await client.get(base + path)
                except (httpx.HTTPError, OSError):
                    return None  # not HTTP, or not answering: no point asking again
                if response.status_code == 200:
                    return listener, base + path
            return None

        tasks = [asyncio.ensure_future(first_healthy(item)) for item in listeners[:MAX_PORTS]]
        done, pending = await asyncio.wait(tasks, timeout=timeout) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    found = [task.result() for task in done if not task.cancelled() and task.exception() is None]
    return sorted((f for f in found if f is not None), key=lambda f: f[0].port)
