"""One unit up close: its main properties and its journal, followed live.

The journal (the systemd backend's log source for the unit) starts with the last 200 lines
and then follows in a `LogPane`; `/` searches it (matches are highlighted, n jumps to the
next), p pauses scrolling. R, s, S and l act on the unit.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from backends.systemd.backend import SystemdBackend
from backends.systemd.dbus_calls import NOT_SET
from backends.systemd.listing import UnitState
from backends.systemd.verdicts import cpu_text, memory_text, since_text
from console.core.durations import clock
from console.core.loglines import LineSource
from console.core.scrub import scrub_text
from screens.base import ConsoleScreen
from widgets.log_pane import LOG_KEYS, LogPane, LogPaneActions

PROPERTY_KEYS = ("Id", "Description", "LoadState", "ActiveState", "SubState", "UnitFileState",
                 "FragmentPath", "Type", "Restart", "MainPID", "NRestarts", "Result",
                 "ExecMainStatus", "ActiveEnterTimestamp", "StateChangeTimestamp",
                 "InactiveExitTimestamp", "TriggeredBy", "Triggers", "User",
                 "WorkingDirectory", "LastTriggerUSec", "NextElapseUSecRealtime")
_TIME_KEYS = ("Timestamp", "USec", "USecRealtime")


def show_value(key: str, value: Any) -> str:
    """A property as a person reads it: times as clock times, "not set" as n/a."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and value == NOT_SET:
        return "n/a"
    if isinstance(value, int) and key.endswith(_TIME_KEYS):
        if value == 0:
            return "never"
        seconds = value / 1e6
        return f"{time.strftime('%Y-%m-%d', time.localtime(seconds))} {clock(seconds)}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value) if value not in ("", None) else "-"


class UnitDetailScreen(LogPaneActions, ConsoleScreen):
    VIEW = "units"
    DEFAULT_CSS = """
    UnitDetailScreen #unit-summary { height: 1; padding: 0 1; text-style: bold; }
    UnitDetailScreen #unit-properties { height: auto; max-height: 12; padding: 0 1;
                                        color: $text-muted; }
    UnitDetailScreen #journal { height: 1fr; border-top: solid $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "back"),
        Binding("R", "verb('restart')", "restart", key_display="R"),
        Binding("s", "verb('start')", "start"),
        Binding("S", "verb('stop')", "stop", key_display="S"),
        Binding("l", "verb('reload')", "reload"),
        *LOG_KEYS,
    ]

    def __init__(self, backend_id: str, unit: str) -> None:
        super().__init__()
        self.backend_id = backend_id
        self.unit = unit
        self._seen_state: tuple[str, str, int | None] | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(Text(self.unit), id="unit-summary")
        yield Static("reading properties...", id="unit-properties")
        yield LogPane(self._journal, id="journal", empty_hint="no journal for this unit")

    @property
    def backend(self) -> SystemdBackend | None:
        view = self.session.backend_view(self.backend_id)
        backend = view.backend if view else None  # a fleet host's stand-in serves as one
        return cast(SystemdBackend, backend) if backend and backend.is_a(SystemdBackend) else None

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(LogPane).log_view.focus()

    def _journal(self) -> list[LineSource]:
        backend = self.backend
        return backend.log_sources(f"unit:{self.unit}") if backend is not None else []

    def _state(self) -> UnitState | None:
        polled = next((p for p in self.session.polled(SystemdBackend)
                       if p.backend.id == self.backend_id), None)
        snapshot = polled.snapshot if polled else None
        return snapshot.unit(self.unit) if snapshot else None

    def refresh_view(self) -> None:
        unit = self._state()
        summary = self.query_one("#unit-summary", Static)
        if unit is None:
            summary.update(Text.assemble(self.unit, ("  (not in the last poll)", "dim")))
            return
        parts = [f"{unit.active} ({unit.sub})"]
        since = since_text(unit)
        if since:
            parts.append(f"for {since}")
        if unit.main_pid:
            parts.append(f"PID {unit.main_pid}")
        if unit.restarts is not None:
            parts.append(f"{unit.restarts} restarts")
        parts += [f"memory {memory_text(unit)}", f"CPU {cpu_text(unit)}"]
        summary.update(Text(f"{self.unit}  " + " · ".join(parts)))
        state = (unit.active, unit.sub, unit.main_pid)
        if state != self._seen_state:
            self._seen_state = state
            self.run_worker(self._load_properties(), group="properties", exclusive=True,
                            exit_on_error=False)

    async def _load_properties(self) -> None:
        backend = self.backend
        box = self.query_one("#unit-properties", Static)
        if backend is None:
            return
        try:
            props = await backend.properties(self.unit)
        except Exception as exc:  # shown in place of the properties; the journal still works
            box.update(Text.assemble(("properties unavailable: ", "red"), scrub_text(str(exc))))
            return
        cells = [f"{key:<23} {show_value(key, props[key])}"[:76].ljust(77)
                 for key in PROPERTY_KEYS if key in props]
        half = (len(cells) + 1) // 2
        rows = [left + (cells[half + i] if half + i < len(cells) else "")
                for i, left in enumerate(cells[:half])]
        box.update(Text(scrub_text("\n".join(row.rstrip() for row in rows))))

    # -- keys -----------------------------------------------------------------------------
    def selected_target(self) -> str | None:
        return f"unit:{self.unit}"

    def apply_filter(self, text: str) -> None:
        self.query_one(LogPane).set_search(text)

    def action_back(self) -> None:
        self.dismiss(None)
