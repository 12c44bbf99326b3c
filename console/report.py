"""Headless output: monitoring-plugins text and JSON for check results and states.

Every string printed passes `scrub_text` here as well as in the poller, so a result built
anywhere (a deadline's UNKNOWN, a target from the command line) is printable too.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections import Counter
from pathlib import Path
from typing import Any

from console.core.model import CheckResult, Status, worst
from console.core.scrub import scrub_text


def overall(checks: list[CheckResult], silenced: dict[str, str] | None = None) -> Status:
    """The worst status of the checks whose target is not silenced."""
    quiet = silenced or {}
    return worst([c.status for c in checks if c.target not in quiet])


def counts(checks: list[CheckResult]) -> dict[str, int]:
    tally = Counter(c.status for c in checks)
    return {s.name.lower(): tally.get(s, 0) for s in Status}


def sort_worst_first(checks: list[CheckResult]) -> list[CheckResult]:
    return sorted(checks, key=lambda c: (-c.status.severity, c.target, c.check))


def check_text(checks: list[CheckResult], silenced: dict[str, str] | None = None,
               services: list[CheckResult] | None = None) -> str:
    """`OPSCONSOLE <STATUS> - 3 ok, ... | perfdata`, then one line per service rollup (worst
    first, with its cause), then one line per check.

    A silenced target (target -> who, why, until) counts apart and its lines come last.
    """
    quiet = silenced or {}
    services = services or []
    loud = [c for c in checks if c.target not in quiet]
    status = overall([*services, *checks], quiet)
    tally = counts([*services, *loud])
    summary = (f"{tally['ok']} ok, {tally['warning']} warning, {tally['critical']} critical, "
               f"{tally['unknown']} unknown")
    muted = len(checks) - len(loud)
    if muted:
        summary += f", {muted} silenced"
    perf = " ".join(_unique_labels(checks))
    lines = [f"OPSCONSOLE {status.name} - {summary}" + (f" | {perf}" if perf else "")]
    for check in sort_worst_first(services) + sort_worst_first(loud):
        lines.append(scrub_text(f"{check.status.name} {check.label} - {check.summary}"))
    for check in sort_worst_first([c for c in checks if c.target in quiet]):
        lines.append(scrub_text(f"SILENCED {check.status.name} {check.label} - {check.summary} "
                                f"[{quiet[check.target]}]"))
    return "\n".join(lines)


def check_json(checks: list[CheckResult], duration: float,
               silenced: dict[str, str] | None = None,
               extra: dict[str, Any] | None = None,
               services: list[CheckResult] | None = None) -> str:
    quiet = silenced or {}
    services = services or []
    status = overall([*services, *checks], quiet)
    document = {
        "status": status.name,
        "exit_code": int(status),
        "counts": counts([*services, *(c for c in checks if c.target not in quiet)]),
        "duration": round(duration, 3),
        "services": [check_dict(s) for s in sort_worst_first(services)],
        "checks": [check_dict(c) | {"silenced": quiet.get(c.target)}
                   for c in sort_worst_first(checks)],
        **(extra or {}),
    }
    return json.dumps(document, indent=2)


def check_dict(check: CheckResult) -> dict[str, Any]:
    return {
        "target": scrub_text(check.target),
        "check": scrub_text(check.check),
        "status": check.status.name,
        "summary": scrub_text(check.summary),
        "details": scrub_text(check.details),
        "perfdata": [to_jsonable(dataclasses.asdict(p) | {"text": p.render()})
                     for p in check.perfdata],
    }


def to_jsonable(value: Any) -> Any:
    """Snapshots are dataclasses of plain values; make them JSON (every string printable)."""
    if isinstance(value, str):
        return scrub_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dict):
        return {scrub_text(str(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "backslashreplace"))
    if isinstance(value, Path):
        return scrub_text(str(value))
    return value


def _unique_labels(checks: list[CheckResult]) -> list[str]:
    """Every perfdata item once on the summary line; a label two checks share (a plugin's
    `'/'`, say) is prefixed with its target's name so graphs do not mix them up."""
    ordered = sorted(checks, key=lambda c: c.key)
    counts = Counter(p.label for c in ordered for p in c.perfdata)
    rendered = []
    for check in ordered:
        for perf in check.perfdata:
            if counts[perf.label] > 1:
                name = check.target.split(":", 1)[-1]
                perf = dataclasses.replace(perf, label=f"{name}_{perf.label}")
            rendered.append(perf.render())
    return rendered
