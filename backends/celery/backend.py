"""The Celery backend: one configured app polled (inspect, queues, failed tasks, beat) and checked."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

from backends.base import Backend, Runtime
from backends.celery.beat import read_schedule
from backends.celery.client import CHECK_METHODS, INSPECT_METHODS, CeleryClient, InspectReplies
from backends.celery.config import CeleryConfig
from backends.celery.events import EventsReceiver
from backends.celery.queues import Depths, discover_queues, read_depths
from backends.celery.results import redis_client, scan_failures, task_states
from backends.celery.snapshot import BeatSchedule, CelerySnapshot, FailedTask, Task, Worker
from backends.celery.store import FailedStore
from backends.celery.trigger import call_spec
from console.core.actions import ActionSpec
from console.core.errors import one_line
from console.core.loglines import printable
from console.core.model import CheckResult, Perf, Status, by_thresholds, worst
from console.core.timeline import EVENT, TimelineEvent

FAILED_SHOWN = 500
DISCOVER_EVERY = 60.0
PRUNE_EVERY = 600.0
CHANGE_MIN_GAP = 1.0
# Off screen, while every worker the last inspect found is alive by its event heartbeats
# (sent every 2 s, missed for about 4 s when a worker dies), the heartbeats say who is online
# and how busy, and the inspect broadcast runs only this often, to find workers without -E.
BROADCAST_EVERY = 30.0


class CeleryBackend(Backend[CelerySnapshot]):
    kind = "celery"
    unreachable_status = Status.CRITICAL

    def __init__(self, config: CeleryConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=config.interval or max(runtime.refresh, 2.0),
                         timeout=config.timeout or max(runtime.timeout,
                                                       config.inspect_timeout + 4.0))
        self.config = config
        self.store = FailedStore(runtime.state_dir, config.name, config.retention,
                                 config.retention_rows)
        self._client: CeleryClient | None = None
        self._events: EventsReceiver | None = None
        self._broker: redis.Redis | None = None
        self._results: redis.Redis | None = None
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}          # worker -> last time it answered
        self._discovered: tuple[float, list[str]] = (0.0, [])
        self._last_prune = 0.0
        self._last_scan = -1e9
        self._scan_note = ""
        self._recorded: set[str] = set()           # failures already stored with exact args
        self._failures_seen = 0                    # the events stream's count at the last scan
        self._last_change = 0.0
        self._broadcast: tuple[float, set[str]] = (-1e9, set())  # last inspect: when, who

    # -- lazily made connections (never on the UI thread) ---------------------------------
    @property
    def client(self) -> CeleryClient:
        with self._lock:
            if self._client is None:
                self._client = CeleryClient(self.config)
            return self._client

    def _broker_redis(self) -> redis.Redis:
        if self._broker is None:
            self._broker = redis_client(self.config.broker, min(self.timeout / 2, 3.0))
        return self._broker

    def _results_redis(self) -> redis.Redis | None:
        if self.config.backend is None:
            return None
        if self._results is None:
            self._results = redis_client(self.config.backend, min(self.timeout / 2, 3.0))
        return self._results

    def targets(self) -> list[str]:
        return [f"celery:{self.name}"]

    # -- collect --------------------------------------------------------------------------
    async def collect(self) -> CelerySnapshot:
        depths = await asyncio.to_thread(self._read_broker)
        beating = None if self.detail else self._heartbeating()
        results_task = asyncio.to_thread(self._read_results)
        beat_task = asyncio.to_thread(self._read_beat)
        if beating is None:
            methods = INSPECT_METHODS if self.detail else CHECK_METHODS
            inspect_task = asyncio.to_thread(self.client.inspect_all,
                                             self.config.expected_workers, None, methods)
            replies, results_note, beat = await asyncio.gather(inspect_task, results_task,
                                                               beat_task)
            self._broadcast = (time.monotonic(), replies.workers)
        else:
            replies = InspectReplies({"active": {name: [] for name in beating}})
            results_note, beat = await asyncio.gather(results_task, beat_task)
        return await asyncio.to_thread(self._assemble, depths, replies, results_note, beat,
                                       beating or {})

    def _heartbeating(self) -> dict[str, int] | None:
        """{worker: active tasks} from the event heartbeats, when they can stand in for an
        inspect broadcast: the last one is recent and every worker it found is alive by its
        heartbeats. None when a broadcast is due."""
        when, found = self._broadcast
        if self._events is None or not found or time.monotonic() - when > BROADCAST_EVERY:
            return None
        facts = self._events.worker_facts()
        if not all(facts.get(name, {}).get("alive") for name in found):
            return None  # a worker stopped beating (or never did): ask them all
        return {name: int(fact.get("active") or 0) for name, fact in facts.items()
                if fact.get("alive")}

    def _read_broker(self) -> Depths:
        client = self._broker_redis()
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ConnectionError(f"broker {self.config.broker}: {one_line(exc)}") from None
        queues = list(self.config.queues)
        if not queues:
            checked, found = self._discovered
            if time.monotonic() - checked > DISCOVER_EVERY or not found:
                found = discover_queues(client) or ["celery"]
                self._discovered = (time.monotonic(), found)
            queues = found
        return read_depths(client, queues)

    def _read_results(self) -> str:
        if time.monotonic() - self._last_prune > PRUNE_EVERY:
            self._last_prune = time.monotonic()
            try:
                self.store.prune()
            except sqlite3.Error as exc:
                return f"cannot prune the console's state in {self.store.state_dir}: " \
                       f"{one_line(exc)}"
        client = self._results_redis()
        if client is None:
            return ("no result backend configured: failed tasks come from events only and "
                    "cannot be re-sent")
        try:
            # the full SCAN reads every result; the cheap retry-state lookups run every poll
            # (and at once after the events stream saw a failure, for its exact arguments)
            seen = self._events.failures_seen if self._events is not None else 0
            if (time.monotonic() - self._last_scan >= self.config.results_every
                    or seen != self._failures_seen):
                self._failures_seen = seen
                self._scan_note = self._scan(client)
                self._last_scan = time.monotonic()
            pending = self.store.pending_retries()
            if pending:
                self.store.set_retry_states(task_states(client, pending))
            if self._events is not None:
                self._events.follow_retries(self.store.pending_retries())
        except redis.RedisError as exc:
            return f"result backend unreachable: {one_line(exc)}"
        except sqlite3.Error as exc:  # a full disk or a locked state file: say so, keep polling
            return (f"cannot write failed tasks to the console's state in "
                    f"{self.store.state_dir}: {one_line(exc)}")
        return self._scan_note

    def _scan(self, client: redis.Redis) -> str:
        scan = scan_failures(client)
        fresh = [f for f in scan.failures if f.task_id not in self._recorded]
        self.store.record(fresh)
        self._recorded.update(f.task_id for f in fresh if f.args is not None)
        if scan.extended is False:
            return ("the result backend keeps no extended results (result_extended=True is "
                    "not set): failed tasks cannot be re-sent")
        return "results truncated: more than 50,000 results scanned" if scan.truncated else ""

    def _read_beat(self) -> BeatSchedule | None:
        path = self.config.beat_schedule
        return read_schedule(path) if path is not None else None

    def _assemble(self, depths: Depths, replies: InspectReplies, results_note: str,
                  beat: BeatSchedule | None, busy: dict[str, int]) -> CelerySnapshot:
        now = time.time()
        workers, tasks = self._workers(replies, now, busy)
        events_note = self._events.note() if self._events is not None else ""
        inspect_note = "; ".join(f"inspect {m}: {e}" for m, e in sorted(replies.errors.items()))
        return CelerySnapshot(
            app=self.name, collected_at=now, workers=workers, tasks=tasks,
            queues=depths.queues, unacked_total=depths.unacked_total,
            failed=tuple(self.store.recent(FAILED_SHOWN)),
            failed_last_hour=self.store.count_since(now - 3600),
            results_note=results_note, events_note=events_note, inspect_note=inspect_note,
            beat=beat)

    def _workers(self, replies: InspectReplies, now: float, busy: dict[str, int]
                 ) -> tuple[tuple[Worker, ...], tuple[Task, ...]]:
        """Workers and their tasks from the inspect replies; `busy` (active tasks by worker,
        from heartbeats) stands in for the `active` replies' task lists when no broadcast ran."""
        answered = replies.workers
        for name in answered:
            self._seen[name] = now
        facts = self._events.worker_facts() if self._events is not None else {}
        names = set(answered) | set(self._seen) | set(self.config.expect_names)
        workers: list[Worker] = []
        tasks: list[Task] = []
        for name in sorted(names):
            if name not in answered:
                workers.append(Worker(name, online=False, since=self._seen.get(name)))
                continue
            stats = replies.of("stats").get(name) or {}
            active = replies.of("active").get(name) or []
            reserved = replies.of("reserved").get(name) or []
            scheduled = replies.of("scheduled").get(name) or []
            conf = replies.of("conf").get(name)
            pool = stats.get("pool") or {}
            uptime = stats.get("uptime")
            heartbeat = facts.get(name, {})
            workers.append(Worker(
                name, online=True,
                since=now - float(uptime) if isinstance(uptime, int | float) else None,
                pool_size=pool.get("max-concurrency") if isinstance(pool, dict) else None,
                processed=sum((stats.get("total") or {}).values()) if stats else None,
                load=heartbeat.get("loadavg") or None,
                active=busy.get(name, len(active)), reserved=len(reserved),
                scheduled=len(scheduled),
                queues=tuple(q.get("name", "") for q in replies.of("active_queues").get(name)
                             or []),
                pool_restarts=bool(conf.get("worker_pool_restarts"))
                if isinstance(conf, dict) else None,
                registered=tuple(sorted(str(t).split(" ", 1)[0] for t in
                                        replies.of("registered").get(name) or [])),
                stats=flatten_stats(stats)))
            tasks += [_task(t, "active", name) for t in active]
            tasks += [_task(t, "reserved", name) for t in reserved]
            tasks += [_task(s.get("request") or {}, "scheduled", name, eta=s.get("eta"))
                      for s in scheduled]
        return tuple(workers), tuple(tasks)

    # -- checks ---------------------------------------------------------------------------
    def evaluate(self, snapshot: CelerySnapshot) -> list[CheckResult]:
        cfg = self.config
        target = f"celery:{self.name}"
        online = [w.name for w in snapshot.online]
        expected = cfg.expected_workers
        missing = [n for n in cfg.expect_names if n not in online]
        count = f"{len(online)}/{expected}" if expected is not None else str(len(online))
        if not online:
            status, summary = Status.CRITICAL, f"no worker online ({count} workers)"
        elif missing:
            status, summary = Status.CRITICAL, f"{count} workers · missing {', '.join(missing)}"
        elif expected is not None and len(online) < expected:
            status, summary = Status.CRITICAL, f"{count} workers online"
        else:
            status, summary = Status.OK, f"{count} workers online"
        busy = sum(w.active for w in snapshot.online)
        checks = [CheckResult(target, status, f"{summary} · {busy} active", check="workers",
                              perfdata=(Perf("workers", len(online), "", None, None, 0,
                                             expected),),
                              details=snapshot.inspect_note or ", ".join(online))]
        failed = snapshot.failed_last_hour
        f_status = by_thresholds(failed, cfg.failed_warn, cfg.failed_crit)
        checks.append(CheckResult(target, f_status, f"{failed} failed in the last hour",
                                  check="failed",
                                  perfdata=(Perf("failed_per_hour", failed, "", cfg.failed_warn,
                                                 cfg.failed_crit, 0),),
                                  details=snapshot.results_note))
        total = sum(q.waiting for q in snapshot.queues)
        q_status = worst_depth(snapshot, cfg.depth_warn, cfg.depth_crit)
        shown = ", ".join(f"{q.name} {q.waiting}" for q in snapshot.queues[:6] if not q.problem)
        spoiled = [q for q in snapshot.queues if q.problem]
        if spoiled:
            q_status = worst((q_status, Status.UNKNOWN))  # a depth that could not be read
            shown = "; ".join(f"{q.name}: {q.problem}" for q in spoiled[:2]) + (
                f"; {shown}" if shown else "")
        checks.append(CheckResult(
            target, q_status, f"queued {total} · reserved/ETA {snapshot.unacked_total}"
            + (f" ({shown})" if shown else ""), check="queues",
            perfdata=(*(Perf(f"queue_{q.name}", q.waiting, "", cfg.depth_warn, cfg.depth_crit,
                              0) for q in snapshot.queues),
                      Perf("unacked", snapshot.unacked_total, "", None, None, 0))))
        return checks

    # -- actions and push -----------------------------------------------------------------
    def actions(self, snapshot: CelerySnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        from backends.celery.actions import CeleryActions  # only when acting

        options = options or {}
        if options.get("task_name"):
            return [call_spec(self.client, f"celery:{self.name}", self.id, snapshot, options,
                              self.config.backend is not None)]
        builder = CeleryActions(self.name, self.id, self.client, self.store,
                                self.config.retry_rate)
        return builder.specs(snapshot, options)

    async def timeline_events(self, since: float, until: float, limit: int) -> list[TimelineEvent]:
        """Task failures in the window: the result backend is read for failures not yet
        kept, then the kept ones are listed (with their exception and worker); and workers
        going online or offline, as far as this console's events receiver saw them."""
        def read() -> list[TimelineEvent]:
            client = self._results_redis()
            if client is not None:
                self._scan(client)
            found = [failure_event(self.name, task) for task in
                     self.store.between(since, until, limit)]
            seen = list(self._events.presence) if self._events is not None else []
            found += [TimelineEvent(ts, f"celery:{self.name}", EVENT, f"worker {state}",
                                    printable(f"worker {worker} {state}", 300),
                                    Status.OK if state == "online" else Status.CRITICAL,
                                    source="celery events")
                      for ts, worker, state in seen if since <= ts <= until]
            return sorted(found, key=lambda e: e.ts)[-limit:]

        return await asyncio.to_thread(read)

    def watch(self, changed: Callable[[], None]) -> None:
        def throttled() -> None:
            now = time.monotonic()
            if now - self._last_change >= CHANGE_MIN_GAP:
                self._last_change = now
                changed()

        if self._events is None:
            self._events = EventsReceiver(self.client.app, self.store, self.name)
        self._events.start(throttled)

    @property
    def events(self) -> EventsReceiver | None:
        return self._events

    async def close(self) -> None:
        events, self._events = self._events, None
        if events is not None:
            events.stop()
        for connection in (self._broker, self._results):
            if connection is not None:
                await asyncio.to_thread(connection.close)
        self._broker = self._results = None
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)
        self.store.close()


