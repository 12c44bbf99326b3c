"""The systemd backend: one [[systemd]] entry polled through its bus worker, checked, acted on."""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from backends.base import Backend, Runtime
from backends.systemd.bus import BusClient
from backends.systemd.causes import UnitCauses
from backends.systemd.config import UNIT_NAME, SystemdConfig
from backends.systemd.history import unit_events
from backends.systemd.journal import JournalLineSource, restart_times, tail
from backends.systemd.listing import SystemdSnapshot, UnitState, parse_unit, unmatched_names
from backends.systemd.verdicts import unit_checks
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.counters import CounterHistory, Sample
from console.core.loglines import LineSource, LogLine
from console.core.model import CheckResult, Status
from console.core.targets import split_target
from console.core.timeline import TimelineEvent

VERBS = ("restart", "start", "stop", "reload", "reset-failed")
UNIT_SUFFIX = re.compile(r"\.(service|socket|timer|target|path|mount|automount|swap|slice|scope|"
                         r"device)$")


class SystemdBackend(Backend[SystemdSnapshot]):
    kind = "systemd"
    unreachable_status = Status.CRITICAL
    reads = ("properties",)

    def __init__(self, config: SystemdConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=config.interval or runtime.refresh,
                         timeout=config.timeout + 1.0)
        self.config = config
        self.client = BusClient(config.bus)
        self.history = CounterHistory(runtime.state_dir, self.id, config.restarts_window)
        self.known: tuple[str, ...] = ()
        self.causes = UnitCauses(config.journal_dir, config.timeout)

    def _restarts_from_journal(self, units: list[str], since: float) -> dict[str, list[float]]:
        return restart_times(units, since, self.config.journal_dir, self.config.timeout)

    # -- reading --------------------------------------------------------------------------
    async def collect(self) -> SystemdSnapshot:
        reply = await self.client.request("units", self.config.timeout,
                                          patterns=list(self.config.units))
        units = tuple(parse_unit(row) for row in reply["units"])
        counts = [Sample(u.name, u.restarts) for u in units if u.restarts is not None]
        growth = await asyncio.to_thread(self.history.record, counts, time.time(),
                                         self._restarts_from_journal)
        units = tuple(dataclasses.replace(u, restarts_in_window=growth.get(u.name, 0))
                      for u in units)
        units = await asyncio.to_thread(self.causes.attach, units)
        self.known = tuple(u.name for u in units)
        return SystemdSnapshot(self.config.bus_label, time.time(), units, self.config.units,
                               unmatched_names(self.config.units, units))

    def evaluate(self, snapshot: SystemdSnapshot) -> list[CheckResult]:
        results = [check for unit in snapshot.units for check in unit_checks(unit, self.config)]
        if not snapshot.units:
            results.append(CheckResult(
                f"unit:{','.join(self.config.units)}", Status.WARNING,
                f"no unit on {snapshot.bus} matches {', '.join(self.config.units)}"))
        return results

    def targets(self) -> list[str]:
        if self.known:
            return [f"unit:{name}" for name in self.known]
        return [f"unit:{pattern}" for pattern in self.config.units]

    def answers_for(self, target: str) -> bool:
        kind, _, name = target.partition(":")
        return kind == "unit" and any(fnmatch.fnmatchcase(full_name(name), p)
                                      for p in self.config.units)

    async def timeline_events(self, since: float, until: float, limit: int) -> list[TimelineEvent]:
        """Unit starts, stops, failures and restarts in the window, from the journal."""
        return await asyncio.to_thread(unit_events, self.config.units, since, until,
                                       self.config.journal_dir, self.config.timeout, limit)

    def watch(self, changed: Callable[[], None]) -> None:
        """Re-poll when systemd signals a change (PropertiesChanged); polling stays on."""
        self.client.on_change = changed

    async def close(self) -> None:
        await self.client.close()

    # -- the detail view ------------------------------------------------------------------
    async def properties(self, unit: str) -> dict[str, Any]:
        props: dict[str, Any] = await self.client.request("properties", self.config.timeout,
                                                          name=unit)
        return props

    async def journal_tail(self, unit: str, lines: int = 200) -> list[LogLine]:
        return await tail(unit, self.config.journal_dir, lines, timeout=self.config.timeout)

    def log_sources(self, target: str | None = None) -> list[LineSource]:
        """The journals of the units seen in the last poll, or of one unit (its last 200
        lines first)."""
        if target is not None:
            kind, _, name = target.partition(":")
            if kind != "unit" or not self.answers_for(target):
                return []
            return [JournalLineSource(full_name(name), self.config.journal_dir, lines=200)]
        return [JournalLineSource(unit, self.config.journal_dir) for unit in self.known
                if not unit.endswith(".timer")]

    # -- actions --------------------------------------------------------------------------
    def actions(self, snapshot: SystemdSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        if not self.answers_for(target):
            return []
        _, given = split_target(target)
        unit = full_name(given)
        if not UNIT_NAME.match(unit):
            return []
        target = f"unit:{unit}"
        state = snapshot.unit(unit) if snapshot is not None else None
        specs = []
        for verb in VERBS:
            if verb == "reload" and not (state is not None and state.can_reload):
                continue
            specs.append(ActionSpec(
                verb=verb, target=target, title=f"{verb.capitalize()} {unit}",
                effect=_effect(verb, unit, state, self.config), backend_id=self.id,
                run=self._runner(verb, unit), params={"unit": unit}))
        if unit.endswith(".timer"):
            specs.append(self._run_now(unit, state))
        return specs

    def _run_now(self, timer: str, state: UnitState | None) -> ActionSpec:
        """"Run now": start the service the timer triggers, and watch it until it finishes."""
        service = state.triggers[0] if state is not None and state.triggers else (
            timer.removesuffix(".timer") + ".service")
        from backends.systemd.actions import UnitAction  # only when acting

        start = UnitAction(self.client, self.config, "start", service)

        async def run(progress: Progress) -> ActionOutcome:
            outcome = await start.run(progress)
            return ActionOutcome(outcome.ok, f"ran {service} now ({timer} triggers it): "
                                 f"{outcome.message}", outcome.details)

        return ActionSpec(
            verb="run", target=f"unit:{timer}", title=f"Run {service} now",
            effect=(f"start {service}, which {timer} triggers, outside its schedule, on "
                    f"{self.config.bus_label}; then watch it for up to "
                    f"{self.config.action_timeout:g}s"),
            backend_id=self.id, run=run, params={"unit": service, "timer": timer})

    def _runner(self, verb: str, unit: str) -> Callable[[Progress], Any]:
        from backends.systemd.actions import UnitAction  # only when acting

        action = UnitAction(self.client, self.config, verb, unit)
        return action.run


def full_name(name: str) -> str:
    """`archivist-vod` means `archivist-vod.service`, as it does for systemctl."""
    return name if UNIT_SUFFIX.search(name) else f"{name}.service"


def _effect(verb: str, unit: str, state: UnitState | None, config: SystemdConfig) -> str:
    now = f" (now {state.active} ({state.sub}))" if state else ""
    what = {
        "restart": f"stop and start {unit}{now}" + (
            "; its processes are killed and started again" if unit.endswith(".service") else ""),
        "start": f"start {unit}{now}",
        "stop": f"stop {unit}{now}; it stays stopped until started again",
        "reload": f"ask {unit} to reload its configuration (ExecReload){now}",
        "reset-failed": f"clear the failed state and restart counter of {unit}{now}",
    }[verb]
    return f"{what}, on {config.bus_label}; then watch it for up to {config.action_timeout:g}s"
