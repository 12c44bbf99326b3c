"""The `[[process]]` config entry: processes found by a pattern in their command line.

    [[process]]
    name = "crawl-scheduler"
    pattern = "manage.py run_crawl_scheduler"   # a regular expression, searched as pgrep -f does
    # user = "crawl"                  only processes of this user (and start runs as this user)
    # min = 1                         fewer is CRITICAL ("not running")
    # max = 1                         more is WARNING (a second copy started by hand)
    # cpu = { warn = 80, crit = 95 }  percent of one core, per process
    # memory_mb = { warn = 1024, crit = 2048 }   resident memory (MiB), per process
    # restarted_window = "10m"        a start time that changed within this is WARNING
    # start = ["/opt/crawl/venv/bin/python", "manage.py", "run_crawl_scheduler"]
    # start_cwd = "/opt/crawl"        start runs detached, as the runbook's nohup line does
    # start_log = "/var/log/crawl/scheduler.out"   its output (default: discarded)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table


@dataclass(frozen=True)
class ProcessConfig:
    name: str
    pattern: re.Pattern[str]
    user: str | None
    min: int
    max: int | None
    cpu_warn: float | None
    cpu_crit: float | None
    memory_warn: float | None
    memory_crit: float | None
    restarted_window: float
    start: tuple[str, ...] | None
    start_cwd: str | None
    start_log: str | None
    interval: float | None
    action_timeout: float


def parse(table: Table) -> ProcessConfig:
    raw = table.text("pattern", what="a regular expression searched in the full command line")
    try:
        pattern = re.compile(raw)
    except re.error as exc:
        raise table.error("pattern", f"not a regular expression ({exc}): {raw!r}") from None
    table.check(bool(raw.strip()), "pattern", "is empty: it would match every process")
    cpu_warn, cpu_crit = table.thresholds("cpu")
    memory_warn, memory_crit = table.thresholds("memory_mb")
    start = table.argv("start", None)
    config = ProcessConfig(
        name=table.name(),
        pattern=pattern,
        user=table.text("user", None),
        min=table.integer("min", 1, minimum=0),
        max=table.integer("max", None, minimum=1),
        cpu_warn=cpu_warn, cpu_crit=cpu_crit,
        memory_warn=memory_warn, memory_crit=memory_crit,
        restarted_window=table.duration("restarted_window", 600.0),
        start=tuple(start) if start else None,
        start_cwd=table.text("start_cwd", None),
        start_log=table.text("start_log", None),
        interval=table.duration("interval", None),
        action_timeout=table.duration("action_timeout", 15.0),
    )
    table.check(config.max is None or config.max >= config.min, "max",
                f"is less than min ({config.min})")
    for key in ("start_cwd", "start_log"):
        value = getattr(config, key)
        table.check(value is None or value.startswith("/"), key,
                    f"expected an absolute path, got {value!r}")
    table.check(config.start is not None or (config.start_cwd is None and config.start_log is None),
                "start", "is needed with start_cwd or start_log")
    table.done()
    return config


def validate(entries: list[ProcessConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("process", [entry.name for entry in entries])
