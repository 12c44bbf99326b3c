"""Celery snapshot cost: the console's concurrent inspect vs `celery inspect` run one by one.

Starts its own redis-server and one, then two, real workers. Prints, for each worker count,
the median time of a full snapshot (every inspect method, queue depths, failed tasks) and of
the six `celery inspect` commands run one after another, and their ratio; then the CPU the
events receiver thread costs while the system is idle.

Run: .venv/bin/python bench/celery_snapshot.py
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backends.celery.backend import CeleryBackend  # noqa: E402
from backends.celery.client import INSPECT_METHODS  # noqa: E402
from console.assembly import build_backends  # noqa: E402
from console.config import parse_config  # noqa: E402
from console.sandbox.celery_worker import CeleryWorker  # noqa: E402
from console.sandbox.redis_server import RedisServer  # noqa: E402

CLI_METHODS = ("stats", "active", "reserved", "scheduled", "active_queues", "conf")
ROUNDS = 10
IDLE_SECONDS = 20.0


def make_backend(broker: str, results: str, workers: int, state: Path) -> CeleryBackend:
    text = (f'[console]\nstate_dir = "{state}"\n[[celery]]\nname = "bench"\n'
            f'broker = "{broker}"\nbackend = "{results}"\nexpect_workers = {workers}\n')
    backend = build_backends(parse_config(text, Path("bench.toml")))[0]
    assert isinstance(backend, CeleryBackend)
    return backend


def time_snapshots(backend: CeleryBackend, workers: int) -> float:
    async def run() -> list[float]:
        took = []
        await backend.collect()  # connections made once, as in a running console
        for _ in range(ROUNDS):
            started = time.perf_counter()
            snap = await backend.collect()
            took.append(time.perf_counter() - started)
            assert len(snap.online) == workers, snap.workers
        return took

    return statistics.median(asyncio.run(run()))


def time_sequential_inspect(backend: CeleryBackend, workers: int, limit: bool) -> float:
    """The same inspect methods from this process, one after another (the naive loop)."""
    took = []
    for _ in range(3):
        started = time.perf_counter()
        for method in INSPECT_METHODS:
            inspector = backend.client.app.control.inspect(timeout=1.0,
                                                           limit=workers if limit else None)
            getattr(inspector, method)()
        took.append(time.perf_counter() - started)
    return statistics.median(took)


def time_cli(broker: str) -> float:
    started = time.perf_counter()
    for method in CLI_METHODS:
        subprocess.run([sys.executable, "-m", "celery", "-b", broker, "inspect", method,
                        "--timeout", "1"], capture_output=True, timeout=60, check=False)
    return time.perf_counter() - started


def events_idle_cost(backend: CeleryBackend) -> tuple[float, float]:
    """CPU seconds per wall second of this process: idle, then idle with the receiver on."""
    def cpu_over(seconds: float) -> float:
        start_cpu, start = time.process_time(), time.monotonic()
        time.sleep(seconds)
        return (time.process_time() - start_cpu) / (time.monotonic() - start)

    base = cpu_over(IDLE_SECONDS / 2)
    backend.watch(lambda: None)
    time.sleep(1.0)
    with_events = cpu_over(IDLE_SECONDS)
    return base, with_events


def main() -> None:
    server = RedisServer().start()
    broker, results = server.url_for(5), server.url_for(6)
    started: list[CeleryWorker] = []
    try:
        with tempfile.TemporaryDirectory() as state:
            for count in (1, 2):
                started.append(CeleryWorker(broker_url=broker, backend_url=results,
                                            name=f"bench{count}@%h", concurrency=2).start())
                backend = make_backend(broker, results, count, Path(state))
                snapshot = time_snapshots(backend, count)
                naive = time_sequential_inspect(backend, count, limit=False)
                limited = time_sequential_inspect(backend, count, limit=True)
                asyncio.run(backend.close())
                cli = time_cli(broker)
                print(f"{count} worker(s): full snapshot ({len(INSPECT_METHODS)} inspect methods "
                      f"+ queues + failed) median {snapshot * 1000:.1f} ms; `celery inspect` x"
                      f"{len(CLI_METHODS)} one after another {cli:.2f} s; ratio "
                      f"{cli / snapshot:.0f}x faster")
                print(f"    in-process inspect one after another: without limit "
                      f"{naive * 1000:.0f} ms ({naive / snapshot:.0f}x the snapshot), with limit "
                      f"{limited * 1000:.0f} ms ({limited / snapshot:.1f}x)")
            backend = make_backend(broker, results, 2, Path(state))
            base, with_events = events_idle_cost(backend)
            asyncio.run(backend.close())
            print(f"events receiver at idle: {with_events * 100:.2f}% of a core "
                  f"(process idle without it: {base * 100:.2f}%; added "
                  f"{(with_events - base) * 100:.2f}%)")
    finally:
        for worker in reversed(started):
            worker.stop()
        server.stop()


if __name__ == "__main__":
    main()
