"""Discovery: what this machine runs, found quickly and read-only, as config entries.

Every probe (systemd, redis, celery, docker, postgres, ports) runs in parallel with its own
short timeout; Celery waits only for the Redis probe, whose brokers it pings. The result is
a DiscoveryReport: findings (config tables) and, for each probe that found nothing, one line
saying why. `sections.py` turns findings into parsed config sections, `toml.py` into a file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from backends.discovery.model import DiscoveryReport, Finding, ProbeResult

__all__ = ["DiscoveryReport", "Finding", "ProbeResult", "discover", "discover_sync"]

DEFAULT_TIMEOUT = 0.8  # local services answer in milliseconds; slower means hung


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
        from backends.discovery.timing import one_line

        return [ProbeResult(probe, where, missing=f"probe failed: {one_line(exc)}",
                            elapsed=time.monotonic() - started)]
    return result if isinstance(result, list) else [result]


async def discover(timeout: float = DEFAULT_TIMEOUT) -> DiscoveryReport:
    """Run every probe; returns within about `timeout` seconds (Celery adds at most that)."""
    started = time.monotonic()
    from backends.discovery import systemd

    # The systemd probe works in a child process: start it first, so it runs on another
    # core while this process imports the other probes' client libraries.
    slow = max(timeout, 1.5)  # a child process or a big SDK import comes first
    systemd_task = asyncio.ensure_future(
        _guarded("systemd", systemd.where(), systemd.probe(slow), slow))
    await asyncio.sleep(0)
    from backends.discovery import celery, docker, ports, postgres, redis

    async def redis_then_celery() -> tuple[list[ProbeResult], list[ProbeResult]]:
        found = await _guarded("redis", "127.0.0.1:6379", redis.probe(timeout), timeout)
        brokers = [b for r in found for b in r.extra.get("celery_brokers", [])]
        left = max(0.5, timeout * 1.6 - (time.monotonic() - started))
        pinged = await _guarded("celery", "Redis brokers", celery.probe(brokers, left), left)
        return found, pinged

    docker_task = _guarded("docker", "docker", docker.probe(slow), slow)
    postgres_task = _guarded("postgres", "libpq defaults", postgres.probe(timeout), timeout)
    ports_task = _guarded("ports", "this host", ports.probe(timeout), timeout)
    (redis_found, celery_found), units, engines, databases, listeners = await asyncio.gather(
        redis_then_celery(), systemd_task, docker_task, postgres_task, ports_task)
    ordered = [*units, *redis_found, *celery_found, *engines, *databases, *listeners]
    return DiscoveryReport(tuple(ordered), time.monotonic() - started)


def discover_sync(timeout: float = DEFAULT_TIMEOUT) -> DiscoveryReport:
    """`discover()` from synchronous code (the CLI before the console starts).

    Called while an event loop runs in this thread, it runs on its own loop in a helper
    thread, since a loop cannot be nested.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(discover(timeout))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="discovery") as pool:
        return pool.submit(asyncio.run, discover(timeout)).result()
