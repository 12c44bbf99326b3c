"""A config entry that could not be used (an unset ${ENV}, an unreadable *_file, a bad
value): its targets stay on the board as UNKNOWN with the reason, and everything else in
the config is still checked. A cron check never goes dark over one broken section.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backends.base import Backend
from console.core.model import CheckResult, Status


@dataclass(frozen=True)
class BrokenEntry:
    """One `[[section]]` entry that did not parse, and why."""

    section: str
    index: int  # 0-based position among the section's entries
    target_kind: str
    names: tuple[str, ...]  # what the entry would have watched, as far as it can be told
    reason: str

    @property
    def targets(self) -> list[str]:
        names = self.names or (f"{self.section}#{self.index + 1}",)
        return [f"{self.target_kind}:{name}" for name in names]

    @property
    def where(self) -> str:
        return f"[[{self.section}]] #{self.index + 1}"


def names_of(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """The names an entry's raw table gives (`name`, or `units`/`containers` lists)."""
    name = raw.get("name")
    if isinstance(name, str) and name:
        return (name,)
    for key in ("units", "containers"):
        values = raw.get(key)
        if isinstance(values, list) and all(isinstance(v, str) for v in values) and values:
            return tuple(values)
    return ()


class BrokenBackend(Backend[str]):
    """Stands on the board for a broken entry: UNKNOWN, with the config error as the cause."""

    kind = "config"

    def __init__(self, entry: BrokenEntry) -> None:
        super().__init__(f"{entry.section}-{entry.index + 1}", interval=3600.0, timeout=1.0)
        self.entry = entry

    def targets(self) -> list[str]:
        return self.entry.targets

    async def collect(self) -> str:
        return self.entry.reason

    def evaluate(self, snapshot: str) -> list[CheckResult]:
        return [CheckResult(target, Status.UNKNOWN,
                            f"not checked: {self.entry.where} in the config: {snapshot}")
                for target in self.targets()]
