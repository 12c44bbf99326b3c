"""The fleet as the TUI sees it: one long-lived bridge per host, watched, retried with backoff.

Each host has its own task, so a slow or dead host never holds up another (or the keyboard);
its state says whether it is up, why not, its protocol, version, round-trip time and the
check results its bridge streams; a host opened in the console (console.fleet.remote_session)
listens to its events too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.core.errors import ConsoleError
from console.core.identity import Identity
from console.core.model import CheckResult, Status, worst
from console.fleet.client import BridgeClient
from console.fleet.operator import operator_name
from console.fleet.protocol import check_from_dict
from console.fleet_config import Fleet, HostEntry

PING_EVERY = 15.0
FIRST_RETRY, MAX_RETRY = 2.0, 60.0


@dataclass
class RemoteHost:
    """What the console knows of one fleet host right now."""

    entry: HostEntry
    state: str = "connecting"  # connecting, up, down
    reason: str = ""
    protocol: int | None = None
    version: str = ""
    rtt: float | None = None
    read_only: bool = False
    remote_name: str = ""
    retry_at: float | None = None
    last_poll: float | None = None
    results: dict[str, tuple[float, tuple[CheckResult, ...]]] = field(default_factory=dict)
    backends: list[dict[str, Any]] = field(default_factory=list)  # as its hello describes them
    client: BridgeClient | None = None  # the connection while it is up
    view: dict[str, Any] | None = None  # what the console shows of it, asked on each connect
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.entry.name

    def checks(self) -> list[CheckResult]:
        return [c for _, checks in self.results.values() for c in checks]

    def counts(self) -> dict[Status, int]:
        found: dict[Status, int] = {}
        for check in self.checks():
            found[check.status] = found.get(check.status, 0) + 1
        return found

    def worst(self) -> Status:
        if self.state != "up":
            return Status.UNKNOWN
        return worst([c.status for c in self.checks()])

    def causes(self, limit: int = 2) -> list[CheckResult]:
        """The worst problems, worst first (nothing when all is well)."""
        bad = [c for c in self.checks() if c.status is not Status.OK]
        bad.sort(key=lambda c: (-c.status.severity, c.key))
        return bad[:limit]


class FleetMonitor:
    """Keeps one bridge per host connected and its state current; `on_change` after each news."""

    def __init__(self, fleet: Fleet, identity: Identity,
                 on_change: Callable[[RemoteHost], None] | None = None,
                 connect_timeout: float = 20.0) -> None:
        self.fleet = fleet
        self.operator = operator_name(identity)
        self.on_change = on_change or (lambda host: None)
        self.connect_timeout = connect_timeout
        self.hosts = {h.name: RemoteHost(h, read_only=h.read_only) for h in fleet.hosts}
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = {name: asyncio.Event() for name in self.hosts}

    def start(self) -> None:
        for host in self.hosts.values():
            self._tasks.append(asyncio.create_task(self._keep(host), name=f"fleet:{host.name}"))

    def retry_now(self, name: str | None = None) -> None:
        for host_name, event in self._wake.items():
            if name is None or host_name == name:
                event.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _keep(self, host: RemoteHost) -> None:
        """Connect, watch until the bridge goes away, wait (backing off), again."""
        delay = FIRST_RETRY
        while True:
            host.state, host.retry_at = "connecting", None
            self.on_change(host)
            gone = asyncio.Event()
            client = BridgeClient(self.fleet.settings, host.entry, operator=self.operator,
                                  on_event=functools.partial(self._event, host, gone=gone))
            try:
                hello = await client.connect(self.connect_timeout)
                host.protocol, host.version = hello.get("protocol"), str(hello.get("version"))
                host.read_only = host.entry.read_only or bool(hello.get("read_only"))
                host.remote_name = str(hello.get("host", ""))
                described = hello.get("backends")
                host.backends = [d for d in described if isinstance(d, dict)] \
                    if isinstance(described, list) else []
                host.rtt = client.rtt
                await client.request({"type": "watch"}, self.connect_timeout)
                host.state, host.reason, host.client = "up", "", client
                self._tell(host, {"type": "connected"})
                self.on_change(host)
                delay = FIRST_RETRY
                while client.closed_reason is None:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(PING_EVERY):
                            await gone.wait()
                    if client.closed_reason is None:
                        # alive and quiet: the round-trip time is news for the next redraw,
                        # not a redraw of its own for every host
                        await client.ping(self.connect_timeout)
                        host.rtt = client.rtt
                        if isinstance(client.pong.get("last_poll"), int | float):
                            host.last_poll = float(client.pong["last_poll"])
                raise ConsoleError(client.closed_reason)
            except asyncio.CancelledError:
                host.client = None
                await asyncio.shield(client.close())
                raise
            except (ConsoleError, OSError) as exc:
                host.state, host.reason = "down", str(exc).removeprefix(f"{host.name}: ")
                host.client = None
                host.results.clear()  # nothing stale is shown as current
            await client.close()
            host.retry_at = time.time() + delay
            self.on_change(host)
            wake = self._wake[host.name]
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
            delay = min(delay * 2, MAX_RETRY)

    def _event(self, host: RemoteHost, message: dict[str, Any], *, gone: asyncio.Event) -> None:
        if message.get("type") == "closed":
            gone.set()
            self._tell(host, message)
        if message.get("type") == "silences":  # for the host's views, when shown
            self._tell(host, message)
        if message.get("type") != "poll":
            return
        polled = float(message.get("polled_at") or time.time())
        checks = tuple(check_from_dict(c) for c in message.get("checks") or []
                       if isinstance(c, dict))
        host.results[str(message.get("backend"))] = (polled, checks)
        host.last_poll = polled
        self._tell(host, message)
        self.on_change(host)

    @staticmethod
    def _tell(host: RemoteHost, message: dict[str, Any]) -> None:
        for listener in list(host.listeners):
            listener(message)
