"""The headless runner's checks: `check` and `status` without a screen.

Nothing here imports Textual; backends are imported only for sections the config uses.
Actions and the audit log live in console.headless_actions, loaded only when asked for.
"""

from __future__ import annotations

import asyncio
import json
import time

from backends.base import Backend
from console import report
from console.assembly import build_backends
from console.config import Config
from console.model import CheckResult, PollResult, Status
from console.poller import BackendState, poll_once
from console.targets import matches

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


async def poll_all(config: Config, backends: list[Backend],
                   deadline: float) -> list[PollResult]:
    """Poll every backend once, concurrently; whatever misses the deadline is UNKNOWN."""
    async def one(backend: Backend) -> PollResult:
        return await poll_once(backend, BackendState(), config.redactor, timeout=deadline)

    tasks = {asyncio.create_task(one(b)): b for b in backends}
    results: list[PollResult] = []
    if tasks:
        done, pending = await asyncio.wait(tasks, timeout=deadline + 0.5)
        results = [t.result() for t in done]
        for task in pending:
            task.cancel()
            backend = tasks[task]
            reason = f"no answer within the run's deadline of {deadline:g}s"
            results.append(PollResult(backend.id, backend.kind, time.time(), deadline, tuple(
                CheckResult(t, Status.UNKNOWN, reason) for t in backend.targets()), error=reason))
    await close_backends(backends)
    return results


async def close_backends(backends: list[Backend]) -> None:
    for backend in backends:
        try:
            async with asyncio.timeout(3):
                await backend.close()
        except Exception:  # closing is best effort; the results are already in
            pass


def _deadline(config: Config, timeout: float | None) -> float:
    return timeout if timeout is not None else config.console.deadline


def run_check(config: Config, *, fmt: str, only: list[str], timeout: float | None) -> int:
    """`--headless check`: monitoring-plugins output; the exit code is the worst status."""
    started = time.monotonic()
    backends = build_backends(config, only or None)
    if only and not backends:
        print(f"OPSCONSOLE UNKNOWN - no configured target matches {' '.join(only)}")
        return int(Status.UNKNOWN)
    results = asyncio.run(poll_all(config, backends, _deadline(config, timeout)))
    checks = [c for r in results for c in r.checks]
    if only:
        checks = [c for c in checks if matches(c.target, only)] or [
            CheckResult(" ".join(only), Status.UNKNOWN, "no check answered for this target")]
    if fmt == "json":
        print(report.check_json(checks, time.monotonic() - started))
    else:
        print(report.check_text(checks))
    return int(report.overall(checks))


def run_status(config: Config, *, fmt: str) -> int:
    """`--headless status`: every target's state as read now, thresholds left aside."""
    backends = build_backends(config)
    results = asyncio.run(poll_all(config, backends, config.console.deadline))
    if fmt == "json":
        document = [{"backend": r.backend_id, "polled_at": r.polled_at, "error": r.error,
                     "targets": [c.target for c in r.checks],
                     "summaries": {c.label: c.summary for c in r.checks},
                     "snapshot": report.to_jsonable(r.snapshot)} for r in results]
        print(json.dumps(document, indent=2))
        return EXIT_OK
    for result in sorted(results, key=lambda r: r.backend_id):
        for check in result.checks:
            print(f"{check.label}: {check.summary}")
    return EXIT_OK
