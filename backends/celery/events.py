"""A background receiver of Celery task and worker events, reconnecting when the broker drops.

It keeps Celery's own `events.State` (worker heartbeats, load, task names and arguments),
hands task failures to the store as they happen, notes the outcome of re-sent tasks, and
calls `changed()` so the console re-polls at once instead of at the next interval.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from backends.celery.store import FailedStore, Failure

RECONNECT_MAX = 30.0
PRESENCE_KEPT = 500  # worker-online/offline events kept for the timeline
CHANGE_EVENTS = ("task-failed", "task-succeeded", "task-started", "task-received",
                 "task-revoked", "worker-online", "worker-offline")


class EventsReceiver:
    """Owns one thread; `start()` once, `stop()` at close."""

    def __init__(self, app: Any, store: FailedStore, name: str) -> None:
        self.app = app
        self.store = store
        self.name = name
        self.state = app.events.State(max_tasks_in_memory=2000, max_workers_in_memory=200)
        self.lock = threading.Lock()
        self.connected = False
        self.error: str | None = None
        self.last_event: float | None = None
        self.events_seen = 0
        self.failures_seen = 0
        self._changed: Callable[[], None] | None = None
        self._stop = threading.Event()
        self._receiver: Any = None
        self._retried: set[str] = set()
        self._thread: threading.Thread | None = None
        self.presence: deque[tuple[float, str, str]] = deque(maxlen=PRESENCE_KEPT)

    def start(self, changed: Callable[[], None]) -> None:
        self._changed = changed
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"celery-events-{self.name}",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the stream to end. It does within a second (capture() looks at should_stop
        every second) and closes its connection; nothing waits for it, so quitting the
        console is not held up by it (the thread is a daemon)."""
        self._stop.set()
        receiver = self._receiver
        if receiver is not None:
            receiver.should_stop = True

    def follow_retries(self, task_ids: list[str]) -> None:
        """Re-sent task ids whose outcome should be written down when their event arrives."""
        self._retried = set(task_ids)

    def note(self) -> str:
        """One line about the stream, for the screen."""
        if self.error and not self.connected:
            return f"events: reconnecting ({self.error})"
        if self.last_event is None:
            return "events: connected, none received yet (workers started without -E?)"
        return f"events: {self.events_seen} received"

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                with self.app.connection_for_read() as connection:
                    self._receiver = self.app.events.Receiver(
                        connection, handlers={"*": self._on_event})
                    self.connected = True
                    self.error = None
                    delay = 1.0
                    # capture() checks should_stop every second; it returns only on stop or error
                    self._receiver.capture(limit=None, timeout=None, wakeup=False)
            except Exception as exc:  # the broker went away: say so and retry
                self.error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            finally:
                self.connected = False
                self._receiver = None
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, RECONNECT_MAX)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        with self.lock:
            self.state.event(event)
            self.last_event = time.time()
            self.events_seen += 1
            task = self.state.tasks.get(event.get("uuid")) if kind.startswith("task-") else None
            failure = _failure(task, event) if kind == "task-failed" and task is not None else None
        try:
            if failure is not None:
                self.failures_seen += 1
                self.store.record([failure])
            if kind in ("task-succeeded", "task-failed", "task-revoked") and \
                    event.get("uuid") in self._retried:
                state = {"task-succeeded": "SUCCESS", "task-failed": "FAILURE",
                         "task-revoked": "REVOKED"}[kind]
                self.store.set_retry_states({event["uuid"]: state})
        except Exception as exc:  # a full disk must not kill the stream; shown on screen
            self.error = f"cannot record a failed task: {exc}"
        if kind in ("worker-online", "worker-offline"):
            # (when, worker, "online"/"offline"): Celery keeps no record of these itself
            self.presence.append((float(event.get("timestamp") or time.time()),
                                  str(event.get("hostname") or "?"), kind.split("-", 1)[1]))
        if kind in CHANGE_EVENTS and self._changed is not None:
            self._changed()

    def worker_facts(self) -> dict[str, dict[str, Any]]:
        """Heartbeat facts by worker: load average, processed count, alive, last heartbeat."""
        with self.lock:
            return {name: {"loadavg": tuple(w.loadavg or ()), "processed": w.processed,
                           "active": w.active, "alive": w.alive,
                           "heartbeat": w.heartbeats[-1] if w.heartbeats else None}
                    for name, w in self.state.workers.items()}


def _failure(task: Any, event: dict[str, Any]) -> Failure:
    return Failure(task_id=task.uuid, name=task.name or "", failed_at=float(
        event.get("timestamp") or time.time()), exception=str(event.get("exception") or ""),
        traceback=str(event.get("traceback") or ""), worker=str(event.get("hostname") or ""),
        queue=str(task.routing_key or ""), source="events",
        args_repr=str(task.args or ""), kwargs_repr=str(task.kwargs or ""))
