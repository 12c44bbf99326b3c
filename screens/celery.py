"""The Celery view: workers, queues, tasks (active, reserved, scheduled), failed tasks, beat.

Failed tasks open a detail dialog with the exception, traceback, args and kwargs; actions
(retry, bulk retry, revoke, terminate, pool restart, shutdown) go through the dispatcher.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from backends.base import Backend
from backends.celery.backend import CeleryBackend
from backends.celery.beat import describe_age
from backends.celery.snapshot import CelerySnapshot, FailedTask, Worker
from console.core.durations import clock, format_span
from console.core.model import Status
from console.session import Polled
from screens.dialog import Dialog
from screens.table import TableScreen
from widgets.live_table import LiveTable, Row
from widgets.status_text import status_cell

TABS = ("workers", "queues", "tasks", "failed", "beat")


def _text(value: Any, style: str = "") -> Text:
    return Text(str(value), style=style, overflow="ellipsis", no_wrap=True)


class FailedTaskScreen(Dialog[None]):
    """Everything known about one failed task."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "close", "close")]

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
        # server text goes in as plain Text: never parsed as markup, whatever it holds
        detail = Text.assemble(
            (t.name or "?", "bold"), f"  {t.task_id}  ({self.app_name})\n",
            f"failed {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t.failed_at))} on "
            f"{t.worker or '?'} · queue {t.queue or '?'} · from {t.source}\n",
            (t.exception, "bold red"), "\n\n",
            ("args", "bold"), f"   {t.args}\n", ("kwargs", "bold"), f" {t.kwargs}\n",
            f"can be re-sent: {resend} · {retry}\n\n",
            ("traceback", "bold"), "\n", t.traceback or "(none recorded)", "\n\n",
            ("escape close · t on the list retries it", "dim"))
        with VerticalScroll(classes="dialog"):
            yield Static(detail, id="failed-detail")


