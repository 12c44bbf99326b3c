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

from console.config import Config
from console.core.actions import ActionSpec
from console.core.audit import AuditLog
from console.core.durations import clock, parse_duration
from console.core.errors import ConfigError
from console.core.scrub import scrub, scrub_text
from console.dispatcher import ActionRun
from console.headless import EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from console.output import emit
from console.poller import BackendState, poll_once
from console.registry import parse_target
from console.session import Session


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
        emit(json.dumps({"records": [scrub(r.as_dict()) for r in records],
                          "chain": {"ok": verdict.ok, "message": verdict.message}}, indent=2))
    else:
        lines = []
        for r in records:
            took = f" in {r.duration:.1f}s" if r.duration is not None else ""
            detail = r.error or r.outcome
            lines.append(scrub_text(
                f"{time.strftime('%Y-%m-%d', time.localtime(r.ts))} {clock(r.ts)} "
                f"{r.phase:<8} {r.who}@{r.client or '-'} {r.verb} {r.target}{took}"
                + (f" - {detail}" if detail else "")))
        lines.append(("OK" if verdict.ok else "BROKEN") + f": {verdict.message}")
        emit("\n".join(lines))
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
        print(scrub_text(f"{spec.title}\n  {spec.effect}"), file=sys.stderr)
        if spec.type_to_confirm:
            answer = ask(f"Type {spec.type_to_confirm!r} to confirm: ")
            return answer.strip() == spec.type_to_confirm
        return ask("Go ahead? [y/N] ").strip().lower() in ("y", "yes")

    return confirm


def run_action(config: Config, *, verb: str, target: str, options: Mapping[str, Any],
               assume_yes: bool, read_only: bool) -> int:
    """A mutating command (`restart`, `retry`, `backup`...) through the dispatcher."""
    parse_target(target)
    session = Session(config, read_only=read_only, only=[target])
    if not session.backends:
        raise ConfigError(f"{target} is not in {config.display_path}: add it to the config "
                          "or check the name (opsconsole --headless status lists targets)")
    return asyncio.run(_run_action(session, verb, target, options, assume_yes))


async def _run_action(session: Session, verb: str, target: str, options: Mapping[str, Any],
                      assume_yes: bool) -> int:
    printed = 0

    def show(run: ActionRun) -> None:
        nonlocal printed
        lines = list(run.lines)
        fresh = run.line_count - printed
        for line in lines[-fresh:] if fresh > 0 else []:
            emit(f"  {scrub_text(line)}")
        printed = run.line_count

    session.on_action(show)
    try:
        for backend in session.backends:  # the actions offered depend on what a poll sees
            session.board.update(await poll_once(backend, BackendState(), session.config.redactor))
        spec = session.action(target, verb, options)
        run = await session.run_action(spec, terminal_confirmer(assume_yes))
        show(run)
    finally:
        await session.close_backends()
    outcome = run.outcome
    message = outcome.message if outcome else run.state
    message = scrub_text(message)
    if run.state == "ok":
        emit(message)
        return EXIT_OK
    print(message, file=sys.stderr)
    return EXIT_REFUSED if run.state == "refused" else EXIT_FAILED
