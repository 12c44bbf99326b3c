"""Details of one check, and the menu of actions on its target."""

from __future__ import annotations

from typing import ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.core.actions import ActionSpec
from console.core.model import CheckResult
from screens.dialog import Dialog
from screens.host import ConsoleHost
from widgets.status_text import STYLE


class CheckDetailsScreen(Dialog[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close", "close"),
        Binding("a", "actions", "actions"),
        Binding("g", "go", "go to view"),
    ]

    def __init__(self, check: CheckResult, backend_error: str | None, polled: str) -> None:
        super().__init__()
        self.check = check
        self.backend_error = backend_error
        self.polled = polled

    def compose(self) -> ComposeResult:
        c = self.check
        text = Text.assemble((c.status.name, STYLE[c.status]), "  ", (c.label, "bold"),
                             "\n\n", c.summary)
        if c.details:
            text.append("\n\n" + c.details)
        if c.perfdata:
            text.append("\n\nperfdata: " + " ".join(p.render() for p in c.perfdata))
        if self.backend_error:
            text.append("\n\nbackend error: ", style="red")
            text.append(self.backend_error)
        text.append(f"\n\npolled {self.polled} · a actions · g go to its view · escape close",
                    style="dim")
        with VerticalScroll(classes="dialog"):
            yield Static(text)

    def action_actions(self) -> None:
        cast(ConsoleHost, self.app).open_action_menu(self.check.target)

    def action_go(self) -> None:
        host = cast(ConsoleHost, self.app)
        self.dismiss(None)
        host.show_view_for(self.check.target)


class ActionMenuScreen(Dialog[ActionSpec]):
    """Pick an action for a target; unavailable ones are shown disabled with the reason."""

    def __init__(self, target: str, specs: list[tuple[ActionSpec, str | None]]) -> None:
        super().__init__()
        self.target = target
        self.specs = specs

    def compose(self) -> ComposeResult:
        options = []
        for index, (spec, refusal) in enumerate(self.specs):
            label = Text.assemble(spec.title, "  ", (spec.effect, "dim"))
            if refusal:
                label = Text(f"{spec.title}  ({refusal})", style="dim")
            options.append(Option(label, id=str(index), disabled=bool(refusal)))
        menu = OptionList(*options, classes="dialog")
        menu.border_title = f"Actions on {self.target}"
        yield menu

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int(event.option.id or 0)
        self.dismiss(self.specs[index][0])
