"""A service's rollup: worst of its members and indicators, with the cause across layers.

Pure: it reads the facts gathered from the board and returns plain data, so the TUI, the
headless check and the tests share it. The cause is one line: when an unwell member (a queue,
an endpoint, a Celery app, a deploy) has a related member that is unwell too, the line names
both ("queue crawl/auto_record growing since 03:10 (depth 420) because its consumer
unit:crawl-scheduler.service is inactive (dead): not running"); otherwise it is the worst
member's or indicator's own summary.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from console.core.durations import clock
from console.core.model import CheckResult, Status, worst
from console.services.facts import TargetFacts
from console.services.indicators import evaluate
from console.services.relations import Link, links
from console.services.spec import ServiceSpec


@dataclass(frozen=True)
class Line:
    """One member or indicator of a service, with its status and what it says."""

    label: str  # the target, or the indicator's text
    target: str  # the `KIND:NAME` to jump to
    status: Status
    text: str
    note: str = ""  # a relation it takes part in


@dataclass(frozen=True)
class ServiceState:
    """A service as the board shows it now."""

    spec: ServiceSpec
    status: Status
    cause: str
    members: tuple[Line, ...]
    indicators: tuple[Line, ...]
    links: tuple[Link, ...] = ()
    not_watched: tuple[str, ...] = ()  # member globs of kinds nothing watches yet

    @property
    def name(self) -> str:
        return self.spec.name

    def details(self) -> str:
        out = [self.spec.description] if self.spec.description else []
        out += ["members:"] + [f"  {m.status.name} {m.label}: {m.text}"
                               + (f" [{m.note}]" if m.note else "") for m in self.members]
        if self.indicators:
            out += ["indicators:"] + [f"  {i.status.name} {i.label}: {i.text}"
                                      for i in self.indicators]
        if self.links:
            out += ["relations:"] + [f"  {link.text()}" for link in self.links]
        if self.not_watched:
            out.append("not watched yet (no section offers these): "
                       + ", ".join(self.not_watched))
        return "\n".join(out)

    def check(self) -> CheckResult:
        """The rollup as a check on `service:NAME`, for headless output."""
        return CheckResult(self.spec.target, self.status, self.cause, details=self.details())


def _member_targets(spec: ServiceSpec, facts: Mapping[str, TargetFacts]
                    ) -> tuple[list[str], list[str]]:
    """(targets on the board that the member globs select, globs that select none)."""
    found: list[str] = []
    empty: list[str] = []
    for pattern in spec.members:
        hits = sorted(t for t in facts if fnmatch.fnmatchcase(t, pattern) or t == pattern)
        if hits:
            found.extend(h for h in hits if h not in found)
        else:
            empty.append(pattern)
    return found, empty


def _symptom(facts: TargetFacts) -> str:
    part = facts.part
    trend = getattr(part, "trend", None)
    if facts.target.startswith("queue:") and trend is not None and trend.growing_since:
        return (f"{facts.target} growing since {clock(trend.growing_since)} "
                f"(depth {part.depth:,})")
    return f"{facts.target} {facts.summary}"


def _growing(facts: TargetFacts) -> bool:
    """A queue whose depth is rising: a symptom even before its thresholds say so."""
    trend = getattr(facts.part, "trend", None)
    return trend is not None and trend.growing_since is not None


def _other(other: str, facts: Mapping[str, TargetFacts]) -> tuple[Status, str] | None:
    if other in facts:
        return facts[other].status, facts[other].summary
    owned = [f for f in facts.values() if getattr(f.backend, "id", None) == other]
    if owned:
        problem = next((f.problem for f in owned if f.problem), None)
        return (worst([f.status for f in owned]), problem) if problem else (Status.OK, "up")
    return None


def evaluate_service(spec: ServiceSpec, facts: Mapping[str, TargetFacts], *,
                     watched_kinds: Iterable[str], now: float | None = None) -> ServiceState:
    """The rollup of one service from the board's facts.

    `watched_kinds` are the target kinds some section offers; a member glob of another kind
    (processes before a section watches them) is listed, not counted.
    """
    now = time.time() if now is None else now
    kinds = set(watched_kinds)
    targets, empty = _member_targets(spec, facts)
    related = links(spec, targets, facts)
    notes: dict[str, list[str]] = {}
    for link in related:
        notes.setdefault(link.other, []).append(f"{link.role} of {link.subject}")
    members = [Line(t, t, facts[t].status, facts[t].summary, "; ".join(notes.get(t, [])))
               for t in targets]
    not_watched: list[str] = []
    for pattern in empty:
        if pattern.split(":", 1)[0] in kinds:
            members.append(Line(pattern, pattern, Status.UNKNOWN, "matches no watched target"))
        else:
            not_watched.append(pattern)
    indicators: list[Line] = []
    failing: dict[str, list[str]] = {}
    for indicator in spec.indicators:
        outcome = evaluate(indicator, facts.get(indicator.target), now)
        indicators.append(Line(indicator.text, indicator.target, outcome.status, outcome.seen))
        if outcome.status is not Status.OK:
            failing.setdefault(indicator.target, []).append(f"{indicator.text}: {outcome.seen}")
    everything = [*members, *indicators]
    status = worst([line.status for line in everything]) if everything else Status.UNKNOWN
    cause = _cause(related, facts, failing, everything, status)
    return ServiceState(spec, status, cause, tuple(members), tuple(indicators),
                        tuple(related), tuple(not_watched))


def _cause(related: list[Link], facts: Mapping[str, TargetFacts],
           failing: Mapping[str, list[str]], everything: list[Line], status: Status) -> str:
    if not everything:
        return "no member is watched yet"
    if status is Status.OK:
        ok = sum(1 for line in everything if line.status is Status.OK)
        return f"all {ok} members and indicators OK"
    best: tuple[int, str] | None = None
    for link in related:
        subject = facts.get(link.subject)
        other = _other(link.other, facts)
        if subject is None or other is None or other[0] is Status.OK:
            continue
        if subject.status is Status.OK and link.subject not in failing \
                and not _growing(subject):
            symptom_severity = 0
        else:
            symptom_severity = max(subject.status.severity, Status.WARNING.severity)
        if symptom_severity == 0:
            text = (f"{link.other} {other[1]} ({_role_of(link)} {link.subject}, which looks "
                    "fine so far)")
        else:
            symptom = _symptom(subject)
            if subject.status is Status.OK and link.subject in failing:
                symptom = f"{link.subject} {failing[link.subject][0]}"
            text = f"{symptom} because its {link.role} {link.other} is {other[1]}"
        rank = max(symptom_severity, other[0].severity) * 2 + (1 if symptom_severity else 0)
        if best is None or rank > best[0]:
            best = (rank, text)
    if best is not None and best[0] // 2 >= status.severity:
        return best[1]
    line = max(everything, key=lambda item: item.status.severity)
    return f"{line.label}: {line.text}"


def _role_of(link: Link) -> str:
    return {"consumer": "consumer of", "served by": "serving", "broker": "broker of",
            "unit": "unit of"}.get(link.role, link.role)
