"""The headless runner: checks, states, actions and the audit log without a screen.

Nothing here imports Textual; backends are imported only for sections the config uses.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from backends.base import Backend
from console import report
from console.actions import ActionSpec
from console.assembly import build_backends
from console.audit import AuditLog
from console.config import Config
from console.dispatcher import ActionRun, Dispatcher
from console.durations import clock, parse_duration
from console.errors import ConfigError
from console.identity import current_identity
from console.model import CheckResult, PollResult, Status
from console.poller import BackendState, poll_once
from console.targets import matches, split_target

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
    await _close(backends)
    return results


async def _close(backends: list[Backend]) -> None:
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


def run_audit(config: Config, *, fmt: str, since: str | None) -> int:
    """`--headless audit`: the records, then whether the hash chain verifies."""
    log = AuditLog(config.console.state_dir)
    cutoff = None
    if since:
        try:
            cutoff = time.time() - parse_duration(since)
        except ValueError as exc:
            raise ConfigError(f"--since {since!r}: {exc}") from None
    records = log.records(since=cutoff)
    verdict = log.verify()
    if fmt == "json":
        print(json.dumps({"records": [r.as_dict() for r in records],
                          "chain": {"ok": verdict.ok, "message": verdict.message}}, indent=2))
    else:
        for r in records:
            took = f" in {r.duration:.1f}s" if r.duration is not None else ""
            detail = r.error or r.outcome
            print(f"{time.strftime('%Y-%m-%d', time.localtime(r.ts))} {clock(r.ts)} "
                  f"{r.phase:<8} {r.who}@{r.client or '-'} {r.verb} {r.target}{took}"
                  + (f" - {detail}" if detail else ""))
        print(("OK" if verdict.ok else "BROKEN") + f": {verdict.message}")
    return EXIT_OK if verdict.ok else EXIT_FAILED


def terminal_confirmer(assume_yes: bool, ask: Callable[[str], str] = input,
                       interactive: bool | None = None) -> Callable[[ActionSpec], Any]:
    """Confirmation for headless actions: --yes, a prompt on a terminal, else refuse."""
    async def confirm(spec: ActionSpec) -> bool:
        if assume_yes:
            return True
        tty = sys.stdin.isatty() if interactive is None else interactive
        if not tty:
            print(f"{spec.title}: not confirmed (no terminal): pass --yes to run it from a script",
                  file=sys.stderr)
            return False
        print(f"{spec.title}\n  {spec.effect}", file=sys.stderr)
        if spec.type_to_confirm:
            answer = ask(f"Type {spec.type_to_confirm!r} to confirm: ")
            return answer.strip() == spec.type_to_confirm
        return ask("Go ahead? [y/N] ").strip().lower() in ("y", "yes")

    return confirm


def run_action(config: Config, *, verb: str, target: str, options: Mapping[str, Any],
               assume_yes: bool, read_only: bool) -> int:
    """A mutating command (`restart`, `retry`, `backup`...) through the dispatcher."""
    split_target(target)
    backends = build_backends(config, [target])
    if not backends:
        raise ConfigError(f"{target} is not in {config.display_path}: add it to the config "
                          "or check the name (opsconsole --headless status lists targets)")
    return asyncio.run(_run_action(config, backends, verb, target, options, assume_yes,
                                   read_only))


async def _run_action(config: Config, backends: list[Backend], verb: str, target: str,
                      options: Mapping[str, Any], assume_yes: bool, read_only: bool) -> int:
    try:
        spec = await _find_action(config, backends, verb, target, options)
        printed = 0

        def show(run: ActionRun) -> None:
            nonlocal printed
            lines = list(run.lines)
            fresh = run.line_count - printed
            for line in lines[-fresh:] if fresh > 0 else []:
                print(f"  {line}")
            printed = run.line_count

        dispatcher = Dispatcher(state_dir=config.console.state_dir, read_only=read_only,
                                redactor=config.redactor, identity=current_identity(),
                                on_change=show)
        run = await dispatcher.run(spec, terminal_confirmer(assume_yes))
        show(run)
    finally:
        await _close(backends)
    outcome = run.outcome
    message = outcome.message if outcome else run.state
    if run.state == "ok":
        print(message)
        return EXIT_OK
    print(message, file=sys.stderr)
    return EXIT_REFUSED if run.state == "refused" else EXIT_FAILED


async def _find_action(config: Config, backends: list[Backend], verb: str, target: str,
                       options: Mapping[str, Any]) -> ActionSpec:
    offered: list[str] = []
    for backend in backends:
        result = await poll_once(backend, BackendState(), config.redactor)
        for spec in backend.actions(result.snapshot, target, options):
            if spec.verb == verb:
                return spec
            offered.append(spec.verb)
    choice = f" (it offers: {', '.join(sorted(set(offered)))})" if offered else ""
    raise ConfigError(f"{target} has no '{verb}' action{choice}")
