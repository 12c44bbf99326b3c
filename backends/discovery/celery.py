"""Probe: Celery apps on a Redis broker the Redis probe found with Celery bindings.

One `inspect ping` per broker (Celery's control broadcast, read-only) says which workers
answer; the broker's Celery queues and its result database come from the Redis probe.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from backends.discovery.model import Finding, ProbeResult
from backends.discovery.redis import shown, with_db
from backends.discovery.timing import blocking
from console.core.counts import counted
from console.core.errors import one_line


def where() -> str:
    return "Redis brokers"


async def probe(timeout: float, earlier: Sequence[ProbeResult] = ()) -> list[ProbeResult]:
    """Pings the Celery brokers the Redis probe (run before this one) found."""
    brokers = [b for r in earlier for b in r.extra.get("celery_brokers", [])]
    if not brokers:
        return [ProbeResult("celery", "Redis brokers",
                            missing="no Redis database holds Celery queue bindings "
                                    "(_kombu.binding.*)")]
    results = []
    for index, broker in enumerate(brokers):
        results.append(await _probe_broker(broker, timeout, "celery" if index == 0
                                           else f"celery-{index + 1}"))
    return results


async def _probe_broker(broker: dict[str, Any], timeout: float, name: str) -> ProbeResult:
    started = time.monotonic()
    url = str(broker["url"])
    where = f"{shown(url) if not url.startswith('$') else '$REDIS_URL'} db{broker['db']}"
    ping_timeout = max(0.2, min(0.5, timeout - 0.3))
    workers: list[str] = []
    try:
        workers = await blocking(lambda: _ping(url, ping_timeout), timeout)
    except TimeoutError:
        note = f"workers did not answer within {timeout:g}s"
    except Exception as exc:  # Celery/kombu raise many kinds; one line is what matters
        note = f"inspect ping failed: {one_line(exc)}"
    else:
        note = (f"{counted(len(workers), 'worker')} answered ping"
                + (f" ({', '.join(sorted(workers)[:3])})" if workers else ""))
    table: dict[str, Any] = {"name": name, "broker": url, "queues": list(broker["queues"])}
    if broker.get("result_db") is not None and not url.startswith("$"):
        table["backend"] = with_db(url, int(broker["result_db"]))
    if workers:
        table["expect_workers"] = len(workers)
    summary = f"queues {', '.join(broker['queues'])}; {note}"
    return ProbeResult("celery", where, (Finding("celery", table, summary),), summary,
                       elapsed=time.monotonic() - started)


def _ping(url: str, timeout: float) -> list[str]:
    from celery import Celery  # type: ignore[import-untyped]

    app = Celery("opsconsole-discovery", broker=url, set_as_current=False)
    # Short broadcasts lose replies with kombu's default polling interval.
    app.conf.broker_transport_options = {"polling_interval": 0.02}
    app.conf.broker_connection_timeout = timeout
    app.conf.broker_connection_max_retries = 0
    try:
        replies = app.control.ping(timeout=timeout) or []
    finally:
        app.close()
    return [name for reply in replies for name in reply]
