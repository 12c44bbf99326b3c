"""Probe: cron jobs in the system's crontabs, and whether a cron daemon runs.

Reads /etc/crontab, /etc/cron.d and the user crontabs under /var/spool/cron/crontabs (those
it may read) with the cron backend's parser; finds something when there is at least one job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

from backends.cron.tabs import DEFAULT_CRONTABS, CronJob, expand, read_file
from backends.discovery.model import Finding, ProbeResult

PIDFILES = ("/run/crond.pid", "/var/run/crond.pid", "/run/cron.pid")


def where() -> str:
    return "crontabs"


def _read(crontabs: Sequence[str]) -> tuple[list[CronJob], bool]:
    jobs: list[CronJob] = []
    for path in expand(tuple(crontabs)):
        jobs += read_file(path)[0]
    return jobs, _daemon_runs()


def _daemon_runs() -> bool:
    """Whether the pid file cron writes names a live cron (cheaper than listing processes)."""
    for pidfile in PIDFILES:
        try:
            pid = int(Path(pidfile).read_text().split()[0])
            if Path(f"/proc/{pid}/comm").read_text().strip() in ("cron", "crond"):
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


async def probe(timeout: float, earlier: Sequence[ProbeResult] = (),
                crontabs: Sequence[str] = DEFAULT_CRONTABS) -> ProbeResult:
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            jobs, daemon = await asyncio.to_thread(_read, crontabs)
    except TimeoutError:
        return ProbeResult("cron", where(), missing=f"reading crontabs took over {timeout:g}s",
                           elapsed=time.monotonic() - started)
    if not jobs:
        return ProbeResult("cron", where(), missing=f"no job in {', '.join(crontabs)}",
                           elapsed=time.monotonic() - started)
    shown = ", ".join(f"{j.name} ({j.schedule})" for j in jobs[:4])
    more = f" and {len(jobs) - 4} more" if len(jobs) > 4 else ""
    summary = (f"{len(jobs)} jobs: {shown}{more}"
               + ("" if daemon else "; no cron daemon runs"))
    table: dict[str, object] = {}
    if tuple(crontabs) != DEFAULT_CRONTABS:
        table["crontabs"] = list(crontabs)
    return ProbeResult("cron", where(), (Finding("cron", table, summary),), summary,
                       elapsed=time.monotonic() - started)
