"""The frame every view shares: top bar, view bar, body, filter line and footer."""

from __future__ import annotations

from typing import ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input

from console.session import Session
from screens.host import ConsoleHost
from widgets.footer import FittedFooter
from widgets.navbar import NavBar
from widgets.topbar import TopBar


class FilterInput(Input):
    DEFAULT_CSS = """
    FilterInput { display: none; }
    FilterInput, FilterInput:focus { height: 1; border: none; padding: 0 1;
                                     background: $boost; }
    FilterInput.-shown { display: block; }
    """
    BINDINGS = [Binding("escape", "close", "close filter", show=True)]

    def open(self) -> None:
        self.disabled = False
        self.add_class("-shown")
        self.focus()

    def action_close(self) -> None:
        self.value = ""
        self.remove_class("-shown")
        self.disabled = True  # hidden, it must not take the focus (and the keys)
        self.screen.focus_next()


class ConsoleScreen(Screen[None]):
    """Base of the console's views. Subclasses fill `compose_body` and `refresh_view`."""

    VIEW: ClassVar[str] = ""
    NOUN: ClassVar[str] = "row"  # what a row is, for "Select a ... first."
    HOST_VIEW: ClassVar[bool] = True  # shows the host on screen (False: the Fleet view)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "filter", key_display="/"),
        Binding("a", "actions", "actions"),
        Binding("z", "silence", "silence", show=False),
    ]

    @property
    def view_name(self) -> str:
        return self.VIEW

    @property
    def ops(self) -> ConsoleHost:
        return cast(ConsoleHost, self.app)

    @property
    def session(self) -> Session:
        return self.ops.session

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        yield NavBar(self.view_name, services=bool(self.ops.session.config.services))
        yield from self.compose_body()
        yield FilterInput(placeholder="filter: type to narrow the list, escape to clear",
                          id="filter", disabled=True)
        yield FittedFooter()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.refresh_all()

    def on_screen_resume(self) -> None:
        self.refresh_all()

    def refresh_all(self) -> None:
        """Redraw the top bar and the body from the app's current state."""
        self.set_class(self.HOST_VIEW and self.session.protected, "-protected")
        self.ops.paint_topbar(self.query_one(TopBar))
        self.refresh_view()

    def refresh_view(self) -> None:
        """Update the body from `self.ops` state (called only while this screen is shown)."""

    def selected_target(self) -> str | None:
        """The `KIND:NAME` under the cursor, for actions."""
        return None

    def apply_filter(self, text: str) -> None:
        """Narrow the body's list to rows containing `text`."""

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FilterInput):
            self.apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, FilterInput):
            self.focus_next()

    def action_verb(self, verb: str) -> None:
        """Run `verb` (restart, retry, backup...) on the selected target, through the
        dispatcher; the views bind their keys to this."""
        target = self.selected_target()
        if target is None:
            self.notify(f"Select a {self.NOUN} first.", severity="warning")
            return
        self.ops.run_verb(target, verb)

    def action_silence(self) -> None:
        target = self.selected_target()
        if target is None:
            self.notify(f"Select a {self.NOUN} first.", severity="warning")
            return
        self.ops.open_silence(target)

    def action_actions(self) -> None:
        target = self.selected_target()
        if target is None:
            self.notify(f"Select a {self.NOUN} first.", severity="warning")
            return
        self.ops.open_action_menu(target)
