"""The `log:NAME` backend: error-pattern rates, 5xx share and p95 of one or more log files."""

from __future__ import annotations

import asyncio
import glob
import os
import sqlite3
import threading
import time
from dataclasses import dataclass

from backends.base import Backend
from backends.logs.config import LogsConfig
from backends.logs.rates import RateReader, RateSnapshot, WindowTotals
from backends.logs.sources import FileLineSource
from backends.logs.state import PositionStore
from backends.logs.tailer import Position
from console.core.durations import format_span
from console.core.loglines import LineSource
from console.core.model import CheckResult, Perf, Status, by_thresholds


@dataclass(frozen=True)
class LogsSnapshot:
    pattern: str
    polled_at: float
    files: tuple[RateSnapshot, ...]

    @property
    def bytes_read(self) -> int:
        return sum(f.bytes_read for f in self.files)


def combined(files: tuple[RateSnapshot, ...], span: float) -> WindowTotals:
    """One window over every file of a glob (p95 from the largest-sampled file's view)."""
    p95s = [f.totals.p95 for f in files if f.totals.p95 is not None]
    return WindowTotals(
        span, sum(f.totals.lines for f in files), sum(f.totals.requests for f in files),
        sum(f.totals.server_errors for f in files), sum(f.totals.matches for f in files),
        max(p95s) if p95s else None, sum(f.totals.timed for f in files))


SAVE_EVERY = 60.0  # seconds between saved positions while running; always saved on close


class LogsBackend(Backend[LogsSnapshot]):
    kind = "log"

    def __init__(self, config: LogsConfig, store: PositionStore) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout)
        self.config = config
        self.store = store
        self._readers: dict[str, RateReader] = {}
        self._saved: dict[str, tuple[Position, str]] | None = None
        self._saved_at = 0.0
        self._lock = threading.Lock()  # a poll abandoned at its timeout may still be reading

    def targets(self) -> list[str]:
        return [f"log:{self.name}"]

    def paths(self) -> list[str]:
        """The files the config names now (a glob's current matches, newest name order)."""
        if glob.has_magic(self.config.path):
            return sorted(p for p in glob.glob(self.config.path) if not os.path.isdir(p))
        return [self.config.path]

    def log_sources(self, target: str | None = None) -> list[LineSource]:
        """Live line sources, one per file."""
        if target is not None and target != f"log:{self.name}":
            return []
        paths = self.paths() or [self.config.path]
        return [FileLineSource(self.name if len(paths) == 1 else
                               f"{self.name}/{os.path.basename(p)}", p, self.config.format,
                               self.config.error_pattern) for p in paths]

    async def collect(self) -> LogsSnapshot:
        return await asyncio.to_thread(self._collect)

    def _collect(self) -> LogsSnapshot:
        with self._lock:
            now = time.time()
            if self._saved is None:
                try:
                    self._saved = self.store.load(self.name)
                except sqlite3.Error:
                    self._saved = {}
            cfg = self.config
            files = []
            for path in self.paths():
                reader = self._readers.get(path)
                if reader is None:
                    reader = self._readers[path] = RateReader(
                        path, fmt=cfg.format, error_pattern=cfg.error_pattern, window=cfg.window,
                        backfill=cfg.backfill, saved=self._saved.get(path))
                files.append(reader.poll(now))
            if now - self._saved_at >= SAVE_EVERY:
                self._save(now)
            return LogsSnapshot(cfg.path, now, tuple(files))

    def _save(self, now: float) -> None:
        states = {p: s for p, r in self._readers.items() if (s := r.saved_state())}
        if not states:
            return
        try:
            self.store.save(self.name, states, now)
        except sqlite3.Error:
            return  # the next run reads back from the end instead: nothing is lost here
        self._saved_at = now

    def evaluate(self, snapshot: LogsSnapshot) -> list[CheckResult]:
        cfg = self.config
        target = f"log:{self.name}"
        if not snapshot.files:
            return [CheckResult(target, Status.UNKNOWN,
                                f"waiting for file: nothing matches {cfg.path} yet")]
        problems = [f.problem for f in snapshot.files if f.problem]
        if problems and len(problems) == len(snapshot.files):
            return [CheckResult(target, Status.UNKNOWN, problems[0], details=cfg.path)]
        totals = combined(tuple(f for f in snapshot.files if not f.problem), cfg.window)
        span = format_span(cfg.window)
        details = "\n".join([f.path for f in snapshot.files] + problems)
        results: list[CheckResult] = []
        if cfg.error_pattern is not None:
            rate = totals.matches_per_minute
            warn, crit = cfg.errors_per_minute
            results.append(CheckResult(
                target, by_thresholds(rate, warn, crit),
                f"{totals.matches} lines match {cfg.error_pattern.pattern!r} in the last {span}"
                f" ({rate:.2f}/min)", "errors",
                (Perf(f"{self.name}_errors_per_min", round(rate, 4), "", warn, crit, 0),), details))
        if cfg.format == "nginx":
            results.extend(self._access_checks(target, totals, span, details))
        if not results:
            results.append(CheckResult(target, Status.OK,
                                       f"{totals.lines} lines in the last {span}",
                                       perfdata=(Perf(f"{self.name}_lines", totals.lines),), details=details))
        if problems:
            results.append(CheckResult(target, Status.UNKNOWN, problems[0], "files", (), details))
        return results

    def _access_checks(self, target: str, totals: WindowTotals, span: str,
                       details: str) -> list[CheckResult]:
        cfg = self.config
        results = []
        share = totals.server_error_share
        warn, crit = cfg.error_rate
        if share is None or totals.requests < cfg.min_requests:
            results.append(CheckResult(
                target, Status.OK, f"{totals.requests} requests in the last {span}: too few "
                f"to judge the 5xx share (min_requests = {cfg.min_requests})", "5xx",
                (Perf(f"{self.name}_requests", totals.requests),), details))
        else:
            results.append(CheckResult(
                target, by_thresholds(share, warn, crit),
                f"{share:.1f}% 5xx ({totals.server_errors} of {totals.requests} requests "
                f"in the last {span})", "5xx",
                (Perf(f"{self.name}_5xx_share", round(share, 3), "%", warn, crit, 0, 100),
                 Perf(f"{self.name}_requests", totals.requests)), details))
        if totals.p95 is not None:
            warn, crit = cfg.response_time
            results.append(CheckResult(
                target, by_thresholds(totals.p95, warn, crit),
                f"p95 response time {totals.p95:.3f}s over {totals.timed} requests "
                f"in the last {span}", "p95",
                (Perf(f"{self.name}_p95_time", round(totals.p95, 4), "s", warn, crit, 0),), details))
        return results

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            self._save(time.time())
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()
