"""A deploy's watch: health, log error rates and unit restarts, before the deploy and after.

`measure_before` runs first in a deploy plan and keeps what it saw in the plan's context;
`watch` runs last and polls the same things for the watch period, writing one line per poll
to the step's output (which every console shows live), and fails the step with what regressed
once a limit of `watch_limits` is crossed. Each reading uses the backend that owns it: the
HTTP check, the logs backend's rate reader, the systemd worker's unit state.
"""

from __future__ import annotations

import asyncio
import glob
import os
import time
from dataclasses import dataclass, field
from typing import Any

from backends.deploy.steps import PlanContext, StepOutput, configured_entry, systemd_config
from console.core.durations import format_span
from console.core.errors import ActionFailed, one_line
from console.core.loglines import printable


class Regression(ActionFailed):
    """What got worse during the watch, in one line."""


@dataclass
class Baseline:
    """What the deploy's health, logs and units looked like before anything changed."""

    health: str = ""  # the check's status name, or "" without a health check
    error_rates: dict[str, float] = field(default_factory=dict)  # [[logs]] name -> per minute


@dataclass
class _UnitMark:
    invocation: str
    restarts: int | None


def poll_every(watch: float) -> float:
    """Poll about thirty times per watch, between once a second and once every ten."""
    return min(10.0, max(1.0, watch / 30))


async def _health(ctx: PlanContext) -> tuple[bool, str]:
    from backends.http.backend import HttpBackend
    from console.core.model import Status

    backend = HttpBackend(configured_entry(ctx.sections, "http", ctx.deploy.health))
    try:
        result = backend.evaluate(await backend.collect())[0]
    except Exception as exc:  # unreachable counts as failing, with its reason
        return False, f"unreachable: {one_line(exc)}"
    finally:
        await backend.close()
    return result.status is Status.OK, f"{result.status.name}: {printable(result.summary)}"


class _ErrorCounter:
    """Error-pattern matches in one [[logs]] entry's files, from when it was opened."""

    def __init__(self, entry: Any, window: float, backfill: int) -> None:
        from backends.logs.rates import RateReader

        paths = sorted(p for p in glob.glob(entry.path) if not os.path.isdir(p)) \
            if glob.has_magic(entry.path) else [entry.path]
        self.name = entry.name
        self.readers = [RateReader(p, fmt=entry.format, error_pattern=entry.error_pattern,
                                   window=window, backfill=backfill) for p in paths]
        self.opened = time.time()

    def matches(self) -> int:
        return sum(reader.poll().totals.matches for reader in self.readers)

    def close(self) -> None:
        for reader in self.readers:
            reader.close()


def _logs(ctx: PlanContext) -> list[Any]:
    return [configured_entry(ctx.sections, "logs", name) for name in ctx.deploy.logs]


async def measure_before(ctx: PlanContext, out: StepOutput) -> None:
    """The baseline step: health now, and each log's error rate over its own window."""
    baseline = Baseline()
    if ctx.deploy.health:
        _ok, line = await _health(ctx)
        baseline.health = line.split(":", 1)[0]
        out.log(f"health of {ctx.deploy.health}: {line}")
    for entry in _logs(ctx):
        if entry.error_pattern is None:
            out.log(f"{entry.name}: no error_pattern in its [[logs]] entry: not counted")
            continue
        counter = _ErrorCounter(entry, entry.window, entry.backfill)
        try:
            matches = await asyncio.to_thread(counter.matches)
        finally:
            counter.close()
        rate = matches * 60.0 / entry.window
        baseline.error_rates[entry.name] = rate
        out.log(f"{entry.name}: {matches} errors in the last {format_span(entry.window)} "
                f"({rate:.2f}/min)")
    if ctx.deploy.restart_units:
        marks = await _unit_marks(ctx)
        out.log("units: " + ", ".join(f"{u} {m.restarts if m.restarts is not None else '?'} "
                                      "restarts so far" for u, m in marks.items()))
    ctx.baseline = baseline


async def _unit_marks(ctx: PlanContext) -> dict[str, _UnitMark]:
    from backends.systemd.bus import BusClient

    systemd = systemd_config(ctx)
    client = BusClient(ctx.deploy.bus or systemd.bus)
    marks = {}
    try:
        for unit in ctx.deploy.restart_units:
            state = await client.request("state", systemd.timeout, name=unit)
            if str(state.get("ActiveState")) != "active":
                marks[unit] = _UnitMark("", None)
                continue
            marks[unit] = _UnitMark(str(state.get("InvocationID")), state.get("NRestarts"))
    finally:
        await client.close()
    return marks


def _restarts(before: dict[str, _UnitMark], now: dict[str, _UnitMark]) -> dict[str, int]:
    """Restarts per unit since `before`: a new invocation or a grown restart counter; a unit
    that is not active counts as one more."""
    counted = {}
    for unit, was in before.items():
        seen = now.get(unit, _UnitMark("", None))
        grown = (seen.restarts - was.restarts) if seen.restarts is not None and \
            was.restarts is not None else 0
        counted[unit] = max(grown, 1 if seen.invocation != was.invocation else 0)
    return counted


async def watch(ctx: PlanContext, out: StepOutput) -> None:
    """Poll until the watch is over; raise Regression when a limit is crossed."""
    limits = ctx.deploy.watch_limits
    baseline: Baseline = ctx.baseline or Baseline()
    every = poll_every(ctx.watch)
    counters = [_ErrorCounter(e, ctx.watch + 60, 0) for e in _logs(ctx)
                if e.error_pattern is not None]
    for counter in counters:  # the first read is a backfill, which skips lines without a time
        await asyncio.to_thread(counter.matches)
    units_before = await _unit_marks(ctx) if ctx.deploy.restart_units else {}
    started = time.monotonic()
    failures = 0
    try:
        while True:
            elapsed = time.monotonic() - started
            parts = [f"{format_span(elapsed)}/{format_span(ctx.watch)}"]
            problems = []
            if ctx.deploy.health:
                ok, line = await _health(ctx)
                failures = 0 if ok else failures + 1
                parts.append(f"health {line}")
                if failures >= limits.health_failures:
                    problems.append(f"{ctx.deploy.health} failed its health check {failures} "
                                    f"times in a row ({line}; before the deploy: "
                                    f"{baseline.health or 'not measured'})")
            for counter in counters:
                matches = await asyncio.to_thread(counter.matches)
                minutes = max(time.time() - counter.opened, 60.0) / 60.0
                rate = matches / minutes
                before = baseline.error_rates.get(counter.name, 0.0)
                parts.append(f"{counter.name} {rate:.2f} errors/min (before {before:.2f})")
                if rate > limits.error_floor and rate > before * limits.error_factor:
                    problems.append(f"{counter.name} logs {rate:.2f} errors/min, before the "
                                    f"deploy {before:.2f}/min")
            if units_before:
                counted = _restarts(units_before, await _unit_marks(ctx))
                total = sum(counted.values())
                parts.append(f"restarts {total}")
                if total > limits.restarts:
                    which = ", ".join(f"{u} {n}x" for u, n in counted.items() if n)
                    problems.append(f"units restarted or went down during the watch: {which}")
            out.log(" · ".join(parts))
            if problems:
                raise Regression("regression during the watch: " + "; ".join(problems))
            if elapsed >= ctx.watch:
                out.log(f"no regression in {format_span(ctx.watch)}")
                return
            await asyncio.sleep(min(every, max(0.0, ctx.watch - elapsed)))
    finally:
        for counter in counters:
            counter.close()
