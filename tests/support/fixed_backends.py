"""Backends of our own with fixed answers, so screen snapshots do not change between runs.

They stand in for nothing external: the real backends are tested against real services; these
only hold the console's own screens still long enough to compare pictures.
"""

from __future__ import annotations

from typing import Any

from backends.base import Backend
from backends.http.backend import HttpBackend
from backends.http.config import EndpointSnapshot, HttpConfig
from console.core.model import CheckResult, Perf, Status

FROZEN_TIME = 1_795_000_000.0  # shown as 08:26:40 UTC


class FixedBackend(Backend[int]):
    """Answers the same checks on every poll."""

    def __init__(self, kind: str, name: str, checks: list[CheckResult]) -> None:
        self.kind = kind  # type: ignore[misc]
        super().__init__(name, interval=3600, timeout=5)
        self._checks = checks

    def targets(self) -> list[str]:
        return sorted({c.target for c in self._checks})

    async def collect(self) -> int:
        return len(self._checks)

    def evaluate(self, snapshot: int) -> list[CheckResult]:
        return list(self._checks)


class FixedEndpoint(HttpBackend):
    """An HTTP backend whose answer is given instead of fetched."""

    def __init__(self, name: str, url: str, snapshot: EndpointSnapshot) -> None:
        config = HttpConfig(name=name, url=url, method="GET", expect_status=(200,),
                            expect_json=(), expect_body=None, latency_warn=1.0,
                            latency_crit=3.0, verify=True, timeout=5, interval=3600, headers=())
        super().__init__(config)
        self._fixed = snapshot

    async def collect(self) -> EndpointSnapshot:
        return self._fixed


def sample_backends() -> list[Backend[Any]]:
    """The overview of a small production box with a few problems."""
    return [
        FixedBackend("container", "ledger", [CheckResult(
            "container:ledger-crashloop", Status.CRITICAL,
            'restarting 9x in 2m · "Fatal: On start, ledger directory should not exist"')]),
        FixedBackend("unit", "units", [
            CheckResult("unit:broken.service", Status.CRITICAL, "failed since 02:58 (exit 3)"),
            CheckResult("unit:archivist-vod.service", Status.OK, "active 3h 12m · 0 restarts")]),
        FixedBackend("queue", "crawl", [CheckResult(
            "queue:crawl/auto_record", Status.WARNING, "failed 5 · depth 42 · draining 7/min",
            perfdata=(Perf("auto_record_depth", 42, "", 1000, 10000, 0),))]),
        FixedEndpoint("api", "http://127.0.0.1:8000/health/",
                      EndpointSnapshot("http://127.0.0.1:8000/health/", FROZEN_TIME, 200, 0.008)),
        FixedEndpoint("admin", "http://127.0.0.1:5051/health",
                      EndpointSnapshot("http://127.0.0.1:5051/health", FROZEN_TIME,
                                       error="connection refused")),
    ]
