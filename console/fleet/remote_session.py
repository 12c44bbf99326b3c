"""A fleet host as a Session: every view reads it as it reads the local machine.

Its backends are stand-ins fed by the host's bridge: poll results as they change (every
poll while the host is on screen), snapshots and offered actions for the backends whose view
is on screen. Actions are confirmed here and run there: the host's read-only setting, locks
and audit log apply, and its audit names this console's operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from backends.base import Backend
from console import registry
from console.core.actions import ActionOutcome, ActionSpec
from console.core.durations import clock
from console.core.errors import ConsoleError
from console.core.identity import Identity
from console.core.model import PollResult
from console.core.rebuild import RebuildError, rebuild
from console.dispatcher import ActionRun, Confirmer, Dispatcher
from console.fleet.protocol import check_from_dict
from console.fleet.stand_in import RemoteActionSpec, StandIn, printable_json, remote_spec
from console.maintenance import Window
from console.session import Session
from console.silences import Silence
from console.timeline import Timeline

if TYPE_CHECKING:
    from console.config import Config
    from console.fleet.monitor import RemoteHost

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
REQUEST_BOUND = 20.0


class RemoteDispatcher(Dispatcher):
    """Confirmation here, everything else on the host: no lock or audit record of its own
    (the host's apply), and an action the host will refuse goes unconfirmed, to be refused
    and audited there."""

    async def run(self, spec: ActionSpec, confirm: Confirmer,
                  identity: Identity | None = None) -> ActionRun:
        reason = self.refusal(spec)
        if not reason and isinstance(spec, RemoteActionSpec) and spec.fresh is not None:
            try:  # what is confirmed is what the host offers now
                spec = await spec.fresh() or spec
            except ConsoleError as exc:
                reason = f"{spec.title}: {exc}"
        run = ActionRun(id=f"{os.getpid()}-remote-{int(time.time() * 1000)}", spec=spec,
                        started=time.time(), identity=identity)
        self.runs.append(run)
        host_refusal = spec.host_refusal if isinstance(spec, RemoteActionSpec) else None
        if not reason and spec.mutating and not host_refusal and not await confirm(spec):
            reason = f"{spec.title}: not confirmed"
        if reason:
            return self._end(run, "refused", ActionOutcome(False, self.redactor(reason)))
        return await self._execute(run)

    async def _record(self, run: ActionRun, phase: str, *, outcome: str = "",
                      duration: float | None = None, error: str = "") -> None:
        """The host's audit log records it, with this console's operator."""


class RemoteSession(Session):
    """One fleet host's state and actions, in the shape of a local Session."""

    def __init__(self, host: RemoteHost, local: Session) -> None:
        self.remote = host
        self.local = local
        state_dir = local.config.console.state_dir / "fleet" / _UNSAFE.sub("_", host.name)
        config = _remote_config(local.config, state_dir)
        super().__init__(config, read_only=local.read_only or host.read_only,
                         backends=self._stand_ins(), identity=local.identity)
        # this console's read-only settings refuse here; the host's own, there (and audited)
        self.dispatcher = RemoteDispatcher(
            state_dir=state_dir, read_only=local.read_only or host.entry.read_only,
            redactor=config.redactor,
            identity=self.identity, on_change=self._action_changed, repoll=self.poll_now)
        self.host = host.name
        self.protected = host.entry.protected
        self._described = host.backends
        self._tasks: set[asyncio.Task[None]] = set()
        self._rebuilt: list[Callable[[], None]] = []
        self.view_request: dict[str, Any] = {"type": "view", "snapshots": [],
                                             "every_poll": True}
        host.listeners.append(self.take)

    def _stand_ins(self) -> list[Backend[Any]]:
        loop = asyncio.get_running_loop()
        return [StandIn(d, self.remote.name, self._request, loop,
                        protected=self.remote.entry.protected)
                for d in self.remote.backends if isinstance(d, Mapping)]

    async def _request(self, message: dict[str, Any], timeout: float,
                       on_progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        client = self.remote.client
        if client is None or self.remote.state != "up":
            raise ConsoleError(f"{self.remote.name} is not connected: "
                               f"{self.remote.reason or 'connecting'}")
        return await client.request(message, timeout, on_progress)

    def _send(self, message: dict[str, Any]) -> None:
        """A request whose answer nobody waits for (what to stream, poll now)."""
        async def send() -> None:
            with contextlib.suppress(ConsoleError):
                await self._request(message, REQUEST_BOUND)

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_rebuilt(self, listener: Callable[[], None]) -> None:
        """Called when the host came back with other backends (its config changed)."""
        self._rebuilt.append(listener)

    # -- what the bridge says -------------------------------------------------------------
    def take(self, message: dict[str, Any]) -> None:
        """An event of the host's connection: a poll, or (re)connected."""
        if message.get("type") == "connected":
            if self.remote.backends != self._described:
                self._described = self.remote.backends
                self.backends = self._stand_ins()
                self.board = type(self.board)(self.backends)
                for listener in self._rebuilt:
                    listener()
            if self.remote.view is not None:
                self._send(self.remote.view)
            return
        if message.get("type") == "closed":  # every view says so, as for a local outage
            now, reason = time.time(), str(message.get("reason") or "the bridge closed")
            for backend in self.backends:
                self._published(PollResult(backend.id, backend.kind, now, 0.0,
                                           tuple(backend.failure_checks(reason, now)),
                                           error=reason))
            return
        if message.get("type") == "silences":
            self._take_silences(message)
            return
        if message.get("type") != "poll":
            return
        view = self.board.views.get(str(message.get("backend")))
        if view is None or not isinstance(view.backend, StandIn):
            return
        stand_in = view.backend
        snapshot = view.result.snapshot if view.result else None
        if "snapshot" in message and stand_in.real is not None:
            try:
                snapshot = rebuild(stand_in.real.snapshot_type(), message["snapshot"])
            except RebuildError as exc:
                snapshot = None
                self.record_problem = f"{stand_in.id} on {self.host}: {exc}"
        targets, offers = message.get("targets"), message.get("actions")
        if isinstance(targets, list) and isinstance(offers, dict):
            stand_in.take([str(t) for t in targets], offers)
        polled = message.get("polled_at")
        duration = message.get("duration")
        error = message.get("error")
        self._published(PollResult(
            stand_in.id, stand_in.kind,
            float(polled) if isinstance(polled, int | float) else time.time(),
            float(duration) if isinstance(duration, int | float) else 0.0,
            tuple(check_from_dict(c) for c in message.get("checks") or [] if isinstance(c, dict)),
            snapshot, str(error) if error else None))

    def _published(self, result: PollResult) -> None:
        """The host keeps its own history: here the board is updated and the views told."""
        changed = self.board.update(result)
        for listener in self._poll_listeners:
            listener(result, changed)

    def notice(self) -> str:
        if self.remote.state == "down":
            retry = f"; retrying at {clock(self.remote.retry_at)}" if self.remote.retry_at else ""
            return f"{self.remote.name} unreachable: {self.remote.reason}{retry}"
        if self.remote.state == "connecting":
            return f"Connecting to {self.remote.name} over ssh..."
        if not len(self.board):
            return f"Waiting for {self.remote.name}'s first poll..."
        return ""

    # -- what the console asks ------------------------------------------------------------
    def start(self) -> None:
        """The host's bridge polls; the fleet monitor keeps the connection."""

    async def stop(self, bound: float = 1.0) -> None:
        self.leave()

    async def close_backends(self) -> None:
        """Nothing is open here."""

    def leave(self) -> None:
        """The console shows another host: this one sends only what changes a fleet row."""
        self.remote.view = None
        with contextlib.suppress(RuntimeError):  # no loop left: nothing to tell
            self._send({"type": "view", "snapshots": [], "every_poll": False})

    async def offered(self, target: str, options: Mapping[str, Any]) -> list[ActionSpec]:
        """What the host offers on `target` with these options, asked now."""
        for backend in self.backends:
            if isinstance(backend, StandIn) and backend.answers_for(target):
                reply = await self._request({"type": "actions", "target": target,
                                             "options": dict(options)}, REQUEST_BOUND)
                return [backend.spec_for(target, offer, dict(options))
                        for offer in reply.get("actions") or [] if isinstance(offer, dict)]
        return []

    async def timeline(self, since: float, until: float) -> Timeline:
        """The host's own timeline, read there by its bridge."""
        reply = await self._request({"type": "timeline", "since": since, "until": until},
                                    REQUEST_BOUND)
        try:
            found: Timeline = rebuild(Timeline, printable_json(reply.get("timeline")))
        except RebuildError as exc:
            raise ConsoleError(f"{self.host}'s timeline: {exc}") from None
        return found

    def poll_now(self, backend_id: str | None = None) -> None:
        self._send({"type": "refresh", "backend": backend_id})

    def show_details(self, view: str) -> None:
        """The host sends every poll, and snapshots for the backends `view` shows."""
        shown = set(registry.sections_of_view(view))
        wanted = sorted(b.id for b in self.backends if b.kind in shown)
        for backend in self.backends:
            backend.detail = backend.id in wanted
        self.remote.view = {"type": "view", "snapshots": wanted, "every_poll": True}
        self._send(self.remote.view)

    def refresh_silences(self) -> None:
        """A host's silences and maintenance windows are kept, and applied, on the host,
        which sends them when they change (`silences` events)."""

    def silence_for(self, target: str) -> Silence | None:
        covering = [s for s in self.active_silences if s.covers(target)]
        return max(covering, key=lambda s: s.until) if covering else None

    def console_action(self, target: str, verb: str, options: Mapping[str, Any],
                       identity: Identity | None = None) -> ActionSpec | None:
        """Silences and windows are the host's: what is asked is said here, the host
        keeps, applies and audits it."""
        shown = super().console_action(target, verb, options, identity)
        if shown is None:
            return None
        offer = {"verb": verb, "title": shown.title, "effect": shown.effect, "mutating": True}
        return remote_spec(self.host, self._request, target, offer, dict(options),
                           protected=self.protected)

    def _take_silences(self, message: Mapping[str, Any]) -> None:
        """The host's active silences and maintenance windows, as its bridge sent them."""
        try:
            active = [rebuild(Silence, printable_json(s)) for s in message.get("silences") or []]
            windows = [rebuild(Window, printable_json(w)) for w in message.get("windows") or []]
        except RebuildError as exc:
            self.record_problem = f"silences on {self.host}: {exc}"
            return
        self.take_silences(active, windows)

    def record_transitions(self, result: PollResult) -> list[Any]:
        return []

    def stale_since(self, key: str, now: float) -> float | None:
        """A host that stops answering shows as down; its results are as fresh as its polls."""
        return None


def _remote_config(local: Config, state_dir: Any) -> Config:
    """The local config's console settings, without its sections: the host has its own."""
    console = dataclasses.replace(local.console, state_dir=state_dir, read_only=False)
    return dataclasses.replace(local, sections={}, services=[], fleet=None, discovery=None,
                               broken=[], warnings=[], notify=[], console=console)
