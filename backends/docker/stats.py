"""CPU % and memory of running containers, collected in the background, never on a poll.

Each round asks every running container for one sample at once (`one_shot`, no 1 s wait),
several at a time, and CPU % comes from the difference between this round and the last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from backends.docker.engine import Engine
from backends.docker.inspect import Usage


def _cpu_numbers(sample: dict[str, Any]) -> tuple[int, int, int]:
    cpu = sample.get("cpu_stats") or {}
    usage = int((cpu.get("cpu_usage") or {}).get("total_usage") or 0)
    system = int(cpu.get("system_cpu_usage") or 0)
    cpus = int(cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage")
                                                 or []) or 1)
    return usage, system, cpus


def memory_of(sample: dict[str, Any]) -> tuple[int | None, int | None]:
    """(used without page cache, limit), as `docker stats` shows them."""
    memory = sample.get("memory_stats") or {}
    if "usage" not in memory:
        return None, None
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", detail.get("cache", 0)))
    limit = memory.get("limit")
    return max(0, int(memory["usage"]) - int(cache or 0)), int(limit) if limit else None


class StatsCollector:
    """A background thread filling `usage` for the ids that `running_ids()` returns."""

    def __init__(self, engine: Engine, running_ids: Callable[[], list[str]],
                 interval: float, workers: int = 4) -> None:
        self.engine = engine
        self.running_ids = running_ids
        self.interval = interval
        self.workers = workers
        self._usage: dict[str, Usage] = {}
        self._previous: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="docker-stats", daemon=True)
            self._thread.start()

    def usage(self, container_id: str) -> Usage | None:
        return self._usage.get(container_id)

    def _loop(self) -> None:
        with ThreadPoolExecutor(max_workers=self.workers,
                                thread_name_prefix="docker-stats") as pool:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._round(pool)
                except Exception:
                    pass
                self._stop.wait(max(1.0, self.interval - (time.monotonic() - started)))

    def _round(self, pool: ThreadPoolExecutor) -> None:
        ids = self.running_ids()
        samples = list(pool.map(self._sample, ids))
        fresh: dict[str, Usage] = {}
        for cid, sample in zip(ids, samples, strict=True):
            if sample is None:
                continue
            usage, system, cpus = _cpu_numbers(sample)
            percent = None
            before = self._previous.get(cid)
            if before is not None and system > before[1]:
                percent = round((usage - before[0]) / (system - before[1]) * cpus * 100.0, 1)
            self._previous[cid] = (usage, system)
            memory, limit = memory_of(sample)
            fresh[cid] = Usage(percent, memory, limit)
        self._usage = fresh
        for cid in list(self._previous):
            if cid not in fresh:
                del self._previous[cid]

    def _sample(self, container_id: str) -> dict[str, Any] | None:
        try:
            sample: dict[str, Any] = self.engine.call(
                lambda client: client.api.stats(container_id, stream=False, one_shot=True))
            return sample
        except Exception:
            return None

    def close(self) -> None:
        self._stop.set()
