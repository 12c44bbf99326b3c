"""The console's own Celery app (built from the config, never the user's project) and inspect.

Every inspect method runs at the same time in its own thread (each thread has its own reply
queue), with `limit` when the number of workers is known so a call returns as soon as they
all answered instead of waiting its whole timeout.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from celery import Celery  # type: ignore[import-untyped]

from backends.celery.config import CeleryConfig
from console.core.errors import one_line

INSPECT_METHODS = ("stats", "active", "reserved", "scheduled", "active_queues", "conf",
                   "registered")
# What the checks need (workers online, how busy): all that is asked while no Celery view
# is on screen. A worker that answers `active` is online; `stats` (uptime, pool, totals) is
# for the view. Each method is a broadcast and a round of reply polling: a few ms of CPU.
CHECK_METHODS = ("active",)
# What a worker says about itself that changes only when it restarts or is reconfigured:
# asked again every SLOW_EVERY seconds, or at once when the set of workers changes.
SLOW_METHODS = ("active_queues", "conf", "registered")
SLOW_EVERY = 60.0


@dataclass(frozen=True)
class InspectReplies:
    """Each method's replies by worker name; `errors` names methods that failed."""

    replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def of(self, method: str) -> dict[str, Any]:
        return self.replies.get(method, {})

    @property
    def workers(self) -> set[str]:
        return {name for answers in self.replies.values() for name in answers}


def make_app(config: CeleryConfig) -> Any:
    """A Celery app that only talks to the broker and result backend of the config."""
    app = Celery(f"opsconsole-{config.name}", broker=config.broker, backend=config.backend,
                 set_as_current=False)
    timeout = max(1.0, config.inspect_timeout)
    app.conf.update(
        # Short inspect timeouts lose replies with kombu's default 1 s polling interval.
        broker_transport_options={"polling_interval": 0.02, "socket_timeout": 5,
                                  "socket_connect_timeout": timeout},
        result_backend_transport_options={"socket_timeout": 5,
                                          "socket_connect_timeout": timeout},
        broker_connection_timeout=timeout,
        broker_connection_retry=False,
        broker_connection_max_retries=1,
        broker_connection_retry_on_startup=False,
        worker_hijack_root_logger=False,
        task_send_sent_event=True,
    )
    return app


class CeleryClient:
    """Inspect and control calls for one configured app; blocking, so run it in a thread."""

    def __init__(self, config: CeleryConfig) -> None:
        self.config = config
        self.app = make_app(config)
        self._pool = ThreadPoolExecutor(max_workers=len(INSPECT_METHODS),
                                        thread_name_prefix=f"celery-inspect-{config.name}")
        self._lock = threading.Lock()
        self._kept: dict[str, dict[str, Any]] = {}  # slow methods' last replies
        self._kept_at = 0.0

    def inspect_all(self, limit: int | None, timeout: float | None = None,
                    methods: tuple[str, ...] = INSPECT_METHODS) -> InspectReplies:
        """Every inspect method at once; returns when all have answered or timed out.

        The slow-changing methods' last replies are reused while they are fresh and the
        workers answering are the same ones.
        """
        wait = self.config.inspect_timeout if timeout is None else timeout
        now = time.monotonic()
        reuse = {m for m in methods if m in SLOW_METHODS and m in self._kept
                 and now - self._kept_at < SLOW_EVERY}
        futures = {m: self._pool.submit(self._inspect, m, limit, wait)
                   for m in methods if m not in reuse}
        replies: dict[str, dict[str, Any]] = {m: self._kept[m] for m in reuse}
        errors: dict[str, str] = {}
        for method, future in futures.items():
            try:
                replies[method] = future.result(timeout=wait + 10)
            except Exception as exc:  # one failed method must not hide the others
                errors[method] = one_line(exc)
        fresh = InspectReplies(replies, errors)
        live = set(replies.get("stats", {}))
        if reuse and live != {w for m in reuse for w in self._kept[m]}:
            return self.inspect_all(limit, timeout, methods) if self._forget() else fresh
        if not reuse and not errors:
            self._kept = {m: replies[m] for m in SLOW_METHODS if m in replies}
            self._kept_at = now
        return fresh

    def _forget(self) -> bool:
        """Drop the kept replies (the workers changed); True when there were any."""
        had = bool(self._kept)
        self._kept, self._kept_at = {}, 0.0
        return had

    def _inspect(self, method: str, limit: int | None, timeout: float) -> dict[str, Any]:
        inspector = self.app.control.inspect(timeout=timeout, limit=limit)
        answer = getattr(inspector, method)()
        return dict(answer or {})

    def ping(self, destination: list[str] | None = None, timeout: float = 1.0) -> set[str]:
        replies = self.app.control.ping(destination=destination, timeout=timeout,
                                        limit=len(destination) if destination else None)
        return {name for reply in replies or [] for name in reply}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.app.close()
