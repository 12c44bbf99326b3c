"""The confirmation dialog: says exactly what will happen and which key runs it.

A plain action runs with `y` (the Cancel button has the focus, so a stray enter does not run
it); a destructive one needs its name typed, then enter. Escape always cancels.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from console.core.actions import ActionSpec
from screens.dialog import Dialog


def keys_hint(spec: ActionSpec) -> str:
    """The line that says how to confirm and how to cancel."""
    if spec.type_to_confirm:
        return f"type {spec.type_to_confirm} then enter · escape cancel"
    return "y confirm · escape cancel"


class ConfirmScreen(Dialog[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "yes", show=False),
    ]

    def __init__(self, spec: ActionSpec) -> None:
        super().__init__()
        self.spec = spec

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Vertical(classes="dialog"):
            yield Static(Text(spec.title, style="bold"))
            yield Static(Text(f"\nTarget: {spec.target}\nEffect: {spec.effect}"))
            if spec.type_to_confirm:
                yield Static(Text.assemble("\nType ", (spec.type_to_confirm, "bold"),
                                           " to confirm:"))
                yield Input(id="typed")
            with Horizontal(id="buttons"):
                yield Button("Run it", variant="error" if spec.type_to_confirm else "warning",
                             id="ok", disabled=bool(spec.type_to_confirm))
                yield Button("Cancel", id="cancel")
            yield Static(Text(keys_hint(spec)), id="confirm-keys", classes="dialog-keys")

    def on_mount(self) -> None:
        focus = "#typed" if self.spec.type_to_confirm else "#cancel"
        self.query_one(focus).focus()

    def close_result(self) -> bool:
        return False

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#ok", Button).disabled = event.value != self.spec.type_to_confirm

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value == self.spec.type_to_confirm:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "ok")

    def action_confirm(self) -> None:
        if not self.spec.type_to_confirm:
            self.dismiss(True)
