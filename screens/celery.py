"""The Celery view: workers, queues, tasks (active, reserved, scheduled), failed tasks, beat.

Failed tasks open a detail dialog with the exception, traceback, args and kwargs; actions
(retry, bulk retry, revoke, terminate, pool restart, shutdown) go through the dispatcher.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from backends.celery.beat import describe_age
from backends.celery.snapshot import CelerySnapshot, FailedTask
from console.core.durations import clock, format_span
from console.core.model import Status
from screens.base import ConsoleScreen
from widgets.live_table import LiveTable, Row
from widgets.status_text import status_cell

TABS = ("workers", "queues", "tasks", "failed", "beat")


def _text(value: Any, style: str = "") -> Text:
    return Text(str(value), style=style, overflow="ellipsis", no_wrap=True)


class FailedTaskScreen(ModalScreen[None]):
    """Everything known about one failed task."""

    DEFAULT_CSS = """
    FailedTaskScreen { align: center middle; }
    FailedTaskScreen > VerticalScroll { width: 120; max-width: 95%; height: auto;
        max-height: 90%; border: thick $error; background: $surface; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "close", "close")]

    def __init__(self, app_name: str, task: FailedTask) -> None:
        super().__init__()
        self.app_name = app_name
        self.failed = task

    def compose(self) -> ComposeResult:
        t = self.failed
        retry = "not retried"
        if t.retry_task_id:
            retry = (f"retried {clock(t.retried_at or 0)} as {t.retry_task_id} "
                     f"({t.retry_state or 'PENDING'})")
        resend = "yes" if t.resendable else f"no: {t.why_not}"
        lines = [
            f"[b]{escape(t.name or '?')}[/b]  {escape(t.task_id)}  ({escape(self.app_name)})",
            f"failed {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t.failed_at))} on "
            f"{escape(t.worker or '?')} · queue {escape(t.queue or '?')} · from {t.source}",
            f"[b red]{escape(t.exception)}[/]",
            "",
            f"[b]args[/b]   {escape(t.args)}",
            f"[b]kwargs[/b] {escape(t.kwargs)}",
            f"can be re-sent: {escape(resend)} · {escape(retry)}",
            "",
            "[b]traceback[/b]",
            escape(t.traceback or "(none recorded)"),
            "",
            "[dim]escape close · t on the list retries it[/]",
        ]
        with VerticalScroll():
            yield Static("\n".join(lines), id="failed-detail")

    def action_close(self) -> None:
        self.dismiss(None)


