"""Notifications on change: `[[notify]]` entries, what to send this run, and sending it.

Each entry is an Apprise URL (Slack, Matrix, ntfy, e-mail, JSON webhooks...) with a minimum
status, target globs, a reminder interval and a recovery message. What was last told to an
entry about a target is kept in the state database, so a cron job every minute sends a
message when something changes, not every minute. A target that changes more than
`flap_changes` times within `flap_window` is told once as flapping, with the count. A message
that cannot be delivered waits in an outbox and is retried on the next run; every delivery
is bounded by the time the run has left, so the check keeps its deadline.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core import statedb
from console.core.configtable import Table
from console.core.errors import one_line
from console.core.loglines import printable
from console.core.model import Status
from console.core.secrets import Redactor, url_tokens
from console.core.targets import matches
from console.silences import Silence
from console.transitions import TransitionLog

OUTBOX_KEEP = 86400.0  # a message that failed for a day is dropped (and said so)
_FLAPPING = -1  # notify_state.sent_status while a target is told as flapping
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS notify_state (
        entry TEXT NOT NULL, target TEXT NOT NULL, sent_status INTEGER NOT NULL,
        sent_at REAL NOT NULL, PRIMARY KEY (entry, target))""",
    """CREATE TABLE IF NOT EXISTS notify_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL, title TEXT NOT NULL,
        body TEXT NOT NULL, created REAL NOT NULL, attempts INTEGER NOT NULL,
        last_error TEXT NOT NULL)""",
)
_STATUS_NAMES = {"warning": Status.WARNING, "unknown": Status.UNKNOWN,
                 "critical": Status.CRITICAL}


@dataclass(frozen=True)
class NotifyEntry:
    """One `[[notify]]` table."""

    name: str
    url: str = field(repr=False)  # holds the service's credentials
    min_status: Status = Status.WARNING
    targets: tuple[str, ...] = ("*",)
    renotify: float = 0.0
    recovery: bool = True
    timeout: float = 10.0
    flap_window: float = 3600.0
    flap_changes: int = 4

    def alerting(self, status: Status) -> bool:
        return status.severity >= self.min_status.severity

    def wants(self, target: str) -> bool:
        return matches(target, self.targets)


def parse_notify(table: Table, index: int) -> NotifyEntry:
    """A `[[notify]]` table; the URL must be one Apprise understands, its secrets are masked."""
    name = table.name("name", f"notify{index}")
    raw = table.text("url")
    url = table.expand("url", raw)
    table.redactor.add(*url_tokens(url))
    import apprise

    if apprise.Apprise.instantiate(url) is None:
        raise table.error("url", f"not a notification URL Apprise knows ({table.redactor(url)}): "
                                 "see the Apprise wiki for the syntax of each service")
    entry = NotifyEntry(
        name=name, url=url,
        min_status=_STATUS_NAMES[table.text("min_status", "warning", choices=_STATUS_NAMES)],
        targets=tuple(table.str_list("targets", ["*"])),
        renotify=table.duration("renotify", 0.0),
        recovery=table.flag("recovery", True),
        timeout=table.duration("timeout", 10.0),
        flap_window=table.duration("flap_window", 3600.0),
        flap_changes=table.integer("flap_changes", 4, minimum=2),
    )
    table.check(entry.timeout > 0, "timeout", "must be more than 0s")
    table.done()
    return entry


@dataclass(frozen=True)
class Message:
    entry: str
    title: str
    body: str


