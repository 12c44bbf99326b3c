"""The Deploy view: what is deployed, what changed since the previous release, and rollbacks."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from backends.deploy.backend import DeployBackend, DeploySnapshot
from backends.deploy.plans import Plan
from console.core.durations import clock, format_age, format_span
from console.core.loglines import LogLine
from screens.table import TableScreen
from widgets.live_table import LiveTable, Row
from widgets.log_view import LogView

_STEP_STYLE = {"ok": "green", "failed": "bold red", "running": "bold cyan",
               "skipped": "dim", "pending": "dim"}


class DeployScreen(TableScreen[DeploySnapshot]):
    VIEW = "deploy"
    DEFAULT_CSS = """
    DeployScreen #summary { height: auto; padding: 0 1; }
    DeployScreen #changes { height: 1fr; }
    DeployScreen #steps { height: 1fr; }
    DeployScreen #output { height: 1fr; border-top: solid $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("R", "verb('rollback')", "roll back"),
        Binding("F", "verb('roll-forward')", "roll forward"),
        Binding("D", "verb('restore')", "restore db"),
    ]

    def __init__(self) -> None:
        super().__init__(DeployBackend)

    def compose_tables(self) -> ComposeResult:
        yield Static(id="summary")
        with Horizontal():
            with Vertical():
                yield Static("Changes since the previous release", classes="caption")
                yield LiveTable([("Commit", 10), ("Subject", None), ("Author", 14),
                                 ("When", 10)], id="changes")
            with Vertical():
                yield Static("Last rollback", classes="caption", id="plan-caption")
                yield LiveTable([("#", 2), ("State", 8), ("Step", None), ("Took", 8)],
                                id="steps")
        yield LogView(max_lines=2000, id="output")

    def _snapshot(self) -> tuple[str, DeploySnapshot] | None:
        for polled in self.polled():
            if polled.snapshot is not None:
                return polled.backend.name, polled.snapshot
        return None

    def refresh_view(self) -> None:
        found = self._snapshot()
        summary = self.query_one("#summary", Static)
        if found is None:  # the notice line above says why
            summary.update("Reading the repository...")
            return
        name, snap = found
        head = snap.current
        text = Text.assemble((f"{name}  ", "bold"), (head.short, "bold cyan"),
                             f" {head.subject}  ", (f"{head.author}, {format_age(head.date)}",
                                                    "dim"))
        if head.tags:
            text.append(f"  tags: {', '.join(head.tags)}", style="yellow")
        if snap.previous is not None:
            text.append(f"\nprevious release {snap.previous.short} {snap.previous.subject}",
                        style="dim")
        if snap.migrations:
            text.append(f"\nmigrations changed: {', '.join(snap.migrations[:4])}",
                        style="bold yellow")
        if snap.dirty:
            text.append("\nthe working tree has uncommitted changes", style="bold yellow")
        summary.update(text)
        changes: list[Row] = [(c.sha, (Text(c.short), Text(c.subject), Text(c.author),
                                       Text(format_age(c.date)))) for c in snap.changes]
        self.query_one("#changes", LiveTable).set_rows(changes)
        self._show_plan(snap.last_plan)

    def _show_plan(self, plan: Plan | None) -> None:
        caption = self.query_one("#plan-caption", Static)
        steps = self.query_one("#steps", LiveTable)
        output = self.query_one("#output", LogView)
        if plan is None:
            caption.update("No rollback yet")
            steps.set_rows([])
            return
        caption.update(Text(f"Rollback {plan.id} by {plan.who} at {clock(plan.created)}: "
                            f"{plan.from_rev[:10]} -> {plan.to_rev[:10]} · {plan.state}"))
        rows: list[Row] = []
        lines: list[LogLine] = []
        for number, step in enumerate(plan.steps, 1):
            took = ""
            if step.started and step.finished:
                took = format_span(step.finished - step.started)
            rows.append((f"{plan.id}-{number}", (Text(str(number)),
                         Text(step.state, style=_STEP_STYLE.get(step.state, "")),
                         Text(step.title), Text(took))))
            level = "err" if step.state == "failed" else ""
            lines += [LogLine(step.started, f"[{number}] {line}", level)
                      for line in step.output]
        steps.set_rows(rows)
        if getattr(self, "_shown_lines", None) != (plan.id, len(lines)):
            self._shown_lines = (plan.id, len(lines))
            output.clear_lines()
            output.append_lines(lines)

    def selected_target(self) -> str | None:
        found = self._snapshot()
        return f"deploy:{found[0]}" if found else None

    def apply_filter(self, text: str) -> None:
        super().apply_filter(text)
        self.query_one("#output", LogView).set_search(text)