class CeleryScreen(ConsoleScreen):
    VIEW = "celery"
    DEFAULT_CSS = """
    CeleryScreen #celery-notes { height: auto; max-height: 4; padding: 0 1; }
    CeleryScreen #celery-tabs { height: 1fr; }
    CeleryScreen TabPane { height: 1fr; padding: 0; }
    """
    # tab keys are shown on the tabs themselves ("w Workers"), keeping the footer short
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("w", "tab('workers')", "workers", show=False),
        Binding("u", "tab('queues')", "queues", show=False),
        Binding("k", "tab('tasks')", "tasks", show=False),
        Binding("f", "tab('failed')", "failed", show=False),
        Binding("b", "tab('beat')", "beat", show=False),
        Binding("enter", "details", "details"),
        Binding("t", "retry", "retry"),
        Binding("n", "bulk(True)", "dry run"),
        Binding("T", "bulk(False)", "bulk retry"),
        Binding("v", "task_verb('revoke')", "revoke"),
        Binding("x", "task_verb('terminate')", "terminate"),
        Binding("p", "worker_verb('pool-restart')", "pool restart"),
        Binding("S", "worker_verb('shutdown')", "shutdown"),
    ]

    def compose_body(self) -> ComposeResult:
        yield Static(id="celery-notes")
        with TabbedContent(initial="workers", id="celery-tabs"):
            with TabPane("w Workers", id="workers"):
                yield LiveTable([("Status", 6), ("App", 12), ("Worker", 28), ("Since", 10),
                                 ("Pool", 5), ("Processed", 10), ("Load", 15), ("Active", 7),
                                 ("Reserved", 9), ("Sched", 6), ("Queues", None)],
                                id="workers-table")
            with TabPane("u Queues", id="queues"):
                yield LiveTable([("App", 12), ("Queue", 30), ("Waiting", 9),
                                 ("By priority 0/3/6/9", 20), ("Reserved/ETA", 13)],
                                id="queues-table")
            with TabPane("k Tasks", id="tasks"):
                yield LiveTable([("State", 10), ("App", 12), ("Task", 28), ("Id", 38),
                                 ("Worker", 24), ("Runtime/ETA", 26), ("Args", None)],
                                id="tasks-table")
            with TabPane("f Failed", id="failed"):
                yield LiveTable([("Failed at", 9), ("App", 12), ("Task", 26),
                                 ("Exception", 40), ("Retry", 22), ("Id", None)],
                                id="failed-table")
            with TabPane("b Beat", id="beat"):
                yield LiveTable([("App", 12), ("Entry", 26), ("Task", 28), ("Schedule", 24),
                                 ("Last run", 9), ("Runs", 6), ("Args", None)],
                                id="beat-table")

    # -- drawing --------------------------------------------------------------------------
    def _snapshots(self) -> list[tuple[str, CelerySnapshot | None, str]]:
        found = []
        for view in self.session.board.backend_views("celery"):
            snap = view.result.snapshot if view.result else None
            found.append((view.backend.name, snap if isinstance(snap, CelerySnapshot) else None,
                          (view.result.error or "") if view.result else ""))
        return found

    def refresh_view(self) -> None:
        now = time.time()
        workers: list[Row] = []
        queues: list[Row] = []
        tasks: list[Row] = []
        failed: list[Row] = []
        beat: list[Row] = []
        notes: list[str] = []
        for app, snap, problem in self._snapshots():
            if problem:
                notes.append(f"{app}: {problem}")
            if snap is None:
                continue
            for note in (snap.results_note, snap.events_note, snap.inspect_note):
                if note:
                    notes.append(f"{app}: {note}")
            for w in snap.workers:
                load = " ".join(f"{x:.2f}" for x in w.load) if w.load else "-"
                since = format_span(now - w.since) if w.since else "-"
                workers.append((f"{app}|{w.name}", (
                    status_cell(Status.OK if w.online else Status.CRITICAL), _text(app),
                    _text(w.name), _text(since if w.online else f"off {since}"),
                    _text(w.pool_size or "-"), _text(w.processed if w.processed is not None
                                                     else "-"),
                    _text(load), _text(w.active), _text(w.reserved), _text(w.scheduled),
                    _text(",".join(w.queues)))))
            for q in snap.queues:
                queues.append((f"{app}|{q.name}", (
                    _text(app), _text(q.name), _text(q.waiting),
                    _text("/".join(str(n) for n in q.by_priority)), _text(q.unacked))))
            for t in snap.tasks:
                when = (format_span(now - t.started) if t.started else "-") \
                    if t.state != "scheduled" else (t.eta or "-")
                tasks.append((f"{app}|{t.task_id}", (
                    _text(t.state), _text(app), _text(t.name), _text(t.task_id),
                    _text(t.worker), _text(when), _text(f"{t.args} {t.kwargs}"))))
            for f in snap.failed:
                retry = "-" if not f.resendable else ""
                if f.retry_task_id:
                    retry = f"retried: {f.retry_state or 'PENDING'}"
                failed.append((f"{app}|{f.task_id}", (
                    _text(clock(f.failed_at)), _text(app), _text(f.name or "?"),
                    _text(f.exception, "red"), _text(retry or "not retried"),
                    _text(f.task_id))))
            if snap.beat is not None:
                if snap.beat.error:
                    notes.append(f"{app}: beat: {snap.beat.error}")
                elif snap.beat.modified is not None:
                    notes.append(f"{app}: beat schedule {snap.beat.path}: "
                                 f"{describe_age(snap.beat, now)} (beat writes it every few "
                                 "minutes)")
                for e in snap.beat.entries:
                    beat.append((f"{app}|{e.name}", (
                        _text(app), _text(e.name), _text(e.task), _text(e.schedule),
                        _text(clock(e.last_run) if e.last_run else "never"), _text(e.runs),
                        _text(e.args))))
        self.query_one("#celery-notes", Static).update(
            Text("\n".join(notes[:4]), style="yellow") if notes else "")
        for table_id, rows in (("workers", workers), ("queues", queues), ("tasks", tasks),
                               ("failed", failed), ("beat", beat)):
            self.query_one(f"#{table_id}-table", LiveTable).set_rows(rows)

    # -- selection ------------------------------------------------------------------------
    def _tab(self) -> str:
        return self.query_one(TabbedContent).active or "workers"

    def _selected(self, tab: str | None = None) -> tuple[str, str] | None:
        key = self.query_one(f"#{tab or self._tab()}-table", LiveTable).selected_key
        if not key:
            return None
        app, _, item = key.partition("|")
        return app, item

    def selected_target(self) -> str | None:
        chosen = self._selected()
        if chosen:
            return f"celery:{chosen[0]}"
        views = self.session.board.backend_views("celery")
        return f"celery:{views[0].backend.name}" if len(views) == 1 else None

    def apply_filter(self, text: str) -> None:
        for tab in TABS:
            self.query_one(f"#{tab}-table", LiveTable).set_filter(text)

    def _snapshot_of(self, app: str) -> tuple[Any, CelerySnapshot | None]:
        for view in self.session.board.backend_views("celery"):
            if view.backend.name == app:
                snap = view.result.snapshot if view.result else None
                return view.backend, snap if isinstance(snap, CelerySnapshot) else None
        return None, None

    def _start(self, app: str, verb: str, options: dict[str, Any]) -> None:
        backend, snap = self._snapshot_of(app)
        if backend is None:
            return
        spec = next((s for s in backend.actions(snap, f"celery:{app}", options)
                     if s.verb == verb and s.params.get("dry_run", False)
                     == bool(options.get("dry_run"))), None)
        if spec is None:
            self.notify(f"celery:{app} has no '{verb}' action here.", severity="warning")
            return
        self.ops.start_action(spec)

    # -- keys -----------------------------------------------------------------------------
    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.query_one(f"#{tab}-table", LiveTable).focus()

    def _need(self, tab: str, what: str) -> tuple[str, str] | None:
        chosen = self._selected(tab) if self._tab() == tab else None
        if chosen is None:
            self.notify(f"Select {what} on the {tab.capitalize()} tab first "
                        f"({tab[0] if tab != 'queues' else 'u'} shows it).", severity="warning")
        return chosen

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "failed-table":
            self.action_details()

    def action_details(self) -> None:
        chosen = self._need("failed", "a failed task")
        if chosen is None:
            return
        _, snap = self._snapshot_of(chosen[0])
        task = snap.failed_task(chosen[1]) if snap else None
        if task is not None:
            self.app.push_screen(FailedTaskScreen(chosen[0], task))

    def action_retry(self) -> None:
        chosen = self._need("failed", "a failed task")
        if chosen:
            self._start(chosen[0], "retry", {"task": chosen[1]})

    def action_bulk(self, dry_run: bool) -> None:
        chosen = self._need("failed", "a failed task (its name and exception choose the set)")
        if chosen is None:
            return
        _, snap = self._snapshot_of(chosen[0])
        task = snap.failed_task(chosen[1]) if snap else None
        if task is None:
            return
        self._start(chosen[0], "retry", {"name": task.name, "exception": task.exception_type,
                                         "dry_run": dry_run})

    def action_task_verb(self, verb: str) -> None:
        chosen = self._need("tasks", "a task")
        if chosen:
            self._start(chosen[0], verb, {"task": chosen[1]})

    def action_worker_verb(self, verb: str) -> None:
        chosen = self._need("workers", "a worker")
        if chosen:
            self._start(chosen[0], verb, {"worker": chosen[1]})
