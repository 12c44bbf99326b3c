"""What the console knows right now: each backend's last result and every check on it.

Plain data, updated from poll results and read by the views; kept apart from the Textual app
so the ordering rules ("worst first, grouped by backend") are one small, testable thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from backends.base import Backend
from console.core.durations import clock
from console.core.model import CheckResult, PollResult, Status


@dataclass
class BackendView:
    """What the console knows of one backend: its last result and last problem."""

    backend: Backend
    result: PollResult | None = None
    last_problem: str | None = None


class CheckBoard:
    """Every backend's latest result and the checks it produced."""

    def __init__(self, backends: list[Backend]) -> None:
        self.views = {b.id: BackendView(b) for b in backends}
        self.last_poll: float | None = None
        self._checks: dict[str, tuple[CheckResult, float, str]] = {}  # key -> check, when, owner
        self._keys_of: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._checks)

    def update(self, result: PollResult) -> bool:
        """Take a poll result in; whether any check (or the backend's error) changed.

        False too for a backend the board does not know. An unchanged result is still kept
        (its snapshot and time are the newest), but nothing needs evaluating or redrawing.
        """
        view = self.views.get(result.backend_id)
        if view is None:
            return False
        before = view.result
        changed = before is None or before.checks != result.checks or before.error != result.error
        view.result = result
        problems = [c for c in result.checks if c.status is not Status.OK]
        if problems:
            view.last_problem = f"{clock(result.polled_at)} {problems[0].summary}"
        self.last_poll = result.polled_at
        for key in self._keys_of.pop(result.backend_id, set()):
            self._checks.pop(key, None)
        keys = set()
        for check in result.checks:
            self._checks[check.key] = (check, result.polled_at, result.backend_id)
            keys.add(check.key)
        self._keys_of[result.backend_id] = keys
        return changed

    @property
    def complete(self) -> bool:
        """Every backend has reported at least once (answered, or failed)."""
        return all(view.result is not None for view in self.views.values())

    def backend_views(self, kind: str) -> list[BackendView]:
        return [v for v in self.views.values() if v.backend.kind == kind]

    def worst_first(self) -> list[tuple[CheckResult, float]]:
        """(check, poll time) for every check, worst first across all targets (CRITICAL,
        UNKNOWN, WARNING, OK), then by kind and target."""
        entries = [(check, polled) for check, polled, _ in self._checks.values()]
        entries.sort(key=lambda e: (-e[0].status.severity, e[0].kind, e[0].key))
        return entries

    def check(self, key: str) -> CheckResult | None:
        entry = self._checks.get(key)
        return entry[0] if entry else None

    def polled_at(self, key: str) -> float | None:
        entry = self._checks.get(key)
        return entry[1] if entry else None

    def owner(self, key: str) -> BackendView | None:
        entry = self._checks.get(key)
        return self.views.get(entry[2]) if entry else None

    def counts(self) -> dict[Status, int]:
        counts: dict[Status, int] = {}
        for check, _, _ in self._checks.values():
            counts[check.status] = counts.get(check.status, 0) + 1
        return counts
