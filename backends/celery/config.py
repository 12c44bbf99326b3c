"""The `[[celery]]` config entry: broker, result backend, queues, expectations, thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table

REDIS_SCHEMES = ("redis", "rediss")


@dataclass(frozen=True)
class CeleryConfig:
    name: str
    broker: str
    backend: str | None
    queues: tuple[str, ...]
    expect_count: int | None
    expect_names: tuple[str, ...]
    failed_warn: float | None
    failed_crit: float | None
    depth_warn: float | None
    depth_crit: float | None
    beat_schedule: Path | None
    retention: float
    retention_rows: int
    retry_rate: float
    inspect_timeout: float
    results_every: float
    interval: float | None
    timeout: float | None

    @property
    def expected_workers(self) -> int | None:
        """How many workers must answer, when the config says (a count or a list of names)."""
        if self.expect_names:
            return len(self.expect_names)
        return self.expect_count


def _expect_workers(table: Table) -> tuple[int | None, tuple[str, ...]]:
    raw = table.data.get("expect_workers")
    if raw is None or (isinstance(raw, int) and not isinstance(raw, bool)):
        return table.integer("expect_workers", None, minimum=0), ()
    names = table.str_list("expect_workers")
    table.check(bool(names), "expect_workers", "give a count or a non-empty list of worker names")
    return None, tuple(names)


def parse(table: Table) -> CeleryConfig:
    expect_count, expect_names = _expect_workers(table)
    failed_warn, failed_crit = table.thresholds("failed_per_hour")
    depth_warn, depth_crit = table.thresholds("queue_depth")
    beat = table.text("beat_schedule", None, what="the path of celery beat's schedule file")
    config = CeleryConfig(
        name=table.name(),
        broker=table.url("broker", REDIS_SCHEMES),
        backend=table.url("backend", REDIS_SCHEMES, None),
        queues=tuple(table.str_list("queues", [])),
        expect_count=expect_count,
        expect_names=expect_names,
        failed_warn=failed_warn,
        failed_crit=failed_crit,
        depth_warn=depth_warn,
        depth_crit=depth_crit,
        beat_schedule=Path(beat).expanduser() if beat else None,
        retention=table.duration("retention", "14d"),
        retention_rows=table.integer("retention_rows", 20_000, minimum=100),
        retry_rate=table.number("retry_rate", 20.0, minimum=0.1),
        inspect_timeout=table.duration("inspect_timeout", 1.0),
        results_every=table.duration("results_every", 10.0),
        interval=table.duration("interval", None),
        timeout=table.duration("timeout", None),
    )
    table.check(config.retention > 0, "retention", "must be more than 0 (for example \"14d\")")
    table.check(0 < config.inspect_timeout <= 30, "inspect_timeout",
                "must be more than 0 and at most 30 seconds")
    for queue in config.queues:
        table.check(bool(queue.strip()), "queues", "queue names cannot be empty")
    table.done()
    return config


def validate(entries: list[CeleryConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("celery", [entry.name for entry in entries])
