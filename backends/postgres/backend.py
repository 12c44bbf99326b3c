"""The postgres backend itself: reading, checks and actions (see __init__ for its kind)."""


from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from backends.base import Backend
from backends.postgres.config import PostgresConfig
from backends.postgres.connection import PostgresUnavailable, SessionPool, describe
from backends.postgres.retention import list_backups, newest_verified
from backends.postgres.scratch import left_behind
from backends.postgres.snapshot import Collector, PostgresSnapshot, build_snapshot
from console.core.actions import ActionSpec
from console.core.counts import counted
from console.core.durations import format_span
from console.core.model import CheckResult, Perf, Status, by_thresholds
from console.core.sizes import format_bytes


class PostgresBackend(Backend[PostgresSnapshot]):
    kind = "postgres"
    unreachable_status = Status.CRITICAL

    def location(self) -> str:
        return self.config.where

    def __init__(self, config: PostgresConfig) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout + 2.0)
        self.config = config
        self.pool = SessionPool(config)
        long_warn = config.thresholds.long_query[0] or config.thresholds.long_query[1] or 60.0
        self.collector = Collector(self.pool, long_warn)

    def targets(self) -> list[str]:
        return [f"postgres:{self.name}"]

    async def collect(self) -> PostgresSnapshot:
        try:
            values = await self.collector.collect()
        except PostgresUnavailable:
            raise
        except Exception as exc:  # a server that dies mid-poll: say so in one line
            raise PostgresUnavailable(describe(exc, self.config)) from None
        backup = self.config.backup
        backups = await asyncio.to_thread(list_backups, backup.dir, self.name) if backup else ()
        return build_snapshot(values, backups, str(backup.dir) if backup else "")

    def evaluate(self, snapshot: PostgresSnapshot) -> list[CheckResult]:
        th = self.config.thresholds
        target = f"postgres:{self.name}"
        results = []
        used = snapshot.connection_count
        percent = 100.0 * used / max(snapshot.max_connections, 1)
        warn, crit = th.connections
        newest = newest_verified(snapshot.backups)
        backup_note = (f" · last verified backup {format_span(time.time() - newest.started)} ago"
                       if newest else "")
        results.append(CheckResult(
            target, by_thresholds(percent, warn, crit),
            f"{used}/{snapshot.max_connections} conn · {format_bytes(snapshot.size)} · {snapshot.role} "
            f"{snapshot.version}{backup_note}", check="connections",
            perfdata=(Perf("connections", used, "", _of(warn, snapshot.max_connections),
                           _of(crit, snapshot.max_connections), 0, snapshot.max_connections),
                      Perf("size", snapshot.size, "B", min=0)),
            details=self._details(snapshot)))
        results += self._activity_checks(snapshot, target)
        if snapshot.panel_off("replication") is None:
            lag = snapshot.replication_lag
            status = by_thresholds(lag or 0.0, *th.replication_lag)
            text = ("no replicas" if lag is None and not snapshot.in_recovery
                    else f"replication lag {format_span(lag or 0)}")
            results.append(CheckResult(target, status, text, check="replication",
                                       perfdata=(Perf("replication_lag", round(lag or 0, 3), "s",
                                                      *th.replication_lag, 0),)))
        inactive = [s for s in snapshot.slots if not s.active]
        if inactive:
            retained = sum(s.retained_bytes or 0 for s in inactive)
            results.append(CheckResult(
                target, Status.WARNING,
                f"{len(inactive)} inactive replication slot(s) retaining {format_bytes(retained)} of WAL: "
                + ", ".join(s.name for s in inactive), check="slots",
                perfdata=(Perf("slot_retained_wal", retained, "B", min=0),)))
        if self.config.backup is not None:
            results.append(self._backup_check(snapshot, target))
        left = left_behind(self.config.dbname, snapshot.scratch, snapshot.collected_at)
        if left:
            several = len(left) > 1
            names = ", ".join(f"{name} ({what})" for name, _, what in left)
            results.append(CheckResult(
                target, Status.WARNING,
                f"{counted(len(left), 'scratch database')} left by "
                f"{'restores' if several else 'a restore'} ({'oldest ' if several else ''}"
                f"{format_span(snapshot.collected_at - left[0][1])} ago): {names}; look "
                "inside, then DROP DATABASE", check="restore leftovers"))
        return results

    def _details(self, snap: PostgresSnapshot) -> str:
        lines = [f"{self.config.where} as {snap.user}, up {format_span(snap.uptime)}"]
        if snap.cache_hit is not None:
            lines.append(f"cache hit ratio {snap.cache_hit * 100:.1f}%")
        lines += [f"{panel} panel off: {reason}" for panel, reason in snap.panels_off]
        return "\n".join(lines)

    def _activity_checks(self, snap: PostgresSnapshot, target: str) -> list[CheckResult]:
        th = self.config.thresholds
        results = []
        running = [s for s in snap.sessions if s.state == "active" and not s.blocked_by]
        longest = max((s.query_seconds or 0 for s in running), default=0.0)
        slow = [s for s in running if (s.query_seconds or 0) >= (th.long_query[0] or 1e18)]
        status = by_thresholds(longest, *th.long_query)
        text = (f"{len(slow)} long-running quer{'y' if len(slow) == 1 else 'ies'}, longest "
                f"{format_span(longest)} (pid {max(running, key=lambda s: s.query_seconds or 0).pid})"
                if slow else "no long-running queries")
        results.append(CheckResult(target, status, text, check="long queries",
                                   perfdata=(Perf("longest_query", round(longest, 1), "s",
                                                  *th.long_query, 0),)))
        blocked = [s for s in snap.sessions if s.blocked_by]
        waited = max((s.query_seconds or 0 for s in blocked), default=0.0)
        if blocked:
            first = max(blocked, key=lambda s: s.query_seconds or 0)
            text = (f"{len(blocked)} blocked, longest {format_span(waited)}: pid {first.pid} "
                    f"waits for pid {', '.join(str(p) for p in first.blocked_by)}")
        else:
            text = "no blocked queries"
        results.append(CheckResult(target, by_thresholds(waited, *th.blocked) if blocked
                                   else Status.OK, text, check="blocked",
                                   perfdata=(Perf("blocked", len(blocked), "", min=0),)))
        idle = [s for s in snap.sessions if s.idle_in_transaction]
        oldest = max((s.xact_seconds or 0 for s in idle), default=0.0)
        if idle:
            results.append(CheckResult(
                target, by_thresholds(oldest, *th.idle_in_transaction),
                f"{len(idle)} idle in transaction, oldest {format_span(oldest)}",
                check="idle in transaction",
                perfdata=(Perf("idle_in_transaction", len(idle), "", min=0),)))
        return results

    def _backup_check(self, snap: PostgresSnapshot, target: str) -> CheckResult:
        warn, crit = self.config.thresholds.backup_age
        newest = newest_verified(snap.backups)
        if newest is None:
            return CheckResult(target, Status.CRITICAL,
                               f"no verified backup in {snap.backup_dir}", check="backup")
        age = time.time() - newest.started
        return CheckResult(
            target, by_thresholds(age, warn, crit),
            f"last verified backup {format_span(age)} ago ({format_bytes(newest.size)}, "
            f"{len(snap.backups)} kept)", check="backup",
            perfdata=(Perf("backup_age", int(age), "s", warn, crit, 0),))

    def actions(self, snapshot: PostgresSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        from backends.postgres.actions import build_actions  # only when acting

        return build_actions(self.config, snapshot, target, options or {}, self.id,
                             self.pool.close)

    async def close(self) -> None:
        await self.pool.close()


def _of(percent: float | None, total: int) -> float | None:
    return None if percent is None else round(percent * total / 100.0, 1)
