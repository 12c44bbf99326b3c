"""The `[[logs]]` config entry: which files, their format, error patterns and thresholds."""

from __future__ import annotations

import re
from dataclasses import dataclass

from console.core.configtable import Table

FORMATS = ("plain", "json", "nginx")
DEFAULT_BACKFILL = 16 * 1024 * 1024


@dataclass(frozen=True)
class LogsConfig:
    name: str
    path: str  # a file or a glob
    format: str
    error_pattern: re.Pattern[str] | None
    errors_per_minute: tuple[float | None, float | None]
    error_rate: tuple[float | None, float | None]  # share of 5xx responses, in percent
    response_time: tuple[float | None, float | None]  # p95, seconds
    min_requests: int
    window: float
    backfill: int  # bytes read back from the end when nothing is remembered
    interval: float
    timeout: float


def _pattern(table: Table, key: str) -> re.Pattern[str] | None:
    text = table.text(key, None)
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        raise table.error(key, f"not a valid regular expression ({exc}): fix the pattern "
                               "(escape special characters with \\\\)") from None


def _pair(table: Table, key: str, default: tuple[float | None, float | None]
          ) -> tuple[float | None, float | None]:
    if not table.has(key):
        table.thresholds(key)  # marks the key as known
        return default
    return table.thresholds(key)


def parse(table: Table) -> LogsConfig:
    name = table.name()
    path = table.text("path", what="a file path or glob such as /var/log/myapp/*.log")
    table.check(path.startswith("/"), "path", "must be an absolute path")
    config = LogsConfig(
        name=name,
        path=path,
        format=table.text("format", "plain", choices=FORMATS),
        error_pattern=_pattern(table, "error_pattern"),
        errors_per_minute=_pair(table, "errors_per_minute", (1.0, 10.0)),
        error_rate=_pair(table, "error_rate", (1.0, 5.0)),
        response_time=_pair(table, "response_time", (1.0, 5.0)),
        min_requests=table.integer("min_requests", 1, minimum=1),
        window=table.duration("window", 300.0),
        backfill=table.integer("backfill_bytes", DEFAULT_BACKFILL, minimum=0),
        interval=table.duration("interval", 10.0),
        timeout=table.duration("timeout", 10.0),
    )
    table.check(config.window >= 1, "window", "must be at least 1s")
    table.check(config.timeout > 0, "timeout", "must be more than 0")
    table.done()
    return config
