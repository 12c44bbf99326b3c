"""The cause on a troubled unit's row: the journal line that most likely says why.

Read once per failure (a failed unit's state-change time is the key). A unit that systemd
keeps restarting is read at most every REREAD seconds, whichever state each poll catches it
in: it shows the cause read at one of its failures in the last REREAD seconds. So trouble
costs a journalctl call now and then, not one per poll.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from backends.systemd.journal import last_error_line
from backends.systemd.listing import UnitState
from console.core.errors import ConsoleError

_Key = tuple[str, float | None]
REREAD = 30.0


class UnitCauses:
    def __init__(self, journal_dir: Path | None, timeout: float) -> None:
        self.journal_dir = journal_dir
        self.timeout = timeout
        self._cache: dict[str, tuple[_Key, float, str | None]] = {}

    def attach(self, units: tuple[UnitState, ...]) -> tuple[UnitState, ...]:
        """The units, troubled ones with their cause (blocking: call it from a thread)."""
        out = []
        for unit in units:
            if unit.troubled and unit.kind != "timer":
                unit = dataclasses.replace(unit, cause=self._cause(unit))
            out.append(unit)
        troubled = {u.name for u in units if u.troubled}
        self._cache = {k: v for k, v in self._cache.items() if k in troubled}
        return tuple(out)

    def _cause(self, unit: UnitState) -> str | None:
        failed = unit.active == "failed"
        key: _Key = (unit.active, unit.changed_at if failed else None)
        now = time.monotonic()
        cached = self._cache.get(unit.name)
        if cached is not None:
            fresh = now - cached[1] < REREAD
            restarting = unit.sub == "auto-restart" or unit.restarts_in_window > 0
            if (cached[0] == key and (failed or fresh)) or (restarting and fresh):
                return cached[2]
        try:
            cause = last_error_line(unit.name, self.journal_dir, self.timeout)
        except ConsoleError:
            cause = None  # no journal here: the state alone is shown, as before
        self._cache[unit.name] = (key, now, cause)
        return cause
