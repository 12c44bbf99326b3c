"""A timeline as text, JSON, or a markdown post-mortem draft.

The draft holds a summary (first failure, worst status, duration, targets affected), the
merged timeline as a table, the actions taken with their operators and outcomes, and every
target's state at the end of the window. The timeline arrives masked (console.timeline).
"""

from __future__ import annotations

import json
import time

from console.core.durations import format_span
from console.core.model import Status
from console.core.timeline import TimelineEvent
from console.timeline import Timeline


def stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def duration(timeline: Timeline) -> str:
    """From the first failure to the last recovery, or "ongoing" when a target affected in
    the window is still not OK at its end."""
    first = timeline.first_failure()
    if first is None:
        return "no failure in the window"
    affected = set(timeline.affected())
    open_ = [s.target for s in timeline.states if s.target in affected
             and s.after is not Status.OK]
    if open_:
        return (f"{format_span(timeline.until - first.ts)} and ongoing at the end of the window "
                f"({', '.join(sorted(open_))} not OK)")
    recovered = max(e.ts for e in timeline.events if e.target in affected
                    and e.kind == "status" and e.status is Status.OK and e.ts >= first.ts)
    return f"{format_span(recovered - first.ts)} (recovered at {stamp(recovered)})"


def summary_lines(timeline: Timeline) -> list[str]:
    first = timeline.first_failure()
    lines = [f"Window: {stamp(timeline.since)} to {stamp(timeline.until)}, "
             f"{len(timeline.events)} events"]
    if first is None:
        lines.append("First failure: none (no target left OK in the window)")
    else:
        lines.append(f"First failure: {stamp(first.ts)} {first.target} {first.what}: "
                     f"{first.summary}")
    lines.append(f"Worst status: {timeline.worst().name}")
    lines.append(f"Duration: {duration(timeline)}")
    lines.append(f"Targets affected: {', '.join(timeline.affected()) or 'none'}")
    return lines


def _event_line(event: TimelineEvent) -> str:
    status = event.status.short if event.status is not None else "-"
    return (f"{stamp(event.ts)}  {status:<4}  {event.kind:<6}  {event.target}  {event.what}: "
            f"{event.summary}")


def as_text(timeline: Timeline) -> str:
    head, *rest = summary_lines(timeline)
    lines = [f"TIMELINE - {head}", *(f"  {line}" for line in rest)]
    lines += [f"MISSING {source} - {reason}" for source, reason in timeline.problems]
    lines += [_event_line(e) for e in timeline.events]
    if not timeline.events:
        lines.append("nothing happened in the window")
    return "\n".join(lines)


def as_json(timeline: Timeline) -> str:
    first = timeline.first_failure()
    document = {
        "since": timeline.since, "until": timeline.until,
        "summary": {"first_failure": first.as_dict() if first else None,
                    "worst": timeline.worst().name, "duration": duration(timeline),
                    "targets_affected": timeline.affected()},
        "events": [e.as_dict() for e in timeline.events],
        "problems": [{"source": s, "reason": r} for s, r in timeline.problems],
        "states": [{"target": s.target, "status": s.after.name, "since": s.ts,
                    "summary": s.summary} for s in timeline.states],
    }
    return json.dumps(document, indent=2)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def as_markdown(timeline: Timeline, host: str) -> str:
    """The post-mortem draft."""
    out = [f"# Incident on {_cell(host)}: {stamp(timeline.since)} to {stamp(timeline.until)}",
           "", "## Summary", ""]
    out += [f"- {_cell(line)}" for line in summary_lines(timeline)[1:]]
    if timeline.problems:
        out += ["", "Sources that could not be read (their events are missing below):", ""]
        out += [f"- {_cell(source)}: {_cell(reason)}" for source, reason in timeline.problems]
    out += ["", "## Timeline", "", "| time | target | kind | event | details |",
            "|---|---|---|---|---|"]
    for e in timeline.events:
        status = f" ({e.status.name})" if e.status is not None and e.kind != "status" else ""
        out.append(f"| {stamp(e.ts)} | {_cell(e.target)} | {e.kind} | {_cell(e.what)}{status} "
                   f"| {_cell(e.summary)} |")
    out += ["", "## Actions taken", ""]
    actions = timeline.actions()
    if actions:
        out += ["| time | operator | action | target | outcome |", "|---|---|---|---|---|"]
        out += [f"| {stamp(a.ts)} | {_cell(a.who)} | {_cell(a.what)} | {_cell(a.target)} | "
                f"{_cell(a.summary.removeprefix(f'{a.what} by {a.who}: '))} |" for a in actions]
    else:
        out.append("No action was taken through the console in the window.")
    out += ["", "## State at the end of the window", "", "| target | status | since | summary |",
            "|---|---|---|---|"]
    out += [f"| {_cell(s.target)} | {s.after.name} | {stamp(s.ts)} | {_cell(s.summary)} |"
            for s in timeline.states]
    out += ["", "## What happened, why, and what we change", "",
            "(to be written: the cause, what helped, what we do so it does not happen again)", ""]
    return "\n".join(out)
