"""Sources of live log lines for the Logs view, and merging several of them by time.

A `LineSource` is anything with a `label`, a `status` (why it shows nothing, or None) and
`read()` returning the `LogLine`s that arrived since the last call. Files give
`FileLineSource`; a journal or a container log only needs the same three members to be
merged with them. `TimeMerger` holds lines back for a moment so that lines from different
sources written at the same time come out in time order.
"""

from __future__ import annotations

import heapq
import itertools
import re
import time
from typing import Protocol

from backends.logs.formats import parse_line
from backends.logs.tailer import FileFollower
from console.loglines import LogLine

TAIL_BYTES = 64 * 1024  # shown from the end of a file when it is first opened
READ_BYTES = 4 * 1024 * 1024  # at most per read, so one busy file cannot starve the others


class LineSource(Protocol):
    label: str

    @property
    def status(self) -> str | None: ...

    def read(self) -> list[LogLine]: ...

    def close(self) -> None: ...


class FileLineSource:
    """The lines of one log file, from its last screenful on."""

    def __init__(self, label: str, path: str, fmt: str,
                 error_pattern: re.Pattern[str] | None = None, tail: int = TAIL_BYTES) -> None:
        self.label = label
        self.path = path
        self.fmt = fmt
        self.error_pattern = error_pattern
        self.follower = FileFollower(path, from_end=True)
        self.follower.start_with_tail(tail)

    @property
    def status(self) -> str | None:
        return self.follower.status

    def read(self) -> list[LogLine]:
        now = time.time()
        lines = []
        for raw in self.follower.read(READ_BYTES):
            parsed = parse_line(self.fmt, raw, self.error_pattern)
            lines.append(LogLine(parsed.ts if parsed.ts is not None else now, parsed.text,
                                 parsed.level, self.label))
        return lines

    def close(self) -> None:
        self.follower.close()


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
