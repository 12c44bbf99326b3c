"""`--headless timeline`: what happened, in order, as text, JSON or a post-mortem draft.

Reads, for the window, the recorded status transitions, the systems' own events (each
backend's `timeline_events`, bounded and timed out) and the audit log, without polling.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import datetime

from console.assembly import build_backends
from console.config import Config
from console.core.durations import parse_duration
from console.core.errors import ConfigError
from console.headless import EXIT_OK
from console.output import emit
from console.timeline import Timeline, gather
from console.timeline_report import as_json, as_markdown, as_text

DEFAULT_SINCE = "2h"


def moment(text: str, option: str, now: float) -> float:
    """A point in time from a duration before now (`2h`) or a local ISO date and time
    (`2026-11-30T03:10`, `2026-11-30 03:10:05`)."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ConfigError(f"{option} {text!r}: write a duration before now (30m, 2h, 1d) or "
                          f"a date and time such as 2026-11-30T03:10") from None


def run_timeline(config: Config, *, since: str | None, until: str | None, only: list[str],
                 fmt: str) -> int:
    now = time.time()
    start = moment(since or DEFAULT_SINCE, "--since", now)
    end = moment(until, "--until", now) if until else now
    if end <= start:
        raise ConfigError(f"--until must be later than --since (the window from {since} to "
                          f"{until} is empty)")
    backends = build_backends(config, only or None)

    async def read() -> Timeline:
        try:
            return await gather(backends, config.console.state_dir, start, end, only=only,
                                redactor=config.redactor)
        finally:
            for backend in backends:
                try:
                    async with asyncio.timeout(3):
                        await backend.close()
                except Exception:  # closing is best effort; the timeline is read
                    pass

    timeline = asyncio.run(read())
    if fmt == "json":
        emit(as_json(timeline))
    elif fmt == "markdown":
        emit(as_markdown(timeline, socket.gethostname().split(".")[0]))
    else:
        emit(as_text(timeline))
    return EXIT_OK
