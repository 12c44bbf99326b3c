"""The headless runner's checks: `check` and `status` without a screen.

Nothing here imports Textual; backends are imported only for sections the config uses (and
only those `--only` selects). Both drive a Session, as the TUI does.
Actions and the audit log live in console.headless_actions, loaded only when asked for.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import time

from console import report
from console.config import Config
from console.core.model import CheckResult, Status
from console.core.targets import matches
from console.session import Session

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


def _deadline(config: Config, timeout: float | None) -> float:
    return timeout if timeout is not None else config.console.deadline


def run_check(config: Config, *, fmt: str, only: list[str], timeout: float | None) -> int:
    """`--headless check`: monitoring-plugins output; the exit code is the worst status.

    Services' rollups come first; `--only service:NAME` polls that service's members.
    """
    started = time.monotonic()
    wanted, patterns = _expand_services(config, only)
    if wanted is None:
        names = ", ".join(s.name for s in config.services) or "none configured"
        print(f"OPSCONSOLE UNKNOWN - no [[service]] matches {' '.join(only)} (services: {names})")
        return int(Status.UNKNOWN)
    session = Session(config, only=patterns or None)
    if patterns and not session.backends and not wanted:
        print(f"OPSCONSOLE UNKNOWN - no configured target matches {' '.join(only)}")
        return int(Status.UNKNOWN)
    results = asyncio.run(session.poll_all_once(_deadline(config, timeout)))
    checks = [c for r in results for c in r.checks]
    if patterns:
        checks = [c for c in checks if matches(c.target, patterns)] or (
            [] if wanted else [CheckResult(" ".join(only), Status.UNKNOWN,
                                           "no check answered for this target")])
    services = [s.check() for s in session.services if not only or s.name in wanted]
    if fmt == "json":
        print(report.check_json(checks, time.monotonic() - started, services))
    else:
        print(report.check_text(checks, services))
    return int(report.overall([*services, *checks]))


def _expand_services(config: Config, only: list[str]) -> tuple[set[str] | None, list[str]]:
    """(services `--only` names, the target patterns to poll); None when a named service
    does not exist. `service:NAME` (or a glob) selects the service and its members."""
    wanted: set[str] = set()
    patterns: list[str] = []
    for item in only:
        kind, _, name = item.partition(":")
        if kind != "service":
            patterns.append(item)
            continue
        chosen = [s for s in config.services if fnmatch.fnmatchcase(s.name, name or "*")]
        if not chosen:
            return None, []
        for spec in chosen:
            wanted.add(spec.name)
            patterns.extend(m for m in spec.members if m not in patterns)
    return wanted, patterns


def run_status(config: Config, *, fmt: str) -> int:
    """`--headless status`: every target's state as read now, thresholds left aside."""
    session = Session(config)
    results = asyncio.run(session.poll_all_once(config.console.deadline))
    if fmt == "json":
        document = [{"backend": r.backend_id, "polled_at": r.polled_at, "error": r.error,
                     "targets": [c.target for c in r.checks],
                     "summaries": {c.label: c.summary for c in r.checks},
                     "snapshot": report.to_jsonable(r.snapshot)} for r in results]
        print(json.dumps(document, indent=2))
        return EXIT_OK
    for result in sorted(results, key=lambda r: r.backend_id):
        for check in result.checks:
            print(f"{check.label}: {check.summary}")
    return EXIT_OK
