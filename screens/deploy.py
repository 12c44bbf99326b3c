"""The Deploy view: what is deployed, what changed, deploys and rollbacks with their steps live.

`D` asks for a release and confirms its full plan; the last plan's steps and output (a
deploy's watch writes a line per poll) follow the runner; a deploy that failed after its
checkout, still deployed, brings up the rollback to the release it replaced, once.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from backends.deploy.backend import DeployBackend, DeploySnapshot
from backends.deploy.plans import Plan
from console.core.durations import clock, format_age, format_span
from console.core.loglines import LogLine, printable
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
    DeployScreen #history { height: 7; }
    DeployScreen #output { height: 1fr; border-top: solid $primary; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("D", "deploy", "deploy"),
        Binding("R", "verb('rollback')", "roll back"),
        Binding("F", "verb('roll-forward')", "roll forward"),
        Binding("B", "verb('restore')", "restore db"),
    ]

    OFFER_WITHIN = 3600.0  # a failed deploy older than this is not offered again on opening

    def __init__(self) -> None:
        super().__init__(DeployBackend)
        self._offered: set[str] = set()

    def compose_tables(self) -> ComposeResult:
        yield Static(id="summary")
        with Horizontal():
            with Vertical():
                yield Static("Changes since the previous release", classes="caption")
                yield LiveTable([("Commit", 10), ("Author", 14, 2), ("When", 10, 1),
                                 ("Subject", None)], id="changes")
            with Vertical():
                yield Static("Last plan", classes="caption", id="plan-caption")
                yield LiveTable([("#", 2), ("State", 8), ("Step", None), ("Took", 8)],
                                id="steps")
        yield Static("History: deploys and rollbacks", classes="caption")
        yield LiveTable([("When", 8), ("Kind", 8), ("By", 10, 2), ("From", 10), ("To", 10),
                         ("Outcome", None)], id="history")
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
        changes: list[Row] = [(c.sha, (Text(c.short), Text(c.author), Text(format_age(c.date)),
                                       Text(c.subject))) for c in snap.changes]
        self.query_one("#changes", LiveTable).set_rows(changes)
        self._show_history(snap.plans)
        self._show_plan(snap.last_plan)
        self._offer_rollback(name, snap)

    def _show_history(self, plans: tuple[Plan, ...]) -> None:
        rows: list[Row] = []
        for plan in plans:
            outcome = plan.state if not plan.done else (
                "ok" if plan.state == "ok" else f"failed: {plan.error}")
            if plan.next_plan:
                outcome += f" · rolled back by {plan.next_plan}"
            rows.append((plan.id, (Text(clock(plan.created)), Text(plan.kind), Text(plan.who),
                                   Text(plan.from_rev[:10]), Text(plan.to_rev[:10]),
                                   Text(printable(outcome),
                                        style=_STEP_STYLE.get(plan.state, "")))))
        self.query_one("#history", LiveTable).set_rows(rows)

    def _offer_rollback(self, name: str, snap: DeploySnapshot) -> None:
        """A deploy that failed once checked out and is still deployed: offer the rollback."""
        plan = snap.last_plan
        if plan is None or plan.kind != "deploy" or plan.state != "failed" or plan.next_plan \
                or plan.to_rev != snap.current.sha or plan.id in self._offered:
            return
        self._offered.add(plan.id)
        if time.time() - (plan.finished or plan.created) > self.OFFER_WITHIN:
            return
        target = f"deploy:{name}"
        spec = next((s for s in self.session.actions_for(target, {"to": plan.from_rev})
                     if s.verb == "rollback"), None)
        if spec is not None:
            self.notify(f"The deploy of {plan.to_rev[:10]} failed: {plan.error}",
                        severity="error", timeout=15)
            self.ops.start_action(spec)

    def action_deploy(self) -> None:
        target = self.selected_target()
        if target is None:
            self.notify("Waiting for the repository to be read.", severity="warning")
            return
        self.ops.open_deploy(target)

    def _show_plan(self, plan: Plan | None) -> None:
        caption = self.query_one("#plan-caption", Static)
        steps = self.query_one("#steps", LiveTable)
        output = self.query_one("#output", LogView)
        if plan is None:
            caption.update("No deploy or rollback yet")
            steps.set_rows([])
            return
        caption.update(Text(f"{plan.kind.capitalize()} {plan.id} by {plan.who} at "
                            f"{clock(plan.created)}: "
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
        # Keyed by the last line too: a long watch keeps its step's output at a fixed length.
        shown = (plan.id, len(lines), lines[-1].text if lines else "")
        if getattr(self, "_shown_lines", None) != shown:
            self._shown_lines = shown
            output.clear_lines()
            output.append_lines(lines)

    def selected_target(self) -> str | None:
        found = self._snapshot()
        return f"deploy:{found[0]}" if found else None

    def apply_filter(self, text: str) -> None:
        super().apply_filter(text)
        self.query_one("#output", LogView).set_search(text)
