"""What a timeline is made of: one dated event on one target, from any source.

Backends return these from `Backend.events(since, until, limit)` (their systems' own record:
the journal, Docker's events, Celery's failed tasks); the runtime adds the status transitions
and the audited actions and merges them by time.
"""

from __future__ import annotations

from dataclasses import dataclass

from console.core.model import Status

STATUS, EVENT, ACTION = "status", "event", "action"
KINDS = (STATUS, EVENT, ACTION)
EVENT_LIMIT = 500  # events one source may contribute to one timeline


@dataclass(frozen=True)
class TimelineEvent:
    """`kind` is status (a transition), event (the system's own record) or action (audit).

    `what` is a short word for the event (`die`, `stopped`, `task failed`, `restart`);
    `status` says how bad it is, when that is known (a transition's new status, a crash's
    CRITICAL); `who` names the operator of an action.
    """

    ts: float
    target: str
    kind: str
    what: str
    summary: str
    status: Status | None = None
    who: str = ""
    source: str = ""

    def as_dict(self) -> dict[str, object]:
        status = self.status.name if self.status is not None else None
        return {"ts": self.ts, "target": self.target, "kind": self.kind, "what": self.what,
                "summary": self.summary, "status": status, "who": self.who,
                "source": self.source}
