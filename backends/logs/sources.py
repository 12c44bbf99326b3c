"""Log files as live line sources (`console.core.loglines.LineSource`) for the log pane."""

from __future__ import annotations

import re
import time

from backends.logs.formats import parse_line
from backends.logs.tailer import FileFollower
from console.core.loglines import LastTime, LogLine

TAIL_BYTES = 64 * 1024  # shown from the end of a file when it is first opened
READ_BYTES = 4 * 1024 * 1024  # at most per read, so one busy file cannot starve the others


class FileLineSource:
    """The lines of one log file, from its last screenful on; a line without a time of its
    own (a traceback's continuation) takes the time of the line before it."""

    def __init__(self, label: str, path: str, fmt: str,
                 error_pattern: re.Pattern[str] | None = None, tail: int = TAIL_BYTES) -> None:
        self.label = label
        self.path = path
        self.fmt = fmt
        self.error_pattern = error_pattern
        self.follower = FileFollower(path, from_end=True)
        self.follower.start_with_tail(tail)
        self._last = LastTime()

    @property
    def status(self) -> str | None:
        return self.follower.status

    def read(self) -> list[LogLine]:
        now = time.time()
        lines = []
        for raw in self.follower.read(READ_BYTES):
            parsed = parse_line(self.fmt, raw, self.error_pattern)
            lines.append(LogLine(self._last.stamp(parsed.ts, now), parsed.text, parsed.level,
                                 self.label))
        return lines

    def close(self) -> None:
        self.follower.close()
