"""The confirmation dialog: says exactly what will happen; destructive ones need typing a name."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from console.core.actions import ActionSpec


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 72; max-width: 95%; height: auto; border: thick $warning;
                               background: $surface; padding: 1 2; }
    ConfirmScreen #buttons { height: auto; margin-top: 1; }
    ConfirmScreen Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel"),
        Binding("y", "confirm", "yes", show=False),
    ]

    def __init__(self, spec: ActionSpec) -> None:
        super().__init__()
        self.spec = spec

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Vertical():
            yield Static(f"[b]{escape(spec.title)}[/b]")
            yield Static(f"\nTarget: {escape(spec.target)}\nEffect: {escape(spec.effect)}")
            if spec.type_to_confirm:
                yield Static(f"\nType [b]{escape(spec.type_to_confirm)}[/b] to confirm:")
                yield Input(id="typed")
            with Horizontal(id="buttons"):
                yield Button("Run it", variant="error" if spec.type_to_confirm else "warning",
                             id="ok", disabled=bool(spec.type_to_confirm))
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        focus = "#typed" if self.spec.type_to_confirm else "#cancel"
        self.query_one(focus).focus()

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

    def action_cancel(self) -> None:
        self.dismiss(False)
