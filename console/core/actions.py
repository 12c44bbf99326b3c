"""What an action is: a named, described, async operation on one target.

Backends offer `ActionSpec`s; the dispatcher (console.dispatcher) is the only thing that runs
them, so read-only mode, confirmation, locking and the audit log apply to every one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ActionOutcome:
    """How an action ended: ok or not, and one line saying what happened."""

    ok: bool
    message: str
    details: str = ""


class Progress(Protocol):
    """What a running action may report while it works."""

    def progress(self, done: float | None, total: float | None = None, message: str = "") -> None:
        """Report how far the action got (either number may be unknown)."""

    def log(self, line: str) -> None:
        """Add one line of output (a command's output, a step's result)."""


ActionRunner = Callable[[Progress], Awaitable[ActionOutcome]]


@dataclass(frozen=True)
class ActionSpec:
    """One action the user can ask for.

    `verb` is the command-line word (`restart`, `retry`, `backup`); `effect` says exactly what
    will happen, for the confirmation; `type_to_confirm`, when set, is the text the user must
    type before a destructive action runs.
    """

    verb: str
    target: str
    title: str
    effect: str
    run: ActionRunner = field(compare=False, repr=False)
    backend_id: str = ""
    mutating: bool = True
    type_to_confirm: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    unavailable: str | None = None

    @property
    def lock_key(self) -> str:
        """Two actions on one target never run at once, whatever their verb."""
        return self.target


class SupportsProgress:
    """A Progress that only collects lines; used where nobody watches (tests, dry runs)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.last: tuple[float | None, float | None, str] = (None, None, "")

    def progress(self, done: float | None, total: float | None = None, message: str = "") -> None:
        self.last = (done, total, message)

    def log(self, line: str) -> None:
        self.lines.append(line)
