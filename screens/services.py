"""Services: one row per `[[service]]` with its rollup and the one-line cause.

Enter opens the service: each member and indicator with its status, the relations (declared
or inferred) and what is not watched yet; enter on a line goes to the view of its target.
Every string comes from a system or the config, so it is shown as plain text.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.core.loglines import printable
from console.services import Line, ServiceState
from screens.base import ConsoleScreen
from screens.dialog import Dialog
from widgets.live_table import LiveTable, Row
from widgets.status_text import STYLE, status_cell, styled


class ServicesScreen(ConsoleScreen):
    VIEW = "services"
    NOUN = "service"
    def compose_body(self) -> ComposeResult:
        yield LiveTable([("Status", 6), ("Service", 24), ("Cause", None)], id="services")

    def refresh_view(self) -> None:
        rows: list[Row] = []
        order = sorted(self.session.services, key=lambda s: (-s.status.severity, s.name))
        for state in order:
            rows.append((state.name, (status_cell(state.status), Text(printable(state.name)),
                                      styled(printable(state.cause), state.status))))
        self.query_one(LiveTable).set_rows(rows)

    def apply_filter(self, text: str) -> None:
        self.query_one(LiveTable).set_filter(text)

    def _selected(self) -> ServiceState | None:
        key = self.query_one(LiveTable).selected_key
        return self.session.service(key) if key else None

    def selected_target(self) -> str | None:
        state = self._selected()
        if state is None:
            return None
        worst = max(state.members, key=lambda m: m.status.severity, default=None)
        return worst.target if worst else None

    def action_details(self) -> None:
        state = self._selected()
        if state is None:
            self.notify("Select a service first.", severity="warning")
            return

        def chosen(target: str | None) -> None:
            if target:
                self.ops.show_view_for(target)

        self.app.push_screen(ServiceDetailScreen(state), chosen)

    def on_data_table_row_selected(self) -> None:
        self.action_details()


def _line_label(prefix: str, line: Line) -> Text:
    text = Text()
    text.append(f"{line.status.short:<5}", style=STYLE[line.status])
    text.append(f"{prefix} {printable(line.label)}", style="bold")
    text.append(f"  {printable(line.text)}")
    if line.note:
        text.append(f"  [{printable(line.note)}]", style="dim")
    return text


class ServiceDetailScreen(Dialog[str]):
    """A service's members and indicators; enter on one answers its target."""

    def __init__(self, state: ServiceState) -> None:
        super().__init__()
        self.state = state
        self.targets: list[str] = []

    def compose(self) -> ComposeResult:
        state = self.state
        head = Text()
        head.append(state.status.name, style=STYLE[state.status])
        head.append(f"  {printable(state.name)}", style="bold")
        if state.spec.description:
            head.append(f" · {printable(state.spec.description)}")
        head.append(f"\n{printable(state.cause)}")
        options: list[Option] = []
        for line in state.members:
            options.append(Option(_line_label("member", line), id=str(len(self.targets))))
            self.targets.append(line.target)
        for line in state.indicators:
            options.append(Option(_line_label("expect", line), id=str(len(self.targets))))
            self.targets.append(line.target)
        foot = Text()
        for link in state.links:
            foot.append(f"{printable(link.text())}\n", style="dim")
        if state.not_watched:
            foot.append("not watched yet: " + printable(", ".join(state.not_watched)) + "\n",
                        style="dim")
        foot.append("enter go to its view · escape close", style="dim")
        with Vertical(classes="dialog"):
            yield Static(head)
            yield OptionList(*options, id="service-lines")
            yield Static(foot, classes="dialog-keys")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.targets[int(event.option.id or 0)])
