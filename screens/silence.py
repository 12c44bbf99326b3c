"""Silencing from the TUI: the dialog behind the `z` key, and the Silences panel.

The dialog asks how long and why (and whether this is a maintenance window that stops the
target first); the panel lists the active silences and maintenance windows. Text from the
state database is shown as text, never as markup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Static

from console.core.durations import format_span, parse_duration
from console.core.loglines import printable
from console.maintenance import Window
from console.silences import Silence
from screens.dialog import Dialog


@dataclass(frozen=True)
class SilenceRequest:
    """What the operator asked for: how long, why, and whether to stop the target first."""

    target: str
    seconds: float
    reason: str
    maintenance: bool


class SilenceScreen(Dialog[SilenceRequest]):
    """Silence one target: `--for` and `--reason`, as on the command line."""

    def __init__(self, target: str, can_stop: bool) -> None:
        super().__init__()
        self.target = target
        self.can_stop = can_stop

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(f"Silence {self.target}", style="bold"))
            yield Static("No notification and no exit code from it until the time is up; "
                         "its real status stays visible, dimmed.")
            yield Input(value="1h", placeholder="for how long: 30m, 2h, 1d", id="length")
            yield Input(placeholder="why (shown with the silenced status)", id="reason")
            yield Checkbox("maintenance window: stop it first, start it when it ends",
                           id="maintenance", disabled=not self.can_stop)
            yield Static("", id="silence-error")
            with Horizontal(id="buttons"):
                yield Button("Silence", variant="warning", id="ok")
                yield Button("Cancel", id="cancel")
            yield Static("enter in the reason field silences · escape cancel",
                         classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        error = self.query_one("#silence-error", Static)
        try:
            seconds = parse_duration(self.query_one("#length", Input).value)
        except ValueError as exc:
            error.update(Text(f"for how long: {exc}", style="bold red"))
            return
        reason = self.query_one("#reason", Input).value.strip()
        if seconds <= 0 or not reason:
            error.update(Text("give a length such as 2h and a reason", style="bold red"))
            return
        self.dismiss(SilenceRequest(self.target, seconds, reason,
                                    self.query_one("#maintenance", Checkbox).value))


class SilencesScreen(Dialog[None]):
    """The Silences panel: every active silence and maintenance window."""

    def __init__(self, silences: list[Silence], windows: list[Window]) -> None:
        super().__init__()
        self.silences = silences
        self.windows = windows

    def compose(self) -> ComposeResult:
        now = time.time()
        body = Text()
        if not self.silences:
            body.append("No active silences.\n", style="dim")
        for silence in sorted(self.silences, key=lambda s: s.until):
            body.append(f"{printable(silence.pattern)}  ", style="bold")
            body.append(printable(silence.describe()))
            body.append(f"  (ends in {format_span(silence.until - now)})\n", style="dim")
        for window in self.windows:
            body.append("\nMAINTENANCE ", style="bold black on yellow")
            body.append(" " + printable(window.describe()))
            if window.stopped:
                body.append(f"; stopped {', '.join(window.stopped)}")
        with Vertical(classes="dialog"):
            yield Static(Text("Silences", style="bold"))
            yield Static(body)
            yield Static("unsilence and end maintenance from the command palette (ctrl+p) · "
                         "escape closes", classes="dialog-keys")
