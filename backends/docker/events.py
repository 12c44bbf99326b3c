"""The engine's events stream, read in a thread that reconnects, waking the poller on change.

The stream is opened for a window at a time (`until`), so a hung engine is noticed by the
read timeout and the thread reconnects from the last event it saw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from backends.docker.engine import Engine
from console.core.errors import one_line

WINDOW = 60.0
# Actions that do not change what the console shows (health probes are exec_* events).
QUIET_ACTIONS = ("exec_create", "exec_start", "exec_die", "exec_detach", "top", "resize",
                 "attach", "detach", "archive-path", "extract-to-dir", "export", "commit",
                 "copy")


class EventWatcher:
    """Calls `on_event(container_id, name, labels)` for each container event worth a poll."""

    def __init__(self, engine: Engine, on_event: Callable[[str, str, dict[str, str]], None],
                 on_reconnect: Callable[[], None]) -> None:
        self.engine = engine
        self.on_event = on_event
        self.on_reconnect = on_reconnect
        self.connected = False
        self.reconnects = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._stream: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="docker-events", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        since: float | None = None
        failures = 0
        while not self._stop.is_set():
            client = None
            try:
                client = self.engine.stream_client(WINDOW + self.engine.timeout)
                now = time.time()
                stream = client.api.events(since=since or now, until=now + WINDOW, decode=True,
                                           filters={"type": ["container"]})
                self._stream = stream
                if failures:
                    self.on_reconnect()  # events may have been missed while away
                self.connected, self.error, failures = True, None, 0
                for event in stream:
                    if self._stop.is_set():
                        return
                    since = float(event.get("timeNano") or 0) / 1e9 or event.get("time") or since
                    action = str(event.get("Action") or event.get("status") or "")
                    if action.split(":", 1)[0] in QUIET_ACTIONS:
                        continue
                    actor = event.get("Actor") or {}
                    attributes = dict(actor.get("Attributes") or {})
                    self.on_event(str(actor.get("ID") or event.get("id") or ""),
                                  str(attributes.get("name") or ""), attributes)
                if time.time() >= now + WINDOW - 1:
                    since = now + WINDOW  # the window ran out: carry on from its end
            except Exception as exc:  # engine away or hung: retry with a backoff
                if self._stop.is_set():
                    return
                self.connected = False
                self.error = one_line(exc, limit=200)
                failures += 1
                self.reconnects += 1
                self._stop.wait(min(30.0, 0.5 * 2 ** min(failures, 6)))
            finally:
                self._stream = None
                if client is not None:
                    client.close()

    def close(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:
                pass
