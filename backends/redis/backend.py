"""The Redis backend: one per `[[redis]]` server, polling all its queue families at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rex

from backends.base import Backend, Runtime
from backends.redis import moves
from backends.redis.checks import family_check
from backends.redis.client import RedisUnavailable, describe, make_client
from backends.redis.config import QueueConfig, RedisConfig, celery_family, discovered_family
from backends.redis.history import History
from backends.redis.peek import Peek, peek
from backends.redis.probe import KeyReading, KeyRequest, Probe
from backends.redis.snapshot import FamilySnapshot, RedisSnapshot
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.errors import ActionFailed
from console.core.model import CheckResult, Status

CELERY_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
CELERY_UNACKED = "unacked"
DISCOVER_EVERY = 60.0
_SCAN_COUNT = 1000
_SCAN_ROUNDS = 200
QUEUE_TYPES = ("list", "set", "zset", "stream", "none")
HOLDER_TYPES = ("list", "set", "zset", "none")


def build(entries: list[RedisConfig], runtime: Runtime) -> list[Backend]:
    return [RedisBackend(entry, runtime) for entry in entries]


class RedisBackend(Backend[RedisSnapshot]):
    kind = "redis"
    unreachable_status = Status.CRITICAL
    reads = ("peek_family",)

    def __init__(self, config: RedisConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=config.interval or runtime.refresh,
                         timeout=config.timeout + 1.0)
        self.config = config
        self._client: aioredis.Redis | None = None
        self.probe = Probe()
        self.history = History()
        self.discovered: tuple[QueueConfig, ...] = ()
        self._discovered_at: float | None = None
        self._discover_note = ""
        for queue in config.celery_queues:
            for suffix in CELERY_PRIORITY_SUFFIXES:
                self.probe.types[queue + suffix] = "list"

    # -- families and targets -------------------------------------------------------------
    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            self._client = make_client(self.config)
        return self._client

    def families(self) -> list[QueueConfig]:
        return [*self.config.queues, *(celery_family(q) for q in self.config.celery_queues),
                *self.discovered]

    def target_of(self, family: QueueConfig) -> str:
        return f"queue:{self.name}/{family.name}"

    def family_for(self, target: str) -> QueueConfig | None:
        return next((f for f in self.families() if self.target_of(f) == target), None)

    def targets(self) -> list[str]:
        return [self.target_of(f) for f in self.families()]

    def answers_for(self, target: str) -> bool:
        return target.startswith(f"queue:{self.name}/")

    # -- polling --------------------------------------------------------------------------
    async def collect(self) -> RedisSnapshot:
        try:
            async with asyncio.timeout(self.config.timeout):
                if self.config.discover and self._discovery_due():
                    await self._discover()
                families = self.families()
                readings = await self.probe.read(self.client, self._requests(families))
        except (rex.RedisError, OSError, TimeoutError) as exc:
            raise RedisUnavailable(describe(exc, self.config)) from None
        now = time.time()
        self.history.drop_except({f.name for f in families})
        snaps = tuple(self._family(f, readings, now) for f in families)
        return RedisSnapshot(self.name, now, snaps, 1, self._discover_note)

    def _requests(self, families: list[QueueConfig]) -> list[KeyRequest]:
        wanted: dict[str, KeyRequest] = {}
        for family in families:
            for key in _depth_keys(family):
                wanted.setdefault(key, KeyRequest(key))
            if family.celery:
                wanted.setdefault(CELERY_UNACKED, KeyRequest(CELERY_UNACKED))
            if family.processing:
                wanted[family.processing] = KeyRequest(family.processing, sample=True)
            if family.failed:
                wanted.setdefault(family.failed, KeyRequest(family.failed))
        return list(wanted.values())

    def _family(self, family: QueueConfig, readings: dict[str, KeyReading],
                now: float) -> FamilySnapshot:
        problems: list[str] = []
        queue_readings = [readings[k] for k in _depth_keys(family)]
        for reading in queue_readings:
            if reading.type not in QUEUE_TYPES:
                problems.append(f"{reading.key} is a {reading.type}, expected a list, set, "
                                "sorted set or stream: fix the config's queue key")
        depth = sum(r.length for r in queue_readings if r.type in QUEUE_TYPES)
        pending = queue_readings[0].pending
        processing: int | None = None
        signature: Any = None
        if family.celery:
            processing = readings[CELERY_UNACKED].length
        elif family.processing:
            reading = readings[family.processing]
            if reading.type not in HOLDER_TYPES:
                problems.append(f"{reading.key} is a {reading.type}, expected a list or set: "
                                "fix the config's processing key")
            processing, signature = reading.length, reading.sample
        failed: int | None = None
        if family.failed:
            reading = readings[family.failed]
            if reading.type not in HOLDER_TYPES:
                problems.append(f"{reading.key} is a {reading.type}, expected a set or list: "
                                "fix the config's failed key")
            failed = reading.length
        trend = self.history.add(family.name, now, depth, processing, signature)
        return FamilySnapshot(family.name, self.target_of(family), family,
                              queue_readings[0].type, depth, trend, pending, processing,
                              failed, tuple(problems))

    def _discovery_due(self) -> bool:
        return self._discovered_at is None or time.monotonic() - self._discovered_at \
            >= DISCOVER_EVERY

    async def _discover(self) -> None:
        """SCAN (never KEYS) for the configured patterns, bounded in keys and rounds."""
        configured = {k for f in self.config.queues for k in f.keys()}
        found: set[str] = set()
        limit = self.config.discover_limit
        cut = False
        for pattern in self.config.discover:
            cursor = 0
            for _ in range(_SCAN_ROUNDS):
                cursor, keys = await self.client.scan(cursor, match=pattern, count=_SCAN_COUNT)
                for raw in keys:
                    key = raw.decode(errors="backslashreplace") if isinstance(raw, bytes) else raw
                    if key not in configured:
                        found.add(key)
                if cursor == 0 or len(found) >= limit:
                    break
            else:
                cut = True
            if len(found) >= limit:
                cut = True
                break
        self.discovered = tuple(discovered_family(k, self.config)
                                for k in sorted(found)[:limit])
        self._discover_note = (f"discovery stopped at {limit} keys (raise discover_limit)"
                               if cut else "")
        self._discovered_at = time.monotonic()

    def evaluate(self, snapshot: RedisSnapshot) -> list[CheckResult]:
        return [family_check(f, snapshot.polled_at) for f in snapshot.families]

    # -- actions --------------------------------------------------------------------------
    def actions(self, snapshot: RedisSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        family = self.family_for(target)
        if family is None:
            return []
        options = options or {}
        snap = snapshot.family(family.name) if snapshot is not None else None
        return [self._retry(family, snap, bool(options.get("dry_run"))),
                self._requeue(family, snap), self._purge(family, snap)]

    def _unavailable(self, family: QueueConfig, key: str | None, what: str) -> str | None:
        if family.celery:
            return "a Celery queue: retry its tasks through the celery: target"
        if key is None:
            return f"no {what} key is configured for {family.name}"
        return None

    async def _move(self, source: str, destination: str, family: QueueConfig,
                    progress: Progress) -> int:
        """Move every item of `source` to `destination` safely; how many moved."""
        progress.progress(0, None, f"moving {source} to {destination}")
        try:
            result = await moves.move_items(
                self.client, source, destination, chunk=self.config.chunk, push=family.push,
                progress=lambda done, total: progress.progress(
                    done, total, f"moved {done:,} of {total:,}"))
        except (moves.MoveRefused, moves.MoveFailed) as exc:
            raise ActionFailed(str(exc)) from None
        except (rex.RedisError, OSError, TimeoutError) as exc:
            raise ActionFailed(describe(exc, self.config)) from None
        return result.moved

    def _retry(self, family: QueueConfig, snap: FamilySnapshot | None,
               dry_run: bool) -> ActionSpec:
        target = self.target_of(family)
        failed, queue = family.failed, family.queue
        count = f"{snap.failed:,}" if snap and snap.failed is not None else "all"
        unavailable = self._unavailable(family, failed, "failed")

        async def run(progress: Progress) -> ActionOutcome:
            assert failed is not None
            if dry_run:
                try:
                    plan = await moves.plan_move(self.client, failed, queue)
                except moves.MoveRefused as exc:
                    raise ActionFailed(str(exc)) from None
                except (rex.RedisError, OSError, TimeoutError) as exc:
                    raise ActionFailed(describe(exc, self.config)) from None
                return ActionOutcome(True, f"dry run: would move {plan.count:,} items "
                                           f"from {failed} to {queue}")
            moved = await self._move(failed, queue, family, progress)
            return ActionOutcome(True, f"retried {moved:,} failed items: "
                                       f"moved from {failed} to {queue}")

        if dry_run:
            return ActionSpec(verb="retry", target=target, title=f"Retry failed of {family.name} "
                              "(dry run)", effect=f"count the items of {failed} (nothing moves)",
                              run=run, backend_id=self.id, mutating=False,
                              unavailable=unavailable)
        return ActionSpec(verb="retry", target=target, title=f"Retry failed of {family.name}",
                          effect=f"move {count} items from {failed} back to {queue}, in chunks "
                                 "(copied first, then removed)",
                          run=run, backend_id=self.id, params={"failed_count": count},
                          unavailable=unavailable)

    def _requeue(self, family: QueueConfig, snap: FamilySnapshot | None) -> ActionSpec:
        target = self.target_of(family)
        processing, queue = family.processing, family.queue
        count = f"{snap.processing:,}" if snap and snap.processing is not None else "all"

        async def run(progress: Progress) -> ActionOutcome:
            assert processing is not None
            moved = await self._move(processing, queue, family, progress)
            return ActionOutcome(True, f"requeued {moved:,} items: moved from "
                                       f"{processing} to {queue}")

        return ActionSpec(verb="requeue", target=target,
                          title=f"Requeue stuck items of {family.name}",
                          effect=f"move {count} items from {processing} back to {queue}; "
                                 "workers may still be working on them and finish twice",
                          run=run, backend_id=self.id, params={"processing_count": count},
                          unavailable=self._unavailable(family, processing, "processing"))

    def _purge(self, family: QueueConfig, snap: FamilySnapshot | None) -> ActionSpec:
        target = self.target_of(family)
        failed = family.failed
        count = f"{snap.failed:,}" if snap and snap.failed is not None else "all"

        async def run(progress: Progress) -> ActionOutcome:
            assert failed is not None
            try:
                deleted = await moves.purge(self.client, failed)
            except moves.MoveRefused as exc:
                raise ActionFailed(str(exc)) from None
            except (rex.RedisError, OSError, TimeoutError) as exc:
                raise ActionFailed(describe(exc, self.config)) from None
            return ActionOutcome(True, f"purged {failed}: {deleted:,} items deleted")

        return ActionSpec(verb="purge", target=target, title=f"Purge failed items of {family.name}",
                          effect=f"delete {failed} and its {count} items for good",
                          run=run, backend_id=self.id, type_to_confirm=family.name,
                          params={"key": failed or "", "count": count},
                          unavailable=self._unavailable(family, failed, "failed"))

    # -- previews -------------------------------------------------------------------------
    async def peek_family(self, target: str, count: int = 20) -> list[Peek]:
        """The first items of a family's queue, processing and failed keys."""
        family = self.family_for(target)
        if family is None:
            raise RedisUnavailable(f"{target} is not a queue of {self.name}")
        keys = [k for k in (family.queue, family.processing, family.failed) if k]
        try:
            async with asyncio.timeout(self.config.timeout):
                return [await peek(self.client, key, count) for key in keys]
        except (rex.RedisError, OSError, TimeoutError) as exc:
            raise RedisUnavailable(describe(exc, self.config)) from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _depth_keys(family: QueueConfig) -> tuple[str, ...]:
    if family.celery:
        return tuple(family.queue + s for s in CELERY_PRIORITY_SUFFIXES)
    return (family.queue,)
