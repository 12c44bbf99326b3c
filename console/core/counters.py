"""Growth of ever-increasing counters (restart counts) within a time window, kept across runs.

A sample is a key's count at one moment, with an optional identity (a container id): a count
that dropped, or a new identity, is a reset, and the new count is all growth since. Only
changes are stored, in the console's state file, so a `check` run from cron sees growth since
the previous run just as the full-screen console does between polls. The last sample before
the window is the baseline the window's growth is measured from.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from console.core import statedb

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counter_samples (namespace TEXT NOT NULL, key TEXT NOT NULL, "
    "identity TEXT, ts REAL NOT NULL, count INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS counter_samples_key ON counter_samples (namespace, key, ts)",
)
# Each key's samples in the window, plus the last one before it (the baseline).
_LOAD = """
SELECT key, identity, ts, count FROM counter_samples AS s WHERE namespace = :ns AND (ts >= :start
    OR ts = (SELECT MAX(ts) FROM counter_samples WHERE namespace = s.namespace
             AND key = s.key AND ts < :start))
ORDER BY key, ts
"""
# Samples older than their key's baseline no longer count for anything.
_PRUNE = """
DELETE FROM counter_samples WHERE namespace = :ns AND ts < (
    SELECT MAX(ts) FROM counter_samples AS later WHERE later.namespace = :ns
    AND later.key = counter_samples.key AND later.ts < :start)
"""
FORGET_AFTER = 7 * 86400  # a key missing from the samples this long is gone (container removed)

# Given keys whose history does not reach back to the window's start, and that start: for
# each key, the times of its increments within the window, read from the system's own record
# (the journal, Docker's events). Called from the thread that records.
Backfill = Callable[[list[str], float], dict[str, list[float]]]


@dataclass(frozen=True)
class Sample:
    """A counter's value now; `identity` tells apart successive owners of one key."""

    key: str
    count: int
    identity: str | None = None


@dataclass(frozen=True)
class _Point:
    ts: float
    count: int
    identity: str | None


def growth(points: list[_Point], start: float) -> int:
    """Increments counted at or after `start`; after a reset the new count counts in full."""
    total = 0
    for before, after in itertools.pairwise(points):
        if after.ts < start:
            continue
        if after.identity != before.identity or after.count < before.count:
            total += after.count
        else:
            total += after.count - before.count
    return total


class CounterHistory:
    """One namespace's counters (a backend's) and their growth within `window` seconds.

    The history is read from the state file once, then kept in memory and written through.
    The state file is a help, not a requirement: when it cannot be read or written (read-only
    or full), growth is still measured from what this process has seen.
    """

    def __init__(self, state_dir: Path, namespace: str, window: float) -> None:
        self.state_dir = state_dir
        self.namespace = namespace
        self.window = window
        self._series: dict[str, list[_Point]] | None = None
        self._lock = threading.Lock()
        self._db = statedb.SharedConnection(state_dir, *_SCHEMA)

    def record(self, samples: Iterable[Sample], now: float,
               backfill: Backfill | None = None) -> dict[str, int]:
        """Remember this poll's counts; growth per sampled key within the window up to now.

        A key this history has not followed back to the window's start (a fresh state dir, a
        first poll) is filled in by `backfill` from the system's own record, so a first poll
        tells the truth about a crash loop that began before the console looked.
        Blocking (SQLite, the first time and whenever a count changed): call it from a thread.
        """
        start = now - self.window
        samples = list(samples)
        with self._lock:
            if self._series is None:
                self._series = self._load(start)
            if backfill is not None:
                self._backfill(samples, start, backfill)
            fresh: list[tuple[str, _Point]] = []
            result: dict[str, int] = {}
            for sample in samples:
                points = self._series.setdefault(sample.key, [])
                last = points[-1] if points else None
                if last is None or last.count != sample.count \
                        or last.identity != sample.identity:
                    point = _Point(now, sample.count, sample.identity)
                    points.append(point)
                    fresh.append((sample.key, point))
                while len(points) > 1 and points[1].ts < start:
                    points.pop(0)
                result[sample.key] = growth(points, start)
            if fresh:
                self._store(fresh, start, now, set(result))
            return result

    def _backfill(self, samples: list[Sample], start: float, backfill: Backfill) -> None:
        """Seed keys without a baseline from their increments' times in the window."""
        assert self._series is not None
        wanted = {s.key: s for s in samples if s.count > 0
                  and not any(p.ts < start for p in self._series.get(s.key, ()))}
        if not wanted:
            return
        try:
            times = backfill(sorted(wanted), start)
        except Exception:  # the record could not be read: growth from what is seen, as before
            return
        seeded: list[tuple[str, _Point]] = []
        for key, sample in wanted.items():
            stamps = sorted(t for t in times.get(key, []) if t >= start)[-sample.count:]
            base = sample.count - len(stamps)
            points = [_Point(start - 1, base, sample.identity)]
            points += [_Point(t, base + i, sample.identity) for i, t in enumerate(stamps, 1)]
            later = [p for p in self._series.get(key, []) if p.ts > points[-1].ts]
            self._series[key] = points + later
            seeded += [(key, p) for p in points]
        self._store(seeded, start, start, set())

    def _load(self, start: float) -> dict[str, list[_Point]]:
        series: dict[str, list[_Point]] = {}
        try:
            with self._db.use() as connection:
                rows = connection.execute(_LOAD, {"ns": self.namespace, "start": start})
                for key, identity, ts, count in rows.fetchall():
                    series.setdefault(key, []).append(_Point(ts, count, identity))
        except (sqlite3.Error, OSError):
            pass  # no history to start from: growth is measured from this poll on
        return series

    def _store(self, fresh: list[tuple[str, _Point]], start: float, now: float,
               present: set[str]) -> None:
        try:
            with self._db.use() as connection:
                connection.executemany(
                    "INSERT INTO counter_samples (namespace, key, identity, ts, count) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(self.namespace, key, p.identity, p.ts, p.count) for key, p in fresh])
                connection.execute(_PRUNE, {"ns": self.namespace, "start": start})
                gone = connection.execute(
                    "SELECT key FROM counter_samples WHERE namespace = ? GROUP BY key "
                    "HAVING MAX(ts) < ?", (self.namespace, now - FORGET_AFTER)).fetchall()
                connection.executemany(
                    "DELETE FROM counter_samples WHERE namespace = ? AND key = ?",
                    [(self.namespace, key) for (key,) in gone if key not in present])
        except (sqlite3.Error, OSError):
            pass  # a read-only or full state dir must not stop the checks