class WorkerScreen(Dialog[None]):
    """One worker: its queues, the tasks it has registered, and `inspect stats`."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "close", "close")]

    def __init__(self, app_name: str, worker: Worker) -> None:
        super().__init__()
        self.app_name = app_name
        self.worker = worker

    def compose(self) -> ComposeResult:
        w = self.worker  # server text: shown as text, never as markup
        text = Text()
        text.append(w.name, style="bold").append(f"  ({self.app_name})  ")
        text.append("online" if w.online else "offline", style="" if w.online else "red")
        text.append(f"\nqueues: {', '.join(w.queues) or '-'}\n\n")
        text.append(f"registered tasks ({len(w.registered)})", style="bold")
        for name in w.registered or ["(none reported)"]:
            text.append(f"\n  {name}")
        text.append("\n\n").append("inspect stats", style="bold")
        for key, value in w.stats or [("(none reported)", "")]:
            text.append(f"\n  {key} = {value}" if value else f"\n  {key}")
        text.append("\n\nescape close · opsconsole --headless call celery:APP TASK calls a "
                    "registered task", style="dim")
        with VerticalScroll(classes="dialog"):
            yield Static(text, id="worker-detail")


BEAT_HINT = ("No beat schedule to show. Point beat_schedule in [[celery]] at the file celery "
             "beat keeps (beat's -s option, e.g. beat_schedule = \"/var/lib/app/"
             "celerybeat-schedule\"); its entries come from the app's beat_schedule setting.")


class CeleryScreen(TableScreen[CelerySnapshot]):
    VIEW = "celery"
    DEFAULT_CSS = """
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
        Binding("c", "call", "call a task"),
    ]

    def __init__(self) -> None:
        super().__init__(CeleryBackend)

    def compose_tables(self) -> ComposeResult:
        with TabbedContent(initial="workers", id="celery-tabs"):
            with TabPane("w Workers", id="workers"):
                yield LiveTable([("Status", 4), ("App", 12, 2), ("Worker", None),
                                 ("Since", 10, 3), ("Pool", 5, 4), ("Processed", 10, 3),
                                 ("Load", 15, 4), ("Active", 7, 1), ("Reserved", 9, 2),
                                 ("Sched", 6, 2), ("Queues", None)],
                                id="workers-table")
            with TabPane("u Queues", id="queues"):
                yield LiveTable([("App", 12), ("Queue", 30), ("Waiting", 9),
                                 ("By priority 0/3/6/9", 20), ("Reserved/ETA", 13)],
                                id="queues-table")
            with TabPane("k Tasks", id="tasks"):
                yield LiveTable([("State", 10), ("App", 12, 3), ("Task", 28), ("Id", 38, 4),
                                 ("Worker", 24, 3), ("Runtime/ETA", 26, 1), ("Args", None)],
                                id="tasks-table")
            with TabPane("f Failed", id="failed"):
                yield LiveTable([("Failed at", 9), ("App", 12, 3), ("Task", 26),
                                 ("Retry", 22, 2), ("Id", 38, 4), ("Exception", None)],
                                id="failed-table")
            with TabPane("b Beat", id="beat"):
                yield LiveTable([("App", 12, 3), ("Entry", 26), ("Task", 28, 1),
                                 ("Schedule", 24, 1), ("Last run", 9, 2), ("Runs", 6, 3),
                                 ("Args", None)],
                                id="beat-table")
                yield Static(BEAT_HINT, id="beat-hint", classes="caption")

    # -- drawing --------------------------------------------------------------------------
    def extra_notices(self, polled: list[Polled[CelerySnapshot]]) -> Iterable[str]:
        now = time.time()
        for each in polled:
            app, snap = each.backend.name, each.snapshot
            if snap is None:
                continue
            for note in (snap.results_note, snap.events_note, snap.inspect_note):
                if note:
                    yield f"{app}: {note}"
            if snap.beat is not None and snap.beat.error:
                yield f"{app}: beat: {snap.beat.error}"
            elif snap.beat is not None and snap.beat.modified is not None:
                yield (f"{app}: beat schedule {snap.beat.path}: {describe_age(snap.beat, now)}"
                       " (beat writes it every few minutes)")

    def refresh_view(self) -> None:
        now = time.time()
        workers: list[Row] = []
        queues: list[Row] = []
        tasks: list[Row] = []
        failed: list[Row] = []
        beat: list[Row] = []
        for polled in self.polled():
            app, snap = polled.backend.name, polled.snapshot
            if snap is None:
                continue
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
                    _text(app), _text(q.name), _text(q.problem or q.waiting),
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
                    _text(retry or "not retried"), _text(f.task_id),
                    _text(f.exception, "red"))))
            if snap.beat is not None:
                for e in snap.beat.entries:
                    beat.append((f"{app}|{e.name}", (
                        _text(app), _text(e.name), _text(e.task), _text(e.schedule),
                        _text(clock(e.last_run) if e.last_run else "never"), _text(e.runs),
                        _text(e.args))))
        for table_id, rows in (("workers", workers), ("queues", queues), ("tasks", tasks),
                               ("failed", failed), ("beat", beat)):
            self.query_one(f"#{table_id}-table", LiveTable).set_rows(rows)
        self.query_one("#beat-hint", Static).display = not beat

    # -- selection ------------------------------------------------------------------------
    def _tab(self) -> str:
        return self.query_one(TabbedContent).active or "workers"

    def table(self) -> LiveTable:
        return self.query_one(f"#{self._tab()}-table", LiveTable)

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
        polled = self.polled()
        return f"celery:{polled[0].backend.name}" if len(polled) == 1 else None

    def _snapshot_of(self, app: str) -> tuple[Backend[CelerySnapshot] | None,
                                              CelerySnapshot | None]:
        for polled in self.polled():
            if polled.backend.name == app:
                return polled.backend, polled.snapshot
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
        event.prevent_default()  # failed tasks and workers have details
        event.stop()
        if event.data_table.id == "failed-table":
            self.action_details()
        elif event.data_table.id == "workers-table":
            chosen = self._selected("workers")
            if chosen is not None:
                _, snap = self._snapshot_of(chosen[0])
                worker = next((w for w in snap.workers if w.name == chosen[1]), None) \
                    if snap else None
                if worker is not None:
                    self.app.push_screen(WorkerScreen(chosen[0], worker))

    def action_details(self) -> None:
        chosen = self._need("failed", "a failed task")
        if chosen is not None:
            self.open_details("|".join(chosen))

    def open_details(self, key: str) -> None:
        app, _, task_id = key.partition("|")
        _, snap = self._snapshot_of(app)
        task = snap.failed_task(task_id) if snap else None
        if task is not None:
            self.app.push_screen(FailedTaskScreen(app, task))

    def action_call(self) -> None:
        """Choose a registered task and its arguments, then send it (confirmed, audited,
        followed to its end when the app has a result backend)."""
        target = self.selected_target()
        if target is None:
            self.notify("Select a row of the app first.", severity="warning")
            return
        app = target.split(":", 1)[1]
        backend, snap = self._snapshot_of(app)
        registered = sorted({t for w in snap.online for t in w.registered}) if snap else []
        if backend is None or not registered:
            self.notify(f"{target}: no online worker has reported its registered tasks yet.",
                        severity="warning")
            return
        from screens.call_task import CallTaskScreen

        def chosen(options: dict[str, Any] | None) -> None:
            if options:  # followed to its end when there is a result backend to ask
                config = getattr(backend, "config", None)
                wait = 60.0 if getattr(config, "backend", None) else 0.0
                self._start(app, "call", {**options, "wait": wait})

        self.app.push_screen(CallTaskScreen(target, registered), chosen)

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
