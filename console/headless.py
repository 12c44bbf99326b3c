"""The headless runner's checks: `check` and `status` without a screen.

Nothing here imports Textual; backends are imported only for sections the config uses (and
only those `--only` selects). Both drive a Session, as the TUI does.
Actions and the audit log live in console.headless_actions, loaded only when asked for.
"""

from __future__ import annotations

import asyncio
import json
import time

from console import report
from console.config import Config
from console.core.model import CheckResult, Status
from console.core.scrub import scrub_text
from console.core.targets import matches
from console.session import Session

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


def _deadline(config: Config, timeout: float | None) -> float:
    return timeout if timeout is not None else config.console.deadline


def run_check(config: Config, *, fmt: str, only: list[str], timeout: float | None) -> int:
    """`--headless check`: monitoring-plugins output; the exit code is the worst status."""
    started = time.monotonic()
    session = Session(config, only=only or None)
    if only and not session.backends:
        print(f"OPSCONSOLE UNKNOWN - no configured target matches {' '.join(only)}")
        return int(Status.UNKNOWN)
    results = asyncio.run(session.poll_all_once(_deadline(config, timeout)))
    checks = [c for r in results for c in r.checks]
    if only:
        checks = [c for c in checks if matches(c.target, only)] or [
            CheckResult(" ".join(only), Status.UNKNOWN, "no check answered for this target")]
    if fmt == "json":
        print(report.check_json(checks, time.monotonic() - started))
    else:
        print(report.check_text(checks))
    return int(report.overall(checks))


def run_status(config: Config, *, fmt: str) -> int:
    """`--headless status`: every target's state as read now, thresholds left aside."""
    session = Session(config)
    results = asyncio.run(session.poll_all_once(config.console.deadline))
    if fmt == "json":
        document = [{"backend": r.backend_id, "polled_at": r.polled_at, "error": r.error,
                     "targets": [c.target for c in r.checks],
                     "summaries": {c.label: c.summary for c in r.checks},
                     "snapshot": report.to_jsonable(r.snapshot)} for r in results]
        print(json.dumps(report.to_jsonable(document), indent=2))
        return EXIT_OK
    for result in sorted(results, key=lambda r: r.backend_id):
        for check in result.checks:
            print(scrub_text(f"{check.label}: {check.summary}"))
    return EXIT_OK
