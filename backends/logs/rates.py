"""Error rates over a sliding window, read incrementally from a log file.

A `RateReader` follows one file with a `FileFollower` and reads only the bytes written since
its previous poll. Every line lands in a per-second bucket of a `SlidingWindow`: requests,
5xx responses, error-pattern matches and response times. Position and window are saved in
the console's state file, so a cron run continues where the previous run stopped; with
nothing saved, the window is filled from the last `backfill` bytes of the file only.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from backends.logs.formats import access_summary, parse_line
from backends.logs.tailer import FileFollower, Position

READ_LIMIT = 64 * 1024 * 1024  # per poll; a bigger jump is caught up over the next polls


@dataclass
class Bucket:
    requests: int = 0
    server_errors: int = 0
    matches: int = 0
    times: Counter[int] = field(default_factory=Counter)  # request time in ms -> count


@dataclass(frozen=True)
class WindowTotals:
    span: float
    lines: int
    requests: int
    server_errors: int
    matches: int
    p95: float | None
    timed: int

    @property
    def matches_per_minute(self) -> float:
        return self.matches * 60.0 / self.span

    @property
    def server_error_share(self) -> float | None:
        """Percent of requests answered with a 5xx, or None without requests."""
        return 100.0 * self.server_errors / self.requests if self.requests else None


def percentile(counts: Counter[int], share: float) -> float | None:
    """Nearest-rank percentile (share in 0..1) of millisecond counts, in seconds."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, math.ceil(share * total))
    seen = 0
    for millis in sorted(counts):
        seen += counts[millis]
        if seen >= rank:
            return millis / 1000.0
    return None


class SlidingWindow:
    """Counts per second over the last `span` seconds."""

    def __init__(self, span: float) -> None:
        self.span = span
        self.buckets: dict[int, Bucket] = {}
        self.lines: dict[int, int] = {}

    def add(self, ts: float, *, status: int | None, matched: bool,
            request_time: float | None, count: int = 1) -> None:
        second = int(ts)
        bucket = self.buckets.get(second)
        if bucket is None:
            bucket = self.buckets[second] = Bucket()
        self.lines[second] = self.lines.get(second, 0) + count
        if status is not None:
            bucket.requests += count
            if status >= 500:
                bucket.server_errors += count
        if matched:
            bucket.matches += count
        if request_time is not None:
            bucket.times[round(request_time * 1000)] += count

    def expire(self, now: float) -> None:
        oldest = int(now - self.span)
        for second in [s for s in self.buckets if s <= oldest]:
            del self.buckets[second]
            self.lines.pop(second, None)

    def totals(self, now: float) -> WindowTotals:
        self.expire(now)
        times: Counter[int] = Counter()
        for bucket in self.buckets.values():
            times.update(bucket.times)
        return WindowTotals(
            self.span, sum(self.lines.values()),
            sum(b.requests for b in self.buckets.values()),
            sum(b.server_errors for b in self.buckets.values()),
            sum(b.matches for b in self.buckets.values()),
            percentile(times, 0.95), sum(times.values()))

    def dump(self) -> str:
        return json.dumps({str(s): [b.requests, b.server_errors, b.matches, self.lines.get(s, 0),
                                    b.times] for s, b in self.buckets.items()})

    def load(self, text: str) -> None:
        data: dict[str, Any] = json.loads(text)
        for second, (requests, errors, matches, lines, times) in data.items():
            self.buckets[int(second)] = Bucket(requests, errors, matches,
                                               Counter({int(k): v for k, v in times.items()}))
            self.lines[int(second)] = lines


@dataclass(frozen=True)
class RateSnapshot:
    """One file's window after a poll."""

    path: str
    problem: str | None
    totals: WindowTotals
    bytes_read: int
    read_since: float  # when this window started being filled (its data may be shorter)


class RateReader:
    """Follows one file and keeps its sliding window up to date, one poll at a time."""

    def __init__(self, path: str, *, fmt: str, error_pattern: re.Pattern[str] | None,
                 window: float, backfill: int, saved: tuple[Position, str] | None = None) -> None:
        self.path = path
        self.fmt = fmt
        self.error_pattern = error_pattern
        self.window = SlidingWindow(window)
        self.follower = FileFollower(path, from_end=True)
        self.follower.start_with_tail(backfill)
        self._first = True
        self.read_since = time.time()
        if saved is not None:
            self.follower.resume_at(saved[0])
            self._saved_window = saved[1]
        else:
            self._saved_window = ""

    def poll(self, now: float | None = None) -> RateSnapshot:
        now = time.time() if now is None else now
        before = self.follower.bytes_read
        block = self.follower.read_block(READ_LIMIT)
        backfilling = False
        if self._first and self.follower.position is not None:
            self._first = False
            if self.follower.resumed and self._saved_window:
                self.window.load(self._saved_window)
            else:
                backfilling = True  # lines without a time of their own are not counted
                self.read_since = now - self.window.span
        if block:
            if self.fmt == "nginx" and self.error_pattern is None:
                for (ts, status, request_time), count in access_summary(block).items():
                    self._add(ts, now, backfilling, status=status, matched=False,
                              request_time=request_time, count=count)
            else:
                self._add_lines(block, now, backfilling)
        return RateSnapshot(self.path, self.follower.status, self.window.totals(now),
                            self.follower.bytes_read - before, self.read_since)

    def _add_lines(self, block: bytes, now: float, backfilling: bool) -> None:
        pattern = self.error_pattern
        for raw in block.split(b"\n"):
            if not raw:
                continue
            line = parse_line(self.fmt, raw)
            matched = pattern is not None and pattern.search(line.text) is not None
            self._add(line.ts, now, backfilling, status=line.status, matched=matched,
                      request_time=line.request_time)

    def _add(self, ts: float | None, now: float, backfilling: bool, *, status: int | None,
             matched: bool, request_time: float | None, count: int = 1) -> None:
        if ts is None:
            if backfilling:
                return
            ts = now
        elif ts > now:
            ts = now
        if ts <= now - self.window.span:
            return
        self.window.add(ts, status=status, matched=matched, request_time=request_time,
                        count=count)

    def saved_state(self) -> tuple[Position, str] | None:
        position = self.follower.position
        return None if position is None else (position, self.window.dump())

    def close(self) -> None:
        self.follower.close()
