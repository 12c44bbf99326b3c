"""Log lines as plain data, so journals, container logs and files share one log pane.

A `LineSource` is anything with a `label`, a `status` (why it shows nothing, or None) and
`read()` returning the `LogLine`s that arrived since the last call; backends offer them
through `Backend.log_sources()`. `LastTime` gives a line without its own time the time of
the line before it from the same source. `TimeMerger` holds lines back for a moment so that lines
from different sources written at the same time come out in time order.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass
from typing import Protocol

# Levels a log view colours: "err" red, "warning" yellow, others plain.
ERROR_LEVELS = frozenset({"emerg", "alert", "crit", "err", "error", "critical", "fatal"})
WARNING_LEVELS = frozenset({"warning", "warn"})


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line: when (Unix time, or None), text (already safe to print), level, source."""

    ts: float | None
    text: str
    level: str = ""
    source: str = ""

    @property
    def is_error(self) -> bool:
        return self.level in ERROR_LEVELS

    @property
    def is_warning(self) -> bool:
        return self.level in WARNING_LEVELS


def printable(data: bytes | str, limit: int = 4000) -> str:
    """Text safe for a terminal: invalid UTF-8 and control characters escaped, length capped."""
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
    if len(text) > limit:
        text = text[:limit] + f"… (+{len(text) - limit} chars)"
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\t" else ascii(ch)[1:-1] for ch in text)


class LineSource(Protocol):
    label: str

    @property
    def status(self) -> str | None: ...

    def read(self) -> list[LogLine]: ...

    def close(self) -> None: ...


class LastTime:
    """The time of a source's previous line, for its lines that carry none.

    A traceback's continuation lines have no timestamp; stamping them "now" would move them
    after other sources' newer lines when merged by time, so they take their leader's time.
    """

    def __init__(self) -> None:
        self.ts: float | None = None

    def stamp(self, ts: float | None, now: float) -> float:
        """`ts`, or the previous line's time (`now` before any line had one)."""
        if ts is None:
            ts = self.ts if self.ts is not None else now
        self.ts = ts
        return ts


class TimeMerger:
    """Releases lines in time order once they are `hold` seconds old (or waited `max_hold`)."""

    def __init__(self, hold: float = 0.5, max_hold: float = 2.0) -> None:
        self.hold = hold
        self.max_hold = max_hold
        self._heap: list[tuple[float, int, float, LogLine]] = []
        self._seq = itertools.count()

    def push(self, lines: list[LogLine], now: float | None = None) -> None:
        now = time.time() if now is None else now
        for line in lines:
            heapq.heappush(self._heap, (line.ts if line.ts is not None else now,
                                        next(self._seq), now, line))

    def release(self, now: float | None = None, *, everything: bool = False) -> list[LogLine]:
        now = time.time() if now is None else now
        out: list[LogLine] = []
        heap = self._heap
        while heap:
            ts, _, arrived, line = heap[0]
            if not (everything or ts <= now - self.hold or arrived <= now - self.max_hold):
                break
            heapq.heappop(heap)
            out.append(line)
        return out

    def __len__(self) -> int:
        return len(self._heap)