def failure_event(app: str, task: FailedTask) -> TimelineEvent:
    """One failed task as a timeline entry of its app."""
    where = f" on {task.worker}" if task.worker else ""
    text = (f"task {task.name or '?'} [{task.task_id[:8]}] failed{where}: "
            f"{task.exception or 'no exception recorded'}")
    return TimelineEvent(task.failed_at, f"celery:{app}", EVENT, "task failed",
                         printable(text, 300), Status.CRITICAL, source="celery failed tasks")


def flatten_stats(stats: dict[str, Any], prefix: str = "") -> tuple[tuple[str, str], ...]:
    """`inspect stats` as (dotted key, value) pairs: pool.max-concurrency, rusage.utime,
    prefetch_count, total.testbed.add..."""
    pairs: list[tuple[str, str]] = []
    for key in sorted(stats):
        value = stats[key]
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            pairs += flatten_stats(value, dotted + ".")
        elif isinstance(value, list):
            pairs.append((dotted, printable(", ".join(str(v) for v in value), 200)))
        else:
            pairs.append((dotted, printable(str(value), 200)))
    return tuple(pairs)


def worst_depth(snap: CelerySnapshot, warn: float | None, crit: float | None) -> Status:
    statuses = [by_thresholds(q.waiting, warn, crit) for q in snap.queues]
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


def _task(info: dict[str, Any], state: str, worker: str, eta: str | None = None) -> Task:
    started = info.get("time_start")
    return Task(task_id=str(info.get("id") or ""), name=str(info.get("name") or ""),
                state=state, worker=worker, args=_short(info.get("args")),
                kwargs=_short(info.get("kwargs")),
                started=float(started) if isinstance(started, int | float) and started > 1e9
                else None, eta=eta)


def _short(value: Any) -> str:
    return (value if isinstance(value, str) else repr(value))[:300]
