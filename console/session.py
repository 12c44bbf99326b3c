"""A Session: everything a front end drives, without a front end.

It owns the config, the backends, the board of check results, the poller, the dispatcher and
the operator's identity, and answers the questions every front end asks: which actions a
target offers, which view shows it, what each backend currently says (typed snapshots with
their "waiting" or "unreachable" reason), the checks worst first and the status counts. The
TUI drives one, the headless runner drives one, and a remote host can serve one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from backends.base import Backend
from console import registry
from console.assembly import build_backends
from console.board import BackendView, CheckBoard
from console.broken import BrokenBackend
from console.config import Config
from console.core.actions import ActionSpec
from console.core.durations import clock
from console.core.errors import ConfigError
from console.core.identity import Identity, current_identity, describe_operator
from console.core.model import CheckResult, PollResult, Status
from console.core.scrub import scrub_text
from console.dispatcher import ActionRun, Dispatcher
from console.maintenance import MaintenanceLog, Operator, Window, end_spec, start_spec
from console.perfhistory import PerfHistory
from console.poller import BackendState, Poller, close_all, poll_once
from console.services import ServiceState, service_states
from console.silences import Silence, Silences, silence_spec, unsilence_spec
from console.timeline import Timeline
from console.timeline import gather as gather_timeline
from console.transitions import Transition, TransitionLog

S = TypeVar("S")
SILENCES_EVERY = 10.0  # seconds between re-reads of silences and maintenance windows

PollListener = Callable[[PollResult, bool], None]  # (result, whether the board changed)
ActionListener = Callable[[ActionRun], None]
Confirmer = Callable[[ActionSpec], Awaitable[bool]]


@dataclass(frozen=True)
class Polled(Generic[S]):
    """What one backend says right now: its typed snapshot, checks, and why it has none."""

    backend: Backend[S]
    result: PollResult | None
    last_problem: str | None = None

    @property
    def snapshot(self) -> S | None:
        return cast("S | None", self.result.snapshot) if self.result else None

    @property
    def problem(self) -> str | None:
        """Why there is nothing (or nothing fresh) to show: waiting, or unreachable: reason."""
        if self.result is None:
            return "waiting for the first poll"
        if self.result.error:
            return (self.result.checks[0].summary if self.result.checks
                    else f"unreachable: {self.result.error}")
        return None

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return self.result.checks if self.result else ()

    def check(self, target: str) -> CheckResult | None:
        return next((c for c in self.checks if c.target == target), None)

    def status(self, target: str) -> Status:
        """A target's status as its last poll decided it (UNKNOWN before one)."""
        found = [c.status for c in self.checks if c.target == target]
        return max(found, key=lambda s: s.severity) if found else Status.UNKNOWN


