"""Details of one check, and the menu of actions on its target."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.core.actions import ActionSpec
from console.core.model import CheckResult
from console.perfhistory import PerfHistory
from console.transitions import Transition, TransitionLog
from screens.dialog import Dialog
from screens.host import ConsoleHost
from widgets.perf_chart import SPANS, PerfChart
from widgets.status_text import STYLE


class CheckDetailsScreen(Dialog[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close", "close"),
        Binding("a", "actions", "actions"),
        Binding("g", "go", "go to view"),
        Binding("c", "cycle_span", "hour/day/month"),
    ]

    def __init__(self, check: CheckResult, backend_error: str | None, polled: str) -> None:
        super().__init__()
        self.check = check
        self.backend_error = backend_error
        self.polled = polled
        self.span = 0  # index into SPANS

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
        text.append(f"\n\npolled {self.polled} · a actions · g go to its view · c chart span · "
                    "escape close", style="dim")
        with VerticalScroll(classes="dialog"):
            yield Static(text)
            yield Static("", id="chart-title")
            yield Vertical(id="chart")

    def on_mount(self) -> None:
        self.load_chart()

    @work(exclusive=True, group="chart")
    async def load_chart(self) -> None:
        """Read the target's recorded values and transitions off the event loop, then draw."""
        name, span = SPANS[self.span]
        until = time.time()
        since = until - span
        state_dir = cast(ConsoleHost, self.app).session.config.console.state_dir
        target = self.check.target

        def read() -> tuple[dict[str, list[tuple[float, float]]], list[Transition]]:
            series = PerfHistory(state_dir).series(target, since, until)
            changes = [t for t in TransitionLog(state_dir).history(target, since)
                       if t.ts <= until]
            return series, changes

        series, changes = await asyncio.to_thread(read)
        title = Text("\n")
        title.append(f"values over the last {name}", style="bold")
        title.append(f" (c: {', '.join(n for n, _ in SPANS)}; ▲ status changed)", style="dim")
        self.query_one("#chart-title", Static).update(title)
        box = self.query_one("#chart", Vertical)
        await box.remove_children()
        await box.mount(PerfChart(series, changes, since, until))

    def action_cycle_span(self) -> None:
        self.span = (self.span + 1) % len(SPANS)
        self.load_chart()

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
