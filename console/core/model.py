"""Plain data shared by every layer: statuses, perfdata and check results."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum


class Status(IntEnum):
    """Monitoring-plugins states; the int value is the exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        """Rank for "worst first": CRITICAL > UNKNOWN > WARNING > OK."""
        return _SEVERITY[self]

    @property
    def short(self) -> str:
        return _SHORT[self]


_SEVERITY = {Status.OK: 0, Status.WARNING: 1, Status.UNKNOWN: 2, Status.CRITICAL: 3}
_SHORT = {Status.OK: "OK", Status.WARNING: "WARN", Status.CRITICAL: "CRIT", Status.UNKNOWN: "UNKN"}


def worst(statuses: list[Status] | tuple[Status, ...]) -> Status:
    """The most severe status of a collection; OK when it is empty."""
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


def by_thresholds(value: float, warn: float | None, crit: float | None,
                  *, below: bool = False) -> Status:
    """Status of a value against warn/crit thresholds (above them, or below with `below`)."""
    def breaches(limit: float | None) -> bool:
        if limit is None:
            return False
        return value < limit if below else value >= limit

    if breaches(crit):
        return Status.CRITICAL
    if breaches(warn):
        return Status.WARNING
    return Status.OK


@dataclass(frozen=True)
class Perf:
    """One perfdata item: 'label'=value[UOM];warn;crit;min;max."""

    label: str
    value: float
    uom: str = ""
    warn: float | None = None
    crit: float | None = None
    min: float | None = None
    max: float | None = None

    def render(self) -> str:
        label = self.label.replace("'", "_")
        fields = [_number(self.value) + self.uom]
        fields += ["" if v is None else _number(v) for v in (self.warn, self.crit, self.min, self.max)]
        return f"'{label}'=" + ";".join(fields).rstrip(";")


def _number(value: float) -> str:
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)):
        return str(int(value))
    return f"{value:.6g}"


@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check on one target, as shown on the overview and printed headless.

    `target` is the `KIND:NAME` of the command line; `check` names the aspect when one
    target has several (a host's "disk /" and "memory"), else it is empty.
    """

    target: str
    status: Status
    summary: str
    check: str = ""
    perfdata: tuple[Perf, ...] = ()
    details: str = ""

    @property
    def kind(self) -> str:
        return self.target.split(":", 1)[0]

    @property
    def key(self) -> str:
        return f"{self.target} {self.check}".strip()

    @property
    def label(self) -> str:
        """Target and aspect as one line: `host:web1 disk /`."""
        return self.key


@dataclass(frozen=True)
class PollResult:
    """What one poll of one backend produced, for the TUI and the headless runner alike."""

    backend_id: str
    kind: str
    polled_at: float
    duration: float
    checks: tuple[CheckResult, ...]
    snapshot: object | None = None
    error: str | None = None
    unreachable_since: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
