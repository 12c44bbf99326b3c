"""Headless actions and the audit log: `restart`, `retry`, `backup`, `restore`, `rollback`, `audit`.

Every action goes through the dispatcher, as in the TUI; confirmation comes from `--yes` or a
prompt on a terminal, never from a script's silence.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from backends.base import Backend
from console.actions import ActionSpec
from console.assembly import build_backends
from console.audit import AuditLog
from console.config import Config
from console.dispatcher import ActionRun, Dispatcher
from console.durations import clock, parse_duration
from console.errors import ConfigError
from console.headless import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, close_backends
from console.identity import current_identity
from console.poller import BackendState, poll_once
from console.targets import split_target


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
        await close_backends(backends)
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
