"""Headless silences and maintenance: `silence`, `unsilence`, `silences`, `maintenance start|end`.

Each change goes through the dispatcher (audited, refused in read-only mode). A silence is
its own confirmation (the command is the intent, and it ends by itself); maintenance asks,
or takes `--yes`, since it may stop services.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from console.config import Config
from console.core.actions import ActionSpec
from console.core.durations import clock, format_span, parse_duration
from console.core.errors import ConfigError
from console.core.loglines import printable
from console.core.targets import split_target
from console.dispatcher import ActionRun
from console.headless import EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from console.headless_actions import terminal_confirmer
from console.maintenance import DEFAULT_LENGTH, MaintenanceLog, end_spec, start_spec
from console.poller import BackendState, poll_once
from console.session import Session
from console.silences import Silences, silence_spec, unsilence_spec


def _seconds(text: str, flag: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{flag} {text!r}: {exc}") from None
    if seconds <= 0:
        raise ConfigError(f"{flag} {text!r}: give a length such as 30m or 2h")
    return seconds


def _pattern(text: str) -> str:
    if ":" not in text and text != "*":
        raise ConfigError(f"{text!r} is not a target or glob: write KIND:NAME, KIND:* or *")
    return text


def run_silence(config: Config, *, pattern: str, length: str, reason: str,
                read_only: bool) -> int:
    """`--headless silence TARGET_GLOB --for 2h --reason TEXT`."""
    if not reason.strip():
        raise ConfigError("--reason must say why (it is shown with the silenced status)")
    session = Session(config, read_only=read_only, backends=[])
    spec = silence_spec(session.silences, _pattern(pattern), seconds=_seconds(length, "--for"),
                        reason=reason.strip(), who=session.identity.user)
    return _report(asyncio.run(session.run_action(spec, _yes)))


def run_unsilence(config: Config, *, pattern: str, read_only: bool) -> int:
    """`--headless unsilence TARGET_GLOB`."""
    session = Session(config, read_only=read_only, backends=[])
    spec = unsilence_spec(session.silences, _pattern(pattern), who=session.identity.user)
    return _report(asyncio.run(session.run_action(spec, _yes)))


def run_silences(config: Config, *, fmt: str) -> int:
    """`--headless silences`: the active silences, the longest-lasting last."""
    active = sorted(Silences(config.console.state_dir).active(), key=lambda s: s.until)
    windows = MaintenanceLog(config.console.state_dir).active()
    if fmt == "json":
        print(json.dumps({"silences": [s.as_dict() for s in active],
                          "maintenance": [w.__dict__ for w in windows]}, indent=2))
        return EXIT_OK
    if not active:
        print("no active silences")
    now = time.time()
    for silence in active:
        print(f"{printable(silence.pattern)}  {printable(silence.describe())} (ends in "
              f"{format_span(silence.until - now)})")
    for window in windows:
        stopped = f"; stopped {', '.join(window.stopped)}" if window.stopped else ""
        print(f"MAINTENANCE {printable(window.describe())}{stopped}")
    return EXIT_OK


def run_maintenance(config: Config, *, phase: str, targets: list[str], length: str | None,
                    stop: bool, reason: str, assume_yes: bool, read_only: bool) -> int:
    """`--headless maintenance start|end TARGET...`, then the targets' state after."""
    for target in targets:
        split_target(target)
    session = Session(config, read_only=read_only, only=targets)
    missing = [t for t in targets if not any(b.answers_for(t) for b in session.backends)]
    if missing:
        raise ConfigError(f"{', '.join(missing)}: not in {config.display_path} (opsconsole "
                          "--headless status lists the targets)")
    return asyncio.run(_maintenance(session, phase, targets, length, stop, reason, assume_yes))


async def _maintenance(session: Session, phase: str, targets: list[str], length: str | None,
                       stop: bool, reason: str, assume_yes: bool) -> int:
    try:
        await _poll(session)  # the stop and start actions offered depend on what a poll sees
        if phase == "start":
            seconds = _seconds(length, "--for") if length else DEFAULT_LENGTH
            spec = start_spec(session.operator(), targets, seconds=seconds, reason=reason, stop=stop)
        else:
            spec = end_spec(session.operator(), targets)
        run = await session.run_action(spec, terminal_confirmer(assume_yes))
        for line in run.lines:
            print(f"  {line}")
        code = _report(run)
        if run.state != "refused":
            await _poll(session)
            for target in targets:
                view = [c for c in session.board.worst_first() if c[0].target == target]
                for check, polled in view:
                    print(f"now {check.status.name} {check.label} - {check.summary} "
                          f"(at {clock(polled)})")
    finally:
        await session.close_backends()
    return code


async def _poll(session: Session) -> None:
    deadline = session.config.console.deadline
    for backend in session.backends:
        result = await poll_once(backend, BackendState(), session.config.redactor,
                                 timeout=deadline)
        session.board.update(result)


async def _yes(spec: ActionSpec) -> bool:
    return True


def _report(run: ActionRun) -> int:
    message = run.outcome.message if run.outcome else run.state
    if run.state == "ok":
        print(message)
        return EXIT_OK
    print(message, file=sys.stderr)
    return EXIT_REFUSED if run.state == "refused" else EXIT_FAILED
