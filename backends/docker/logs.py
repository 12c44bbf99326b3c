"""Container logs as LogLines: a tail, then a follow, with stdout and stderr told apart.

Docker multiplexes both streams into one response, so each stream is read by its own call
(the only way the SDK keeps them apart); lines carry Docker's timestamps and are merged by time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from backends.docker.engine import Engine
from backends.docker.inspect import docker_time
from console.core.loglines import LastTime, LogLine, printable

STREAMS = ("stdout", "stderr")
MAX_PENDING = 20_000  # lines kept for a reader that does not drain (a hidden view)


def level_of(text: str, source: str) -> str:
    """A level for colouring, guessed from the words of the line."""
    lowered = text[:200].lower()
    if any(word in lowered for word in ("fatal", "panic", "critical")):
        return "fatal"
    if "error" in lowered or "exception" in lowered or "traceback" in lowered:
        return "error"
    if "warn" in lowered:
        return "warning"
    return ""


def parse_line(raw: str, source: str) -> LogLine:
    """`2026-11-23T18:00:08.123456789Z text` (Docker's --timestamps form) as a LogLine."""
    stamp, sep, text = raw.partition(" ")
    ts = docker_time(stamp) if sep else None
    if ts is None:
        text = raw
    text = printable(text.rstrip("\r\n"))
    return LogLine(ts, text, level_of(text, source), source)


def _lines(data: bytes, source: str) -> list[LogLine]:
    return [parse_line(raw, source)
            for raw in data.decode("utf-8", "backslashreplace").splitlines() if raw]


def tail(client: Any, container: str, count: int) -> list[LogLine]:
    """The last `count` lines of each stream, merged by time (thread side)."""
    merged: list[LogLine] = []
    for source in STREAMS:
        data = client.api.logs(container, stdout=source == "stdout",
                               stderr=source == "stderr", timestamps=True, tail=count)
        merged.extend(_lines(data, source))
    merged.sort(key=lambda line: line.ts or 0.0)
    return merged[-count:]


class LogFollower:
    """Tail then follow one container's logs in two threads; the reader drains batches.

    `ready()` is called (from a follower thread) when lines arrive and the previous batch was
    drained, so a screen is woken once per batch, not once per line.
    """

    RETRY = 2.0  # seconds before following again once the container stopped

    def __init__(self, engine: Engine, container: str, ready: Callable[[], None],
                 tail_lines: int = 200) -> None:
        self.engine = engine
        self.container = container
        self.ready = ready
        self.tail_lines = tail_lines
        self.error: str | None = None
        self._pending: list[LogLine] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._streams: list[Any] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        starter = threading.Thread(target=self._start, name="docker-logs", daemon=True)
        starter.start()
        self._threads.append(starter)

    def _start(self) -> None:
        try:
            lines = self.engine.call(tail, self.container, self.tail_lines)
        except Exception as exc:  # shown in the view; following retries below
            self._report(str(exc))
            lines = []
        self._push(lines)
        since = max((line.ts for line in lines if line.ts), default=None)
        seen = {(line.source, line.ts, line.text) for line in lines if line.ts == since}
        for source in STREAMS:
            thread = threading.Thread(target=self._follow, args=(source, since, seen),
                                      name=f"docker-logs-{source}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _follow(self, source: str, since: float | None,
                seen: set[tuple[str, float | None, str]]) -> None:
        while not self._stop.is_set():
            client = None
            try:
                client = self.engine.stream_client(None)
                stream = client.api.logs(
                    self.container, stdout=source == "stdout", stderr=source == "stderr",
                    stream=True, follow=True, timestamps=True,
                    tail=0 if since is None else "all", since=since)
                with self._lock:
                    self._streams.append(stream)
                partial = b""
                for chunk in stream:
                    if self._stop.is_set():
                        break
                    *complete, partial = (partial + chunk).split(b"\n")
                    fresh = [line for line in _lines(b"\n".join(complete), source)
                             if (line.source, line.ts, line.text) not in seen]
                    if fresh:
                        since = fresh[-1].ts or since
                        seen = {(line.source, line.ts, line.text) for line in fresh
                                if line.ts == since}
                        self._push(fresh)
                with self._lock:
                    if stream in self._streams:
                        self._streams.remove(stream)
                self.error = None
            except Exception as exc:  # the engine went away or the container was removed
                if self._stop.is_set():
                    return
                self._report(str(exc) or type(exc).__name__)
            finally:
                if client is not None:
                    client.close()
            self._stop.wait(self.RETRY)

    def _report(self, error: str) -> None:
        """Say once in the log itself why lines are not coming (until it changes)."""
        error = error.splitlines()[0][:200] if error else "unknown error"
        if error != self.error:
            self.error = error
            self._push([LogLine(time.time(), f"logs unavailable: {error}", "error",
                                "opsconsole")])

    def _push(self, lines: list[LogLine]) -> None:
        if not lines:
            return
        with self._lock:
            was_empty = not self._pending
            self._pending.extend(lines)
            if len(self._pending) > MAX_PENDING:
                del self._pending[:-MAX_PENDING]
        if was_empty:
            self.ready()

    def drain(self) -> list[LogLine]:
        """Every line that arrived since the last drain (any thread)."""
        with self._lock:
            lines, self._pending = self._pending, []
        return lines

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            streams, self._streams = self._streams, []
        for stream in streams:
            try:
                stream.close()
            except Exception:  # closing a dead socket is best effort
                pass


class ContainerLogSource:
    """A container's logs as a source of the Logs view, merged there with files and journals.

    The follower starts on the first read, so listing the sources costs nothing; each read
    takes the lines that arrived since (it never blocks).
    """

    def __init__(self, engine: Engine, container: str, tail_lines: int = 50) -> None:
        self.label = f"container:{container}"
        self._engine = engine
        self._container = container
        self._tail_lines = tail_lines
        self._follower: LogFollower | None = None
        self._last = {stream: LastTime() for stream in STREAMS}

    @property
    def status(self) -> str | None:
        return self._follower.error if self._follower is not None else None

    def read(self) -> list[LogLine]:
        if self._follower is None:
            self._follower = LogFollower(self._engine, self._container, lambda: None,
                                         self._tail_lines)
            self._follower.start()
        now = time.time()
        return [LogLine(self._last.get(line.source, LastTime()).stamp(line.ts, now), line.text,
                        line.level,
                        self.label if line.source == "stdout" else f"{self.label} {line.source}")
                for line in self._follower.drain()]

    def close(self) -> None:
        if self._follower is not None:
            self._follower.close()
            self._follower = None
