"""What the board knows of one target, gathered for services: checks, typed data, problem.

Services read snapshots by shape, not by class, so this module imports no backend: a Redis
snapshot answers `family(name)`, a systemd snapshot `unit(name)`; other kinds' snapshots
describe their one target as a whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from console.core.model import CheckResult, PollResult, Status, worst


@dataclass(frozen=True)
class TargetFacts:
    """One target as last polled."""

    target: str
    checks: tuple[CheckResult, ...]
    part: Any = None  # the snapshot's piece for this target (a queue family, a unit...)
    backend: Any = None
    problem: str | None = None  # "waiting for the first poll", "unreachable since ...: why"
    polled_at: float | None = None

    @property
    def status(self) -> Status:
        if not self.checks:
            return Status.UNKNOWN
        return worst([c.status for c in self.checks])

    @property
    def summary(self) -> str:
        """The worst check's summary (the aspect named when a target has several)."""
        if not self.checks:
            return self.problem or "no check answered"
        check = max(self.checks, key=lambda c: c.status.severity)
        return f"{check.check}: {check.summary}" if check.check else check.summary

    def perf(self, label: str) -> float | None:
        for check in self.checks:
            for perf in check.perfdata:
                if perf.label == label:
                    return perf.value
        return None

    def perf_labels(self) -> list[str]:
        return sorted({p.label for c in self.checks for p in c.perfdata})


def part_of(target: str, snapshot: Any) -> Any:
    """The piece of a backend's snapshot that describes one target."""
    if snapshot is None:
        return None
    kind, _, name = target.partition(":")
    if kind == "queue" and hasattr(snapshot, "family"):
        return snapshot.family(name.split("/", 1)[-1])
    if kind == "unit" and hasattr(snapshot, "unit"):
        return snapshot.unit(name)
    return snapshot


def gather(entries: Iterable[tuple[Any, PollResult | None, str | None]]) -> dict[str, TargetFacts]:
    """Facts for every target on the board: (backend, its last result, its problem) each."""
    found: dict[str, TargetFacts] = {}
    for backend, result, problem in entries:
        if result is None:
            for target in backend.targets():
                found.setdefault(target, TargetFacts(target, (), None, backend,
                                                     problem or "waiting for the first poll"))
            continue
        by_target: dict[str, list[CheckResult]] = {}
        for check in result.checks:
            by_target.setdefault(check.target, []).append(check)
        why = None
        if result.error:
            why = result.checks[0].summary if result.checks else f"unreachable: {result.error}"
        for target, checks in by_target.items():
            found[target] = TargetFacts(target, tuple(checks), part_of(target, result.snapshot),
                                        backend, why, result.polled_at)
    return found