class Session:
    """One host's console state and machinery, for any front end."""

    def __init__(self, config: Config, *, read_only: bool = False,
                 backends: list[Backend[Any]] | None = None, only: list[str] | None = None,
                 identity: Identity | None = None) -> None:
        self.config = config
        self.read_only = read_only or config.console.read_only
        self.backends = backends if backends is not None else build_backends(config, only)
        self.board = CheckBoard(self.backends)
        self.identity = identity or current_identity()
        self.host = socket.gethostname().split(".")[0]
        self.protected = False  # a fleet host of a protected group: a frame that cannot be missed
        self._poll_listeners: list[PollListener] = []
        self._action_listeners: list[ActionListener] = []
        self._silence_listeners: list[Callable[[], None]] = []
        self.dispatcher = Dispatcher(
            state_dir=config.console.state_dir, read_only=self.read_only,
            redactor=config.redactor, identity=self.identity, on_change=self._action_changed,
            repoll=self.poll_now)
        self.poller = Poller(self.backends, self._published, config.redactor)
        self.transitions = TransitionLog(config.console.state_dir, config.console.retention)
        self.silences = Silences(config.console.state_dir)
        self.history = PerfHistory(config.console.state_dir)
        self.record_problem: str | None = None  # why transitions could not be written
        self._silences_read = 0.0
        self.silenced: dict[str, str] = {}  # target -> who, why, until (refreshed off the UI)
        self.maintenance_note = ""  # the active maintenance windows, for a header
        self.active_silences: list[Silence] = []
        self.active_windows: list[Window] = []
        self._recorder: ThreadPoolExecutor | None = None
        self.services: list[ServiceState] = []
        self.refresh_services()

    # -- listening ------------------------------------------------------------------------
    def on_poll(self, listener: PollListener) -> None:
        self._poll_listeners.append(listener)

    def on_action(self, listener: ActionListener) -> None:
        self._action_listeners.append(listener)

    def on_silences(self, listener: Callable[[], None]) -> None:
        """Called (from whichever thread read them) when the silences or maintenance windows
        a view shows have changed."""
        self._silence_listeners.append(listener)

    def _published(self, result: PollResult) -> None:
        changed = self.board.update(result)
        if changed:
            self._writer().submit(self.record_transitions, result)
            self.refresh_services()
        if result.ok and self.history.due(result.backend_id, result.polled_at):
            self._writer().submit(self.record_history, result)
        for listener in self._poll_listeners:
            listener(result, changed)

    def _writer(self) -> ThreadPoolExecutor:
        """One writer thread keeps the order of the polls and the event loop free of I/O."""
        if self._recorder is None:
            self._recorder = ThreadPoolExecutor(1, thread_name_prefix="transitions")
        return self._recorder

    def _action_changed(self, run: ActionRun) -> None:
        for listener in self._action_listeners:
            listener(run)

    # -- polling --------------------------------------------------------------------------
    def start(self) -> None:
        """Poll every backend on its own interval from now on (needs a running loop)."""
        self.poller.start()

    async def stop(self, bound: float = 1.0) -> None:
        """Stop polling and close the backends within `bound` seconds (what is stuck on a
        hung server is left to finish in the background); pending history is written."""
        await self.poller.stop(bound)
        if self._recorder is not None:
            recorder, self._recorder = self._recorder, None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(bound):
                    await asyncio.to_thread(recorder.shutdown, True)

    def record_transitions(self, result: PollResult) -> list[Transition]:
        """Write the status changes one poll brought (never raises: a check must not fail
        because its history could not be written; `record_problem` says why)."""
        try:
            changed = self.transitions.record(result.checks, result.polled_at)
        except (sqlite3.Error, OSError) as exc:
            self.record_problem = f"status history not recorded: {exc}"
            return []
        self.record_problem = None
        if changed or time.monotonic() - self._silences_read >= SILENCES_EVERY:
            self.refresh_silences()
        return changed

    def record_history(self, result: PollResult) -> None:
        """Keep the poll's perfdata values, downsampled (never raises, like transitions)."""
        try:
            self.history.record(result.backend_id, result.checks, result.polled_at)
        except (sqlite3.Error, OSError) as exc:
            self.record_problem = f"perfdata history not recorded: {exc}"

    def refresh_silences(self) -> None:
        """Re-read which targets are silenced and which maintenance windows are on."""
        self._silences_read = time.monotonic()
        try:
            active = self.silences.active()
            windows = MaintenanceLog(self.config.console.state_dir).active()
        except (sqlite3.Error, OSError):
            return
        self.take_silences(active, windows)

    def take_silences(self, active: list[Silence], windows: list[Window]) -> None:
        """What the views show of the active silences and maintenance windows."""
        found: dict[str, str] = {}
        for target in self.targets():
            covering = [s for s in active if s.covers(target)]
            if covering:
                found[target] = max(covering, key=lambda s: s.until).describe()
        note = "; ".join(f"{', '.join(w.targets)} until {clock(w.until)[:5]}" for w in windows)
        changed = (found, note, active, windows) != (
            self.silenced, self.maintenance_note, self.active_silences, self.active_windows)
        self.silenced = found
        self.active_silences, self.active_windows = active, windows
        self.maintenance_note = note
        if changed:
            for listener in self._silence_listeners:
                listener()

    def operator(self, identity: Identity | None = None) -> Operator:
        """What maintenance windows need to stop and start targets through the dispatcher
        (as `identity`, this session's operator unless said)."""
        async def confirmed(spec: ActionSpec) -> bool:
            return True  # the window itself was confirmed

        async def run(spec: ActionSpec) -> ActionRun:
            return await self.run_action(spec, confirmed, identity)

        who = describe_operator(identity) if identity else self.identity.user
        return Operator(self.config.console.state_dir, who, self.action, run)

    def console_action(self, target: str, verb: str, options: Mapping[str, Any],
                       identity: Identity | None = None) -> ActionSpec | None:
        """Silencing and maintenance windows as actions (audited, refused when read-only):
        `silence` and `maintenance` take options `seconds`, `reason` (and `stop`); the
        targets of a window are `target`'s words. None for any other verb."""
        who = describe_operator(identity) if identity else self.identity.user
        if verb == "unsilence":
            return unsilence_spec(self.silences, target, who=who)
        if verb == "maintenance-end":
            return end_spec(self.operator(identity), target.split())
        if verb not in ("silence", "maintenance"):
            return None
        seconds, reason = options.get("seconds"), options.get("reason")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            raise ConfigError(f"{verb} {target}: give how long, in seconds above 0")
        if not isinstance(reason, str) or (verb == "silence" and not reason.strip()):
            raise ConfigError(f"{verb} {target}: give a reason (it is shown with the status)")
        if verb == "silence":
            return silence_spec(self.silences, target, seconds=float(seconds),
                                reason=reason.strip(), who=who)
        return start_spec(self.operator(identity), target.split(), seconds=float(seconds),
                          reason=reason.strip(), stop=options.get("stop") is True)

    def silence_for(self, target: str) -> Silence | None:
        """The active silence on a target (read from the state db), or None."""
        try:
            return self.silences.for_target(target)
        except (sqlite3.Error, OSError):
            return None

    def poll_now(self, backend_id: str | None = None) -> None:
        self.poller.poll_now(backend_id)

    async def timeline(self, since: float, until: float) -> Timeline:
        """What happened between `since` and `until`: transitions, the systems' events and
        the actions, merged by time."""
        return await gather_timeline(self.backends, self.config.console.state_dir, since,
                                     until, redactor=self.config.redactor)

    async def poll_all_once(self, deadline: float) -> list[PollResult]:
        """Poll every backend once, concurrently; whatever misses the deadline is UNKNOWN.

        The results also go on the board; the backends are closed afterwards.
        """
        async def one(backend: Backend[Any]) -> PollResult:
            return await poll_once(backend, BackendState(), self.config.redactor,
                                   timeout=deadline)

        tasks = {asyncio.create_task(one(b)): b for b in self.backends}
        results: list[PollResult] = []
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=deadline + 0.5)
            results = [t.result() for t in done]
            for task in pending:
                task.cancel()
                backend = tasks[task]
                reason = f"no answer within the run's deadline of {deadline:g}s"
                results.append(PollResult(backend.id, backend.kind, time.time(), deadline, tuple(
                    CheckResult(t, Status.UNKNOWN, reason) for t in backend.targets()),
                    error=reason))
        for result in results:
            if self.board.update(result):
                await asyncio.to_thread(self.record_transitions, result)
            if result.ok:
                await asyncio.to_thread(self.record_history, result)
        self.refresh_services()
        await self.close_backends()
        return results

    async def close_backends(self) -> None:
        """Close every backend at once, each within a bound; never raises."""
        await close_all(self.backends, 3.0)

    # -- services -------------------------------------------------------------------------
    def refresh_services(self) -> None:
        """Recompute every `[[service]]` rollup from the board (after each poll)."""
        self.services = service_states(self.config.services, self.board,
                                       watched_kinds=registry.target_kinds())

    def service(self, name: str) -> ServiceState | None:
        return next((s for s in self.services if s.name == name), None)

    # -- what the backends say ------------------------------------------------------------
    def polled(self, backend_type: type[Backend[S]]) -> list[Polled[S]]:
        """Every backend of one class with its latest result, in config order."""
        found: list[Polled[S]] = []
        for view in self.board.views.values():
            if view.backend.is_a(backend_type):
                found.append(Polled(view.backend, view.result, view.last_problem))
        return found

    def polled_kind(self, kind: str) -> list[Polled[Any]]:
        """Every backend of one kind (`systemd`, `http`...) with its latest result."""
        return [Polled(v.backend, v.result, v.last_problem) for v in self.board.views.values()
                if v.backend.kind == kind]

    def backend_view(self, backend_id: str) -> BackendView | None:
        return self.board.views.get(backend_id)

    def checks_worst_first(self) -> list[tuple[CheckResult, str]]:
        """(check, poll time) for every check, the worst first."""
        return [(check, clock(polled)) for check, polled in self.board.worst_first()]

    def stale_since(self, key: str, now: float) -> float | None:
        """When a check was last polled, if that is longer ago than its backend's interval
        allows (three intervals and a few seconds): a backend that fell silent."""
        view = self.board.owner(key)
        polled = self.board.polled_at(key)
        if view is None or polled is None:
            return None
        return polled if now - polled > 3 * view.backend.interval + 5 else None

    def check(self, key: str) -> CheckResult | None:
        return self.board.check(key)

    def counts(self) -> dict[Status, int]:
        return self.board.counts()

    def show_details(self, view: str) -> None:
        """Tell each backend whether `view` (now on screen) shows its details; a backend
        that comes into view is polled at once, with its details."""
        shown = set(registry.sections_of_view(view))
        for backend in self.backends:
            wanted = backend.kind in shown
            if wanted and not backend.detail:
                backend.detail = True
                self.poll_now(backend.id)
            backend.detail = wanted

    def leave(self) -> None:
        """The console shows another host: nothing of this one is on screen."""
        self.show_details(registry.FLEET.name)

    def log_backends(self) -> list[Backend[Any]]:
        """The backends that offer live logs (journals, container logs, files)."""
        return [b for b in self.backends if b.has_logs]

    def targets(self) -> list[str]:
        return sorted({t for b in self.backends for t in b.targets()})

    # -- actions and views ----------------------------------------------------------------
    def actions_for(self, target: str,
                    options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        """Every action the backends answering for `target` offer on it."""
        specs: list[ActionSpec] = []
        for view in self.board.views.values():
            if view.backend.answers_for(target):
                snapshot = view.result.snapshot if view.result else None
                specs.extend(self._shown(s) for s in
                             view.backend.actions(snapshot, target, options))
        return specs

    async def offered(self, target: str, options: Mapping[str, Any]) -> list[ActionSpec]:
        """The actions on `target` with these options (a release to deploy), as they are
        now: a fleet host is asked."""
        return self.actions_for(target, options)

    def _shown(self, spec: ActionSpec) -> ActionSpec:
        """The spec with what a person reads of it masked and printable (its run is kept)."""
        clean = functools.partial(scrub_text, redact=self.config.redactor)
        return dataclasses.replace(
            spec, target=clean(spec.target), title=clean(spec.title), effect=clean(spec.effect),
            unavailable=clean(spec.unavailable) if spec.unavailable else spec.unavailable,
            type_to_confirm=(clean(spec.type_to_confirm) if spec.type_to_confirm
                             else spec.type_to_confirm))

    def action(self, target: str, verb: str,
               options: Mapping[str, Any] | None = None) -> ActionSpec:
        """The action `verb` on `target`; a usage error naming what it offers otherwise."""
        offered = self.actions_for(target, options)
        spec = next((s for s in offered if s.verb == verb), None)
        broken = [b for b in self.backends if isinstance(b, BrokenBackend)
                  and target in b.targets()]
        if spec is None and broken:
            entry = broken[0].entry
            raise ConfigError(f"{target} cannot be acted on: {entry.where} in the config: "
                              f"{entry.reason}")
        if spec is None:
            verbs = sorted({s.verb for s in offered})
            choice = f" (it offers: {', '.join(verbs)})" if verbs else ""
            raise ConfigError(f"{target} has no '{verb}' action{choice}")
        return spec

    def view_for(self, target: str) -> registry.ViewSpec:
        """The view that shows a target (the Overview for kinds without one)."""
        return registry.view_for_target_kind(target.split(":", 1)[0]) or registry.OVERVIEW

    def refusal(self, spec: ActionSpec) -> str | None:
        return self.dispatcher.refusal(spec)

    async def run_action(self, spec: ActionSpec, confirm: Confirmer,
                         identity: Identity | None = None) -> ActionRun:
        return await self.dispatcher.run(spec, confirm, identity)
