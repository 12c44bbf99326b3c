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
from pathlib import Path

from console import report
from console.alerts import AlertRun
from console.config import Config
from console.core.model import CheckResult, Status
from console.core.scrub import scrub_text
from console.core.targets import matches
from console.output import emit
from console.session import Session

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


def _deadline(config: Config, timeout: float | None) -> float:
    return timeout if timeout is not None else config.console.deadline


def run_check(config: Config, *, fmt: str, only: list[str], timeout: float | None,
              prometheus: str | None = None) -> int:
    """`--headless check`: monitoring-plugins output; the exit code is the worst status of
    the targets not silenced. Around the polls: heartbeat, notifications, textfile.

    Services' rollups come first; `--only service:NAME` polls that service's members.
    """
    started = time.monotonic()
    deadline = _deadline(config, timeout)
    wanted, patterns = _expand_services(config, only)
    if wanted is None:
        names = ", ".join(s.name for s in config.services) or "none configured"
        emit(f"OPSCONSOLE UNKNOWN - no [[service]] matches {' '.join(only)} (services: {names})")
        return int(Status.UNKNOWN)
    session = Session(config, only=patterns or None)
    session.show_details("")  # no view: each backend reads what its checks need, no more
    alerts = AlertRun(config, started + deadline, session.host, started)
    alerts.begin()
    if patterns and not session.backends and not wanted:
        emit(f"OPSCONSOLE UNKNOWN - no configured target matches {' '.join(only)}")
        return int(Status.UNKNOWN)
    left = max(0.5, deadline - (time.monotonic() - started))
    results = asyncio.run(session.poll_all_once(left))
    checks = [c for r in results for c in r.checks]
    if patterns:
        checks = [c for c in checks if matches(c.target, patterns)] or (
            [] if wanted else [CheckResult(" ".join(only), Status.UNKNOWN,
                                           "no check answered for this target")])
    services = [s.check() for s in session.services if not only or s.name in wanted]
    silenced = alerts.silenced(checks)
    status = report.overall([*services, *checks], silenced)
    text = report.check_text(checks, silenced, services)
    textfile = Path(prometheus).expanduser() if prometheus else config.console.prometheus
    alerts.finish(checks, silenced, status, text, textfile)
    notes = alerts.notes + ([f"HISTORY - {session.record_problem}"]
                            if session.record_problem else [])
    if fmt == "json":
        emit(report.check_json(checks, time.monotonic() - started, silenced,
                               {"notifications": alerts.report.as_dict(), "notes": notes},
                               services))
    else:
        emit("\n".join([text, *notes]))
    return int(status)


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
        emit(json.dumps(report.to_jsonable(document), indent=2))
        return EXIT_OK
    lines = [scrub_text(f"{check.status.name:<8} {check.label}: {check.summary}")
             for result in sorted(results, key=lambda r: r.backend_id) for check in result.checks]
    emit("\n".join(lines))
    return EXIT_OK
