"""Discovery: what this machine runs, found quickly and read-only, as config entries.

Every probe the caller names (the registry's rows: systemd, redis, celery, docker, postgres,
ports) runs in parallel with its own short timeout; a probe may wait for one other (Celery
for Redis, whose brokers it pings). The result is
a DiscoveryReport: findings (config tables) and, for each probe that found nothing, one line
saying why. `sections.py` turns findings into parsed config sections, `toml.py` into a file.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from collections.abc import Awaitable, Sequence
from typing import Any

from backends.discovery.model import DiscoveryReport, Finding, Probe, ProbeResult
from console.core.errors import one_line

__all__ = ["DiscoveryReport", "Finding", "Probe", "ProbeResult", "discover", "discover_sync"]

DEFAULT_TIMEOUT = 0.8  # local services answer in milliseconds; slower means hung
MOST_PATIENCE = 3.0  # how many times longer a probe may wait on a host busier than its cores


def default_timeout(load: float | None = None, cores: int | None = None) -> float:
    """DEFAULT_TIMEOUT, stretched by how far the load average exceeds the cores (at most
    MOST_PATIENCE times): on a busy host a service slow to be scheduled is not hung."""
    if load is None:
        load = os.getloadavg()[0]
    cores = max(1, cores or os.cpu_count() or 1)
    return DEFAULT_TIMEOUT * min(MOST_PATIENCE, max(1.0, load / cores))


async def _guarded(probe: str, where: str, work: Awaitable[Any],
                   timeout: float) -> list[ProbeResult]:
    """A probe's results; a probe that overruns or breaks becomes one 'not found' line."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout + 0.3):
            result = await work
    except TimeoutError:
        return [ProbeResult(probe, where, missing=f"no answer within {timeout:g}s",
                            elapsed=time.monotonic() - started)]
    except Exception as exc:  # a bug or an odd system must not stop the other probes
        return [ProbeResult(probe, where, missing=f"probe failed: {one_line(exc)}",
                            elapsed=time.monotonic() - started)]
    return result if isinstance(result, list) else [result]


async def discover(probes: Sequence[Probe], timeout: float | None = None) -> DiscoveryReport:
    """Run every probe; returns within about `timeout` seconds (a probe run `after` another
    adds at most that again); `default_timeout()` when none is given."""
    started = time.monotonic()
    if timeout is None:
        timeout = default_timeout()
    slow = max(timeout, 1.5)  # a child process or a big SDK import comes first
    tasks: dict[str, asyncio.Future[list[ProbeResult]]] = {}

    async def run(probe: Probe) -> list[ProbeResult]:
        earlier: list[ProbeResult] = []
        limit = slow if probe.slow else timeout
        if probe.after is not None and probe.after in tasks:
            earlier = await tasks[probe.after]
            limit = max(0.5, timeout * 1.6 - (time.monotonic() - started))
        module = importlib.import_module(probe.module)
        return await _guarded(probe.name, module.where(), module.probe(limit, earlier), limit)

    # Slow probes start first, so a child process runs on another core while this process
    # imports the other probes' client libraries.
    for probe in sorted(probes, key=lambda p: not p.slow):
        tasks[probe.name] = asyncio.ensure_future(run(probe))
        if probe.slow:
            await asyncio.sleep(0)
    await asyncio.gather(*tasks.values())
    ordered = [result for probe in probes for result in tasks[probe.name].result()]
    return DiscoveryReport(tuple(ordered), time.monotonic() - started)


def discover_sync(probes: Sequence[Probe], timeout: float | None = None) -> DiscoveryReport:
    """`discover()` from synchronous code (the CLI before the console starts).

    Called while an event loop runs in this thread, it runs on its own loop in a helper
    thread, since a loop cannot be nested.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(discover(probes, timeout))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="discovery") as pool:
        return pool.submit(asyncio.run, discover(probes, timeout)).result()