@dataclass
class NotifyReport:
    """What this run's notifications did, for the check output."""

    sent: list[Message] = field(default_factory=list)
    failed: list[tuple[Message, str]] = field(default_factory=list)
    dropped: list[Message] = field(default_factory=list)

    def lines(self) -> list[str]:
        found = []
        by_entry: dict[str, int] = {}
        for message in self.sent:
            by_entry[message.entry] = by_entry.get(message.entry, 0) + 1
        for entry, count in sorted(by_entry.items()):
            found.append(f"NOTIFY {entry} - sent {count} message{'s' * (count != 1)}")
        for message, error in self.failed:
            found.append(f"NOTIFY {message.entry} - delivery failed ({error}): "
                         f"\"{message.title}\" will be retried on the next run")
        for message in self.dropped:
            found.append(f"NOTIFY {message.entry} - gave up on \"{message.title}\" after "
                         f"{OUTBOX_KEEP / 3600:g}h of failed deliveries")
        return found

    def as_dict(self) -> dict[str, Any]:
        return {"sent": [m.__dict__ for m in self.sent],
                "failed": [m.__dict__ | {"error": e} for m, e in self.failed],
                "dropped": [m.__dict__ for m in self.dropped]}


class NotifyState:
    """What each entry was last told about each target, and the outbox of undelivered messages."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def _connect(self) -> sqlite3.Connection:
        return statedb.connect(self.state_dir, *_SCHEMA)

    def told(self) -> dict[tuple[str, str], tuple[int, float]]:
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT entry, target, sent_status, sent_at FROM notify_state").fetchall()
        finally:
            connection.close()
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def remember(self, entry: str, target: str, status: int, now: float) -> None:
        connection = self._connect()
        try:
            connection.execute("INSERT OR REPLACE INTO notify_state VALUES (?, ?, ?, ?)",
                               (entry, target, status, now))
        finally:
            connection.close()

    def outbox(self) -> list[tuple[int, Message, float]]:
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT id, entry, title, body, created FROM notify_outbox ORDER BY id").fetchall()
        finally:
            connection.close()
        return [(r[0], Message(r[1], r[2], r[3]), r[4]) for r in rows]

    def queue(self, message: Message, error: str, now: float) -> None:
        connection = self._connect()
        try:
            connection.execute("INSERT INTO notify_outbox (entry, title, body, created, attempts, "
                               "last_error) VALUES (?, ?, ?, ?, 1, ?)",
                               (message.entry, message.title, message.body, now, error))
        finally:
            connection.close()

    def settle(self, outbox_id: int, error: str | None) -> None:
        """A retried message was delivered (None) or failed again."""
        connection = self._connect()
        try:
            if error is None:
                connection.execute("DELETE FROM notify_outbox WHERE id = ?", (outbox_id,))
            else:
                connection.execute("UPDATE notify_outbox SET attempts = attempts + 1, "
                                   "last_error = ? WHERE id = ?", (error, outbox_id))
        finally:
            connection.close()


def plan(entries: list[NotifyEntry], statuses: dict[str, tuple[Status, str]],
         silenced: dict[str, Silence], expired: list[Silence], log: TransitionLog,
         state: NotifyState, host: str, now: float) -> list[tuple[Message, str, int]]:
    """The messages this run sends: (message, target, status to remember) for each."""
    told = state.told()
    planned: list[tuple[Message, str, int]] = []
    for entry in entries:
        for silence in expired:
            covered = [t for t in statuses if silence.covers(t)] or [silence.pattern]
            if any(entry.wants(t) for t in covered):
                planned.append((Message(entry.name, f"[{host}] silence ended: {silence.pattern}",
                                        f"The silence on {silence.pattern} set by {silence.who} "
                                        f"({silence.reason}) has ended; its targets alert "
                                        "again."), "", 0))
        for target, (status, summary) in sorted(statuses.items()):
            if not entry.wants(target) or target in silenced:
                continue
            message = _decide(entry, target, status, summary, told.get((entry.name, target)),
                              log, host, now)
            if message is not None:
                planned.append(message)
    return planned


def _decide(entry: NotifyEntry, target: str, status: Status, summary: str,
            last: tuple[int, float] | None, log: TransitionLog, host: str,
            now: float) -> tuple[Message, str, int] | None:
    sent_status, sent_at = last if last else (int(Status.OK), 0.0)
    changes = log.changes_since(target, now - entry.flap_window)
    line = f"{status.name} {target} - {summary}"

    def message(title: str, body: str, remember: int) -> tuple[Message, str, int]:
        return Message(entry.name, f"[{host}] {title}", body), target, remember

    if changes >= entry.flap_changes:
        if sent_status == _FLAPPING:
            return None
        window = f"{entry.flap_window / 60:g} min"
        return message(f"FLAPPING {target}",
                       f"{target} changed status {changes} times in the last {window}; "
                       f"now {line}. No more messages until it settles.", _FLAPPING)
    if entry.alerting(status):
        if sent_status == int(status):
            if entry.renotify and now - sent_at >= entry.renotify:
                return message(f"STILL {status.name} {target}", line, int(status))
            return None
        return message(f"{status.name} {target}", line, int(status))
    if sent_status == int(Status.OK) or sent_status == int(status):
        return None
    if not entry.recovery and sent_status != _FLAPPING:
        # No recovery message wanted: remember the target is fine without sending anything.
        return Message(entry.name, "", ""), target, int(Status.OK)
    return message(f"RECOVERED {target}" if status is Status.OK else f"{status.name} {target}",
                   line, int(Status.OK))


def deliver(url: str, title: str, body: str, timeout: float) -> str | None:
    """Send one message through Apprise within `timeout` seconds; the error, or None."""
    outcome: list[str | None] = []

    def send() -> None:
        try:
            import apprise

            sender = apprise.Apprise()
            if not sender.add(url):
                outcome.append("the URL was not accepted")
                return
            result = sender.notify(body=body or title, title=title, timeout=timeout)
            if result:
                outcome.append(None)
                return
            errors = [e.message for e in result.logs() if e.level in ("ERROR", "WARNING")]
            outcome.append(errors[-1] if errors else "the service did not accept it")
        except Exception as exc:  # any failure of a plugin is a failed delivery
            outcome.append(one_line(exc))

    # A daemon thread: a service that hangs past the bound must not hold the process open.
    worker = threading.Thread(target=send, name="notify", daemon=True)
    worker.start()
    worker.join(timeout + 0.1)
    if not outcome:
        return f"no answer within {timeout:.1f}s"
    return outcome[0]


def send_all(entries: list[NotifyEntry], planned: list[tuple[Message, str, int]],
             state: NotifyState, redactor: Redactor, deadline: float,
             now: float | None = None) -> NotifyReport:
    """Retry the outbox, then send this run's messages, each entry in its own thread.

    `deadline` is a time.monotonic() value no delivery may pass.
    """
    now = time.time() if now is None else now
    report = NotifyReport()
    by_name = {e.name: e for e in entries}
    for message, target, remember in planned:
        if target:
            state.remember(message.entry, target, remember, now)
    backlog: dict[str, list[tuple[int | None, Message]]] = {e.name: [] for e in entries}
    for outbox_id, message, created in state.outbox():
        if message.entry not in by_name or now - created > OUTBOX_KEEP:
            state.settle(outbox_id, None)
            report.dropped.append(message)
            continue
        backlog[message.entry].append((outbox_id, message))
    for message, _, _ in planned:
        if message.title:
            backlog[message.entry].append((None, message))
    lock = threading.Lock()

    def run(entry: NotifyEntry, queue: list[tuple[int | None, Message]]) -> None:
        broken: str | None = None
        for outbox_id, message in queue:
            left = deadline - time.monotonic() - 0.2  # room to record the outcome
            if broken is None and left < 0.2:
                broken = "the check's deadline came first"
            error = broken or deliver(entry.url, message.title, message.body,
                                      min(entry.timeout, left))
            error = printable(redactor(error)) if error else None
            if error and broken is None:
                broken = f"not tried: an earlier message failed ({error})"
            with lock:
                if outbox_id is not None:
                    state.settle(outbox_id, error)
                elif error:
                    state.queue(message, error, now)
                if error:
                    report.failed.append((message, error))
                else:
                    report.sent.append(message)

    threads = [threading.Thread(target=run, args=(by_name[name], queue), daemon=True)
               for name, queue in backlog.items() if queue]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 0.2)
    return report
