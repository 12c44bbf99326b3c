"""The `[[cron]]` config entry: which crontabs, where cron's record is, how late is missed.

    [[cron]]
    # name = "cron"                     this entry's name; `cron:NAME` is the daemon check
    # crontabs = ["/etc/crontab", "/etc/cron.d/*", "/var/spool/cron/crontabs/*"]   (default)
    # journal_dir = "/var/log/journal"  read CRON lines from here (journalctl --directory)
    # grace = "5m"                      a run later than its scheduled time plus this is missed
    # history = "2d"                    how far back the journal is read for last runs
    # daemon = true                     CRITICAL when no cron daemon runs
    # action_timeout = "10m"            how long "run now" waits for the job
    [[cron.jobs]]                       # optional: give a job a name, its own grace
    name = "nightly-dump"
    match = "pg_dump"                   # a regular expression searched in the command
    # grace = "1h"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import unique_names
from backends.cron.tabs import DEFAULT_CRONTABS
from console.core.configtable import Table


@dataclass(frozen=True)
class NamedJob:
    name: str
    match: re.Pattern[str]
    grace: float | None


@dataclass(frozen=True)
class CronConfig:
    name: str
    crontabs: tuple[str, ...]
    journal_dir: Path | None
    grace: float
    history: float
    daemon: bool
    jobs: tuple[NamedJob, ...]
    interval: float | None
    timeout: float
    action_timeout: float


def _job(table: Table) -> NamedJob:
    raw = table.text("match", what="a regular expression searched in the job's command")
    try:
        pattern = re.compile(raw)
    except re.error as exc:
        raise table.error("match", f"not a regular expression ({exc}): {raw!r}") from None
    job = NamedJob(table.name(), pattern, table.duration("grace", None))
    table.done()
    return job


def parse(table: Table) -> CronConfig:
    crontabs = table.str_list("crontabs", list(DEFAULT_CRONTABS))
    for path in crontabs:
        table.check(path.startswith("/"), "crontabs", f"expected absolute paths, got {path!r}")
    journal_dir = table.text("journal_dir", None, what="the path of a journal directory")
    table.check(journal_dir is None or journal_dir.startswith("/"), "journal_dir",
                f"expected an absolute path, got {journal_dir!r}")
    config = CronConfig(
        name=table.name("name", "cron"),
        crontabs=tuple(crontabs),
        journal_dir=Path(journal_dir) if journal_dir else None,
        grace=table.duration("grace", 300.0),
        history=table.duration("history", 2 * 86400.0),
        daemon=table.flag("daemon", True),
        jobs=tuple(table.each("jobs", _job)),
        interval=table.duration("interval", None),
        timeout=table.duration("timeout", 10.0),
        action_timeout=table.duration("action_timeout", 600.0),
    )
    table.check(bool(config.crontabs), "crontabs", "needs at least one file or glob")
    table.check(config.timeout > 0, "timeout", "must be more than 0")
    for job in config.jobs:
        table.check(":" not in job.name and job.name != config.name, "jobs",
                    f"job name {job.name!r} must differ from the entry's name")
    table.done()
    return config


def validate(entries: list[CronConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("cron", [entry.name for entry in entries])
