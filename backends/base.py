"""The backend contract every real system plugs into.

A backend is built from its config entries, `collect()`s a plain Snapshot with a timeout,
turns it into `CheckResult`s with `evaluate()`, and offers `ActionSpec`s. It knows nothing
about Textual, so the TUI, the headless runner and the tests share the same code.
"""

from __future__ import annotations

import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from console.core.actions import ActionSpec
from console.core.configtable import Table
from console.core.durations import clock
from console.core.errors import ConfigError
from console.core.loglines import LineSource
from console.core.model import CheckResult, Status
from console.core.secrets import Redactor
from console.core.timeline import TimelineEvent

S = TypeVar("S")


@dataclass(frozen=True)
class Runtime:
    """What every backend may need from the console: defaults, state dir, redaction.

    `sections` holds every parsed section of the config, for backends that refer to another
    section's entries (a deploy's database and health check); `config_path` is the file the
    config came from, for work handed to another process.
    """

    redactor: Redactor
    state_dir: Path
    refresh: float = 2.0
    timeout: float = 5.0
    sections: Mapping[str, list[Any]] = field(default_factory=dict)
    config_path: Path | None = None


class Backend(ABC, Generic[S]):
    """One watched thing (a Redis server, an HTTP endpoint, a systemd bus...).

    `S` is its Snapshot type: what `collect()` returns and `evaluate()`/`actions()` read.
    """

    kind: ClassVar[str]
    unreachable_status: ClassVar[Status] = Status.UNKNOWN
    # async methods that only read, which a view calls when it opens (a queue's items, a
    # unit's properties): a fleet host's bridge serves them by name, with JSON arguments
    reads: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, *, interval: float, timeout: float) -> None:
        self.name = name
        self.interval = interval
        self.timeout = timeout
        # Whether a view showing this backend's details is on screen. Without it a backend
        # may read only what its checks need (Celery's task lists cost inspect broadcasts).
        self.detail = True

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    @classmethod
    def snapshot_type(cls) -> Any:
        """`S` of this class's `Backend[S]`: what its snapshots are rebuilt as from JSON."""
        for klass in cls.__mro__:
            for base in getattr(klass, "__orig_bases__", ()):
                if typing.get_origin(base) is Backend:
                    return typing.get_args(base)[0]
        return Any

    def is_a(self, backend_type: type[Backend[Any]]) -> bool:
        """Whether this backend serves as a `backend_type` (a fleet host's stand-in does)."""
        return isinstance(self, backend_type)

    def location(self) -> str:
        """Where the watched thing is, as a view shows it (a URL, host:port/db), without
        credentials; empty when there is nothing to say."""
        return ""

    @property
    def has_logs(self) -> bool:
        """Whether this backend offers live logs (journals, container logs, files)."""
        return type(self).log_sources is not Backend.log_sources

    @abstractmethod
    async def collect(self) -> S:
        """Read the system once and return a frozen Snapshot. May raise on failure."""

    @abstractmethod
    def evaluate(self, snapshot: S) -> list[CheckResult]:
        """Checks for a snapshot (may keep history on self for trends)."""

    @abstractmethod
    def targets(self) -> list[str]:
        """The `KIND:NAME` targets this backend answers for, known before any poll."""

    def answers_for(self, target: str) -> bool:
        """Whether a `KIND:NAME` given on the command line is one of this backend's targets.

        Backends whose targets are only known after a poll (units by glob) override this.
        """
        return target in self.targets()

    def actions(self, snapshot: S | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        """Actions offered on one of this backend's targets.

        `options` carries command-line choices (`task`, `dry_run`, `from`, `to`).
        """
        return []

    def log_sources(self, target: str | None = None) -> list[LineSource]:
        """Live log sources (journals, container logs, files), of one target or all.

        Each is opened when asked for; the caller reads and closes it.
        """
        return []

    async def timeline_events(self, since: float, until: float, limit: int) -> list[TimelineEvent]:
        """The system's own record of what happened to this backend's targets between
        `since` and `until` (unit restarts, container deaths, failed tasks), at most `limit`
        of them, newest kept. None by default; the caller bounds it with `self.timeout`.
        """
        return []

    def watch(self, changed: Callable[[], None]) -> None:
        """Start pushing: call `changed()` (from any thread) when a re-poll is worth it."""

    async def close(self) -> None:
        """Release connections and threads."""

    def failure_checks(self, reason: str, since: float) -> list[CheckResult]:
        """What each target shows while the backend cannot be read."""
        summary = f"unreachable since {clock(since)}: {reason}"
        return [CheckResult(t, self.unreachable_status, summary) for t in self.targets()]


@dataclass(frozen=True)
class BackendKind:
    """A config section and how to turn its entries into backends.

    `parse` reads one `[[section]]` table (and calls `table.done()`); `build` receives every
    parsed entry of the section at once; `validate`, if set, checks references between
    sections once the whole file is parsed and raises ConfigError.
    """

    section: str
    parse: Callable[[Table], Any]
    build: Callable[[list[Any], Runtime], list[Backend[Any]]]
    validate: Callable[[list[Any], dict[str, list[Any]]], None] | None = None


def unique_names(section: str, names: list[str]) -> None:
    """Reject a config where two entries of one section share a name."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"[[{section}]] name {name!r} is used twice: names must be unique")
        seen.add(name)
