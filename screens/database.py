"""The Database view: health, sessions (slow, blocked, idle in transaction), tables, indexes,
top statements, replication slots and the backups list of each configured PostgreSQL."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static

from backends.postgres.backend import PostgresBackend
from backends.postgres.snapshot import PostgresSnapshot
from console.core.durations import format_span
from console.core.model import Status
from console.core.sizes import format_bytes
from console.session import Polled
from screens.table import TableScreen
from widgets.live_table import LiveTable, Row
from widgets.status_text import status_cell, styled


def _ago(ts: float | None) -> str:
    return "never" if ts is None else format_span(time.time() - ts) + " ago"


class DatabaseScreen(TableScreen[PostgresSnapshot]):
    VIEW = "database"
    DEFAULT_CSS = """
    DatabaseScreen #pg-summary { height: auto; padding: 0 1; }
    DatabaseScreen #pg-sessions { height: 1fr; }
    DatabaseScreen #pg-tables { height: 1fr; }
    DatabaseScreen #pg-other { height: 1fr; }
    DatabaseScreen #pg-backups { height: 1fr; display: none; }
    DatabaseScreen.-backups #pg-backups { display: block; }
    DatabaseScreen.-backups #pg-tables, DatabaseScreen.-backups #pg-other { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "backup", "backup"),
        Binding("v", "vacuum", "vacuum"),
        Binding("c", "signal('cancel')", "cancel"),
        Binding("k", "signal('terminate')", "terminate"),
        Binding("B", "toggle_backups", "backups", key_display="B"),
        Binding("R", "restore('restore')", "restore", key_display="R"),
        Binding("T", "restore('restore-test')", "test-restore", key_display="T"),
        Binding("n", "next_database", "next db", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(PostgresBackend)
        self.current = 0

    def compose_tables(self) -> ComposeResult:
        yield Static("Waiting for the first poll...", id="pg-summary")
        yield LiveTable([("St", 5), ("Pid", 8, 1), ("User", 12, 3), ("State", 20, 2),
                         ("For", 9, 1), ("Waits for", 12, 2), ("Query", None)], id="pg-sessions")
        yield LiveTable([("Table", 32), ("Size", 10), ("Rows", 11, 1), ("Dead", 9, 2),
                         ("Vacuumed", 12, 3), ("Analyzed", 12, 3)], id="pg-tables")
        yield LiveTable([("Kind", 14), ("Name", 40, 1), ("Size/time", 12, 2), ("Detail", None)],
                        id="pg-other")
        yield LiveTable([("Backup", None), ("Age", 12, 1), ("Size", 10, 2), ("Verified", 10, 1),
                         ("Note", None)], id="pg-backups")

    # -- state ----------------------------------------------------------------------------
    def _view(self) -> Polled[PostgresSnapshot] | None:
        polled = self.polled()
        return polled[self.current % len(polled)] if polled else None

    def refresh_view(self) -> None:
        view = self._view()
        summary = self.query_one("#pg-summary", Static)
        if view is None:
            summary.update("No [[postgres]] configured.")
            return
        snap = view.snapshot
        if snap is None:  # the notice line above says why
            summary.update(Text(f"postgres:{view.backend.name}", style="bold"))
            for table in self.tables():
                table.set_rows([])
            return
        summary.update(self._summary(view, snap))
        self._fill_sessions(snap)
        self._fill_tables(snap)
        self._fill_other(snap)
        self._fill_backups(snap)

    def _summary(self, view: Polled[PostgresSnapshot], snap: PostgresSnapshot) -> Text:
        checks = view.checks
        worst = view.status(f"postgres:{view.backend.name}")
        backend = view.backend
        where = backend.location()
        states = ", ".join(f"{state} {count}" for state, count in snap.connections)
        lag = "-" if snap.replication_lag is None else format_span(snap.replication_lag)
        cache = "-" if snap.cache_hit is None else f"{snap.cache_hit * 100:.1f}%"
        text = Text.assemble(
            status_cell(worst), "  ", (f"postgres:{view.backend.name}", "bold"),
            f"  {where}  {snap.role} {snap.version.split()[0]}"
            f"  up {format_span(snap.uptime)}  size {format_bytes(snap.size)}"
            f"  conn {snap.connection_count}/{snap.max_connections} ({states})"
            f"  cache hit {cache}  lag {lag}")
        problems = [c for c in checks if c.status is not Status.OK]
        for check in problems:
            text.append("\n")
            text.append_text(styled(f"{check.status.short} {check.check}: {check.summary}",
                                    check.status))
        for panel, reason in snap.panels_off:
            text.append(f"\n{panel} off: {reason}", style="dim")
        return text

    def _fill_sessions(self, snap: PostgresSnapshot) -> None:
        rows: list[Row] = []
        for s in snap.sessions:
            status = (Status.CRITICAL if s.blocked_by else Status.WARNING if s.blocking
                      or s.idle_in_transaction or s.state == "active" else Status.OK)
            seconds = s.xact_seconds if s.idle_in_transaction else s.query_seconds
            rows.append((f"pid:{s.pid}", (
                status_cell(status), Text(str(s.pid)), Text(s.user),
                Text(("blocking · " if s.blocking else "") + s.state),
                Text(format_span(seconds or 0)),
                Text(", ".join(str(p) for p in s.blocked_by) or "-"),
                Text(" ".join(s.query.split()), overflow="ellipsis", no_wrap=True))))
        self.query_one("#pg-sessions", LiveTable).set_rows(rows)

    def _fill_tables(self, snap: PostgresSnapshot) -> None:
        rows: list[Row] = []
        for t in snap.tables:
            size = format_bytes(t.size) + (" ~locked" if t.locked else "")
            rows.append((f"table:{t.qualified}", (
                Text(t.qualified), Text(size, style="yellow" if t.locked else ""),
                Text(f"{t.live_rows:,}"), Text(f"{t.dead_rows:,}"),
                Text(_ago(t.last_vacuum)), Text(_ago(t.last_analyze)))))
        self.query_one("#pg-tables", LiveTable).set_rows(rows)

    def _fill_other(self, snap: PostgresSnapshot) -> None:
        rows: list[Row] = []
        for i in snap.unused_indexes:
            rows.append((f"index:{i.schema}.{i.index}", (
                Text("unused index"), Text(f"{i.schema}.{i.index}"), Text(format_bytes(i.size)),
                Text(f"on {i.table}, never scanned"))))
        for n, st in enumerate(snap.statements or ()):
            rows.append((f"stmt:{n}", (
                Text("statement"), Text(" ".join(st.query.split()), overflow="ellipsis",
                                        no_wrap=True),
                Text(f"{st.total_seconds:.1f}s"),
                Text(f"{st.calls} calls, mean {st.mean_seconds * 1000:.1f} ms"))))
        for slot in snap.slots:
            rows.append((f"slot:{slot.name}", (
                styled("slot", Status.OK if slot.active else Status.WARNING), Text(slot.name),
                Text(format_bytes(slot.retained_bytes)),
                Text(f"{slot.type}, {'active' if slot.active else 'INACTIVE: retains WAL'}"))))
        for replica in snap.replicas:
            rows.append((f"replica:{replica.name}:{replica.client}", (
                Text("replica"), Text(f"{replica.name} {replica.client}"),
                Text(format_span(replica.lag)), Text(replica.state))))
        self.query_one("#pg-other", LiveTable).set_rows(rows)

    def _fill_backups(self, snap: PostgresSnapshot) -> None:
        rows: list[Row] = []
        for b in snap.backups:
            rows.append((f"backup:{b.path}", (
                Text(b.path.rsplit("/", 1)[-1]), Text(_ago(b.started)), Text(format_bytes(b.size)),
                styled("verified" if b.verified else "NO", Status.OK if b.verified
                       else Status.WARNING), Text(b.note, style="dim"))))
        table = self.query_one("#pg-backups", LiveTable)
        table.empty = f"no backups in {snap.backup_dir or '(no backup dir configured)'}"
        table.set_rows(rows)

    # -- selection and keys ---------------------------------------------------------------
    def selected_target(self) -> str | None:
        view = self._view()
        return f"postgres:{view.backend.name}" if view else None

    def _selected(self, table_id: str, prefix: str) -> str | None:
        key = self.query_one(table_id, LiveTable).selected_key
        return key[len(prefix):] if key and key.startswith(prefix) else None

    def _start(self, verb: str, options: dict[str, Any]) -> None:
        view = self._view()
        if view is None:
            return
        target = f"postgres:{view.backend.name}"
        try:
            specs = view.backend.actions(view.snapshot, target, options)
        except Exception as exc:  # a bad option (pid) reads as a notice, not a crash
            self.notify(str(exc), severity="warning")
            return
        spec = next((s for s in specs if s.verb == verb), None)
        if spec is None:
            self.notify(f"{target} has no '{verb}' action.", severity="warning")
            return
        self.ops.start_action(spec)

    def action_backup(self) -> None:
        self._start("backup", {})

    def action_vacuum(self) -> None:
        focused = self.focused
        table = self._selected("#pg-tables", "table:") if (
            focused is not None and focused.id == "pg-tables") else None
        self._start("vacuum", {"table": table} if table else {})

    def action_signal(self, verb: str) -> None:
        pid = self._selected("#pg-sessions", "pid:")
        if pid is None:
            self.notify("Select a session in the sessions list first.", severity="warning")
            return
        self._start(verb, {"pid": int(pid)})

    def action_toggle_backups(self) -> None:
        self.toggle_class("-backups")
        if self.has_class("-backups"):
            self.query_one("#pg-backups", LiveTable).focus()
            self.notify("Backups: R restore the selected one, T test-restore it, B to go back.",
                        timeout=4)

    def action_restore(self, verb: str) -> None:
        path = self._selected("#pg-backups", "backup:") if self.has_class("-backups") else None
        if path is None:
            self.notify("Open the backups list (B) and select a backup first.",
                        severity="warning")
            return
        self._start(verb, {"from": path})

    def action_next_database(self) -> None:
        self.current += 1
        self.refresh_view()
