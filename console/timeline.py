"""The incident timeline: what happened, in order, across every source.

Merges by time, within a window: the status transitions every run recorded (so it reaches
back before this console was opened), each backend's own record of its systems' events
(`Backend.timeline_events`: journal, Docker events, Celery's failed tasks), and the actions
of the audit log (who, what, outcome). Every source is bounded by the window, an item cap
and a timeout; one that fails or is cut is named in `problems`, never silently missing.
Everything a system said is made printable and masked with the config's redactor here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from backends.base import Backend
from console.core.audit import AuditLog, AuditRecord
from console.core.errors import one_line
from console.core.loglines import printable
from console.core.model import Status, worst
from console.core.targets import matches
from console.core.timeline import ACTION, EVENT_LIMIT, STATUS, TimelineEvent
from console.transitions import Transition, TransitionLog

TRANSITION_LIMIT = 5000
AUDIT_LIMIT = 2000
_OUTCOME_STATUS = {"finished": Status.OK, "failed": Status.CRITICAL, "refused": Status.WARNING,
                   "started": None}


@dataclass(frozen=True)
class Timeline:
    """The merged events of a window, the sources that failed, and the states at its end."""

    since: float
    until: float
    events: tuple[TimelineEvent, ...]
    problems: tuple[tuple[str, str], ...]  # (source, why it is missing or incomplete)
    states: tuple[Transition, ...]  # each target's status at the end of the window

    def first_failure(self) -> TimelineEvent | None:
        """The earliest transition to a status other than OK in the window."""
        return next((e for e in self.events if e.kind == STATUS and e.status is not None
                     and e.status is not Status.OK), None)

    def worst(self) -> Status:
        return worst([e.status for e in self.events
                      if e.kind == STATUS and e.status is not None])

    def affected(self) -> list[str]:
        """Targets that were not OK at some point of the window, in order of first failure."""
        seen: dict[str, None] = {}
        for event in self.events:
            if event.kind == STATUS and event.status not in (None, Status.OK):
                seen.setdefault(event.target)
        return list(seen)

    def actions(self) -> list[TimelineEvent]:
        return [e for e in self.events if e.kind == ACTION]


def transition_event(change: Transition) -> TimelineEvent:
    before = change.before.name if change.before is not None else "first seen"
    return TimelineEvent(change.ts, change.target, STATUS, f"{before} -> {change.after.name}",
                         change.summary, change.after, source="transitions")


def action_events(records: Sequence[AuditRecord]) -> list[TimelineEvent]:
    """One entry per action, at the time it started, with how it ended (finished, failed,
    refused), or "started" while no end was written (still running, or the console died)."""
    starts = {r.action_id: r.ts for r in records if r.phase == "started"}
    ended = {r.action_id for r in records if r.phase != "started"}
    found = []
    for record in records:
        if record.phase == "started" and record.action_id in ended:
            continue
        outcome = record.error or record.outcome or record.phase
        text = f"{record.verb} by {record.who}: {record.phase}"
        if outcome and outcome != record.phase:
            text += f" ({outcome})"
        found.append(TimelineEvent(starts.get(record.action_id, record.ts), record.target,
                                   ACTION, record.verb, text, _OUTCOME_STATUS.get(record.phase),
                                   who=record.who, source="audit log"))
    return found


async def _backend_events(backend: Backend[Any], since: float, until: float,
                          limit: int) -> tuple[list[TimelineEvent], str | None]:
    try:
        async with asyncio.timeout(backend.timeout):
            found = await backend.timeline_events(since, until, limit)
    except TimeoutError:
        return [], f"no answer within {backend.timeout:g}s"
    except Exception as exc:  # a source that fails is named, the others still shown
        return [], one_line(exc, limit=200)
    if len(found) >= limit:
        return found, f"more than {limit} events: only the newest {limit} are shown"
    return found, None


async def gather(backends: Sequence[Backend[Any]], state_dir: Path, since: float,
                 until: float, *, only: Sequence[str] = (),
                 redactor: Callable[[str], str] = str, limit: int = EVENT_LIMIT) -> Timeline:
    """Read every source for the window at once and merge them by time."""
    def local() -> tuple[list[Transition], list[AuditRecord], dict[str, Transition]]:
        log = TransitionLog(state_dir)
        records = [r for r in AuditLog(state_dir).records(since=since) if r.ts <= until]
        return (log.between(since, until, TRANSITION_LIMIT), records[-AUDIT_LIMIT:],
                log.states_at(until))

    problems: list[tuple[str, str]] = []
    # the backends are read while the state file is; a caller that gives up stops them too
    reading = asyncio.gather(*(_backend_events(b, since, until, limit) for b in backends))
    try:
        try:
            changes, records, states = await asyncio.to_thread(local)
        except (sqlite3.Error, OSError) as exc:
            changes, records, states = [], [], {}
            problems.append(("state db",
                             f"transitions and audit log unreadable: {one_line(exc)}"))
        answers = await reading
    finally:
        reading.cancel()
    events = [transition_event(c) for c in changes] + action_events(records)
    if len(changes) >= TRANSITION_LIMIT:
        problems.append(("transitions", f"only the newest {TRANSITION_LIMIT} are shown"))
    for backend, (found, problem) in zip(backends, answers, strict=True):
        events += found
        if problem:
            problems.append((backend.id, problem))
    if only:
        events = [e for e in events if matches(e.target, list(only))]
        states = {t: s for t, s in states.items() if matches(t, list(only))}
    events = [replace(e, target=redactor(printable(e.target, 200)),
                      summary=redactor(printable(e.summary, 400)), what=printable(e.what, 40),
                      who=printable(e.who, 80)) for e in events]
    events.sort(key=lambda e: (e.ts, e.kind != STATUS))
    masked = tuple(replace(s, summary=redactor(printable(s.summary, 400)))
                   for s in states.values())
    return Timeline(since, until, tuple(events),
                    tuple((name, redactor(reason)) for name, reason in problems), masked)


def select(events: Sequence[TimelineEvent], *, kinds: Sequence[str] = (),
           statuses: Sequence[Status] = (), text: str = "") -> list[TimelineEvent]:
    """The events of some kinds, statuses and containing `text` (in target or summary)."""
    needle = text.lower()
    return [e for e in events
            if (not kinds or e.kind in kinds) and (not statuses or e.status in statuses)
            and (not needle or needle in f"{e.target} {e.what} {e.summary}".lower())]
