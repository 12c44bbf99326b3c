"""`opsconsole bridge`: this host's Session served over stdin/stdout to a fleet console.

Started by the console through ssh; speaks the JSON lines of docs/bridge-protocol.md. This
host's own config, read-only setting, locks and audit log apply to every action, and the
audit names the console's operator (`user@console-host via ssh`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Coroutine, Mapping
from typing import Any, BinaryIO

from backends.base import Backend
from console import __version__
from console.config import Config
from console.core.actions import ActionSpec
from console.core.errors import ConsoleError, one_line
from console.core.identity import via_ssh
from console.core.loglines import printable
from console.core.model import PollResult, Status
from console.dispatcher import ActionRun
from console.fleet.protocol import MAX_LINE, PROTOCOL, ProtocolError, check_to_dict, decode, encode
from console.poller import BackendState, poll_once
from console.report import to_jsonable
from console.session import SILENCES_EVERY, Session

_OPERATOR = re.compile(r"^[A-Za-z0-9_.-]{1,64}@[A-Za-z0-9_.-]{1,255}$")
_LOG_LINES = 200


def poll_message(result: PollResult) -> dict[str, Any]:
    return {"type": "poll", "backend": result.backend_id, "kind": result.kind,
            "polled_at": result.polled_at, "duration": round(result.duration, 4),
            "error": result.error, "checks": [check_to_dict(c) for c in result.checks]}


def describe(backend: Backend[Any]) -> dict[str, Any]:
    """What a console needs to stand in for one backend: its class names its snapshot type."""
    cls = type(backend)
    return {"id": backend.id, "kind": backend.kind, "name": backend.name,
            "class": f"{cls.__module__}:{cls.__qualname__}", "interval": backend.interval,
            "targets": backend.targets(), "logs": backend.has_logs,
            "location": backend.location()}


def fleet_key(result: PollResult) -> tuple[Any, ...]:
    """What a fleet row shows of a poll: every status, the problems' summaries, the error.
    A poll that leaves it alone is not sent to a console that is not looking at the host."""
    return (result.error, tuple((c.key, c.status, "" if c.status is Status.OK else c.summary)
                                for c in result.checks))


class Bridge:
    """One bridge: a Session, and the requests of one console over one stream."""

    def __init__(self, session: Session, out: BinaryIO) -> None:
        self.session = session
        self.out = out
        self.operator: str | None = None
        self.watching = False
        self.every_poll = False  # the console shows this host: every poll, not only changes
        self.snapshots: set[str] = set()  # backends whose view is on the console's screen
        self._sent: dict[str, tuple[Any, ...]] = {}  # backend -> fleet key last sent
        self._silences_sent: dict[str, Any] = {}
        self._silences_read = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, message: dict[str, Any]) -> None:
        self.send_soon(message)

    def send_soon(self, message: dict[str, Any]) -> None:
        """One whole line at once. The console reads all the time, so a write blocks only
        while it is gone, and then there is nobody left to serve."""
        self.out.write(encode(message))
        self.out.flush()

    async def hello(self) -> None:
        await self.send({"type": "hello", "protocol": PROTOCOL, "version": __version__,
                         "host": self.session.host, "read_only": self.session.read_only,
                         "targets": self.session.targets(),
                         "backends": [describe(b) for b in self.session.backends]})

    # -- requests -------------------------------------------------------------------------
    async def handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        request_id = message.get("id")
        try:
            if kind == "hello":
                self._client_hello(message)
                return
            handler = _HANDLERS.get(kind)
            if handler is None:
                raise ProtocolError(f"unknown request type {printable(kind)!r}")
            reply = await handler(self, message)
        except ConsoleError as exc:
            reply = {"type": "error", "message": self.session.config.redactor(str(exc))}
        except Exception as exc:  # one bad request never ends the bridge
            reply = {"type": "error", "message": self.session.config.redactor(one_line(exc))}
        if request_id is not None:
            await self.send({**reply, "id": request_id})

    def _client_hello(self, message: dict[str, Any]) -> None:
        operator = message.get("operator")
        if not isinstance(operator, str) or not _OPERATOR.match(operator):
            raise ProtocolError("hello: 'operator' must be user@console-host")
        self.operator = operator
        if message.get("read_only") is True:  # the console's setting for this host
            self.session.read_only = True
            self.session.dispatcher.read_only = True

    async def ping(self, message: dict[str, Any]) -> dict[str, Any]:
        return {"type": "pong", "time": time.time(), "last_poll": self.session.board.last_poll}

    async def check(self, message: dict[str, Any]) -> dict[str, Any]:
        deadline = float(message.get("deadline") or self.session.config.console.deadline)
        results = await _poll_all(self.session, deadline)
        return {"type": "checks", "host": self.session.host,
                "results": [poll_message(r) for r in results]}

    async def watch(self, message: dict[str, Any]) -> dict[str, Any]:
        if not self.watching:
            self.watching = True
            self._detail()
            self.session.on_poll(lambda result, changed: self._published(result))
            self.session.start()
        return {"type": "watching", "backends": [b.id for b in self.session.backends]}

    async def view(self, message: dict[str, Any]) -> dict[str, Any]:
        """What the console shows of this host now: every poll or only changes, and the
        backends whose view is on screen (their polls carry snapshots and actions)."""
        wanted = message.get("snapshots") or []
        if not isinstance(wanted, list):
            raise ProtocolError("view: 'snapshots' must be a list of backend ids")
        known = {b.id for b in self.session.backends}
        self.snapshots = {str(w) for w in wanted} & known
        self.every_poll = bool(message.get("every_poll"))
        fresh = self._detail()
        for view in self.session.board.views.values():
            result = view.result
            if result is not None and (self.every_poll or view.backend.id in self.snapshots):
                self.send_soon(self._poll_event(result))
        for backend_id in fresh:
            self.session.poll_now(backend_id)
        if self.every_poll:
            self._soon(self._send_silences(force=True))
        return {"type": "viewing", "snapshots": sorted(self.snapshots),
                "every_poll": self.every_poll}

    async def _send_silences(self, *, force: bool) -> None:
        """The host's active silences and maintenance windows, when they changed (or
        `force`) and a console shows this host."""
        if not (self.every_poll or force):
            return
        self._silences_read = time.monotonic()
        await asyncio.to_thread(self.session.refresh_silences)
        message = {"type": "silences",
                   "silences": to_jsonable(self.session.active_silences),
                   "windows": to_jsonable(self.session.active_windows)}
        message = json.loads(self.session.config.redactor(json.dumps(message, default=str)))
        if force or message != self._silences_sent:
            self._silences_sent = message
            self.send_soon(message)

    def _soon(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def refresh(self, message: dict[str, Any]) -> dict[str, Any]:
        backend = message.get("backend")
        if backend is not None and self.session.backend_view(str(backend)) is None:
            raise ProtocolError(f"no backend {printable(str(backend))!r}")
        self.session.poll_now(str(backend) if backend is not None else None)
        return {"type": "refreshing"}

    def _detail(self) -> list[str]:
        """Backends read their details only while a console shows them; the ids of those
        that start to (they are polled at once)."""
        fresh = []
        for backend in self.session.backends:
            wanted = backend.id in self.snapshots
            if wanted and not backend.detail:
                fresh.append(backend.id)
            backend.detail = wanted
        return fresh

    def _published(self, result: PollResult) -> None:
        """A poll is sent when the console looks at this host or its backend, or when it
        changed what a fleet row shows; otherwise the connection stays quiet (pings tell
        that the host is alive)."""
        key = fleet_key(result)
        if self.every_poll and time.monotonic() - self._silences_read >= SILENCES_EVERY:
            self._silences_read = time.monotonic()
            self._soon(self._send_silences(force=False))  # they end by themselves, too
        if (self.every_poll or result.backend_id in self.snapshots
                or self._sent.get(result.backend_id) != key):
            self.send_soon(self._poll_event(result))

    def _poll_event(self, result: PollResult) -> dict[str, Any]:
        self._sent[result.backend_id] = fleet_key(result)
        message = poll_message(result)
        view = self.session.backend_view(result.backend_id)
        if view is not None and result.backend_id in self.snapshots:
            targets = sorted({*view.backend.targets(), *(c.target for c in result.checks)})
            message.update(snapshot=self._document(result), targets=targets, actions={
                t: [self._offer(s) for s in self.session.actions_for(t)] for t in targets})
        return message

    def _offer(self, spec: ActionSpec) -> dict[str, Any]:
        return {"verb": spec.verb, "title": spec.title, "effect": spec.effect,
                "mutating": spec.mutating, "type_to_confirm": spec.type_to_confirm,
                "refusal": self.session.refusal(spec)}

    def _document(self, result: PollResult | None) -> Any:
        """A snapshot as JSON, every string printable and the host's secrets masked."""
        document = to_jsonable(result.snapshot) if result else None
        return json.loads(self.session.config.redactor(json.dumps(document, default=str)))

    async def snapshot(self, message: dict[str, Any]) -> dict[str, Any]:
        view = self.session.backend_view(str(message.get("backend", "")))
        if view is None:
            raise ProtocolError(f"no backend {printable(str(message.get('backend')))!r}")
        result = view.result
        return {"type": "snapshot", "backend": view.backend.id,
                "polled_at": result.polled_at if result else None,
                "snapshot": self._document(result)}

    async def read(self, message: dict[str, Any]) -> dict[str, Any]:
        """One of the backend's `reads` (a queue's items, a unit's properties), its value as
        JSON with the host's secrets masked."""
        view = self.session.backend_view(str(message.get("backend", "")))
        if view is None:
            raise ProtocolError(f"no backend {printable(str(message.get('backend')))!r}")
        method, args = str(message.get("method", "")), message.get("args") or []
        if method not in type(view.backend).reads:
            raise ProtocolError(f"{view.backend.id} reads no {printable(method)!r}")
        if not isinstance(args, list) or not all(isinstance(a, str | int | float) for a in args):
            raise ProtocolError("read: 'args' must be a list of strings and numbers")
        async with asyncio.timeout(view.backend.timeout + 5):
            value = await getattr(view.backend, method)(*args)
        document = json.dumps(to_jsonable(value), default=str)
        return {"type": "read", "backend": view.backend.id,
                "value": json.loads(self.session.config.redactor(document))}

    async def timeline(self, message: dict[str, Any]) -> dict[str, Any]:
        since, until = message.get("since"), message.get("until")
        if not isinstance(since, int | float) or not isinstance(until, int | float):
            raise ProtocolError("timeline: 'since' and 'until' must be UNIX times")
        found = await self.session.timeline(float(since), float(until))
        document = json.dumps(to_jsonable(found), default=str)
        return {"type": "timeline",
                "timeline": json.loads(self.session.config.redactor(document))}

    async def logs(self, message: dict[str, Any]) -> dict[str, Any]:
        view = self.session.backend_view(str(message.get("backend", "")))
        if view is None:
            raise ProtocolError(f"no backend {printable(str(message.get('backend')))!r}")
        target = message.get("target")
        limit = min(int(message.get("lines") or _LOG_LINES), 5000)
        sources = await asyncio.to_thread(view.backend.log_sources,
                                          target if isinstance(target, str) else None)
        lines: list[dict[str, Any]] = []
        try:
            for source in sources:
                for line in await asyncio.wait_for(asyncio.to_thread(source.read), 10):
                    lines.append({"ts": line.ts, "text": self.session.config.redactor(line.text),
                                  "level": line.level, "source": line.source or source.label})
        finally:
            for source in sources:
                with contextlib.suppress(Exception):
                    source.close()
        lines.sort(key=lambda item: item["ts"] or 0)
        return {"type": "logs", "backend": view.backend.id, "lines": lines[-limit:]}

    async def actions(self, message: dict[str, Any]) -> dict[str, Any]:
        target = str(message.get("target", ""))
        options = message.get("options") or {}
        if not isinstance(options, Mapping):
            raise ProtocolError("actions: 'options' must be an object")
        await _poll_for(self.session, target)
        return {"type": "actions", "target": target, "actions": [
            self._offer(s) for s in self.session.actions_for(target, options)]}

    async def action(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.operator is None:
            raise ProtocolError("action before hello: the operator is not known")
        target, verb = str(message.get("target", "")), str(message.get("verb", ""))
        options = message.get("options") or {}
        confirmed = message.get("confirmed") or {}
        if not isinstance(options, Mapping) or not isinstance(confirmed, Mapping):
            raise ProtocolError("action: 'options' and 'confirmed' must be objects")
        identity = via_ssh(self.session.identity, self.operator)
        for each in target.split():  # a maintenance window's targets, each with its stop
            await _poll_for(self.session, each)
        spec = (self.session.console_action(target, verb, options, identity)
                or self.session.action(target, verb, options))
        request_id = message.get("id")
        printed = 0

        def progress(run: ActionRun) -> None:
            nonlocal printed
            if run.spec is not spec:
                return
            fresh = run.line_count - printed
            for line in list(run.lines)[-fresh:] if fresh > 0 else []:
                self.send_soon({"type": "progress", "id": request_id, "line": line})
            printed = run.line_count

        async def confirm(asked: ActionSpec) -> bool:
            """What the operator confirmed on their screen must be this very action."""
            if confirmed.get("verb") != asked.verb or confirmed.get("target") != asked.target:
                return False
            return not asked.type_to_confirm or confirmed.get("typed") == asked.type_to_confirm

        self.session.on_action(progress)
        run = await self.session.run_action(spec, confirm, identity)
        progress(run)
        await self._send_silences(force=False)
        outcome = run.outcome
        return {"type": "result", "state": run.state,
                "message": outcome.message if outcome else run.state,
                "details": outcome.details if outcome else ""}


_HANDLERS = {"ping": Bridge.ping, "check": Bridge.check, "watch": Bridge.watch,
             "view": Bridge.view, "refresh": Bridge.refresh, "snapshot": Bridge.snapshot,
             "logs": Bridge.logs, "read": Bridge.read,
             "timeline": Bridge.timeline, "actions": Bridge.actions, "action": Bridge.action}


async def _poll_all(session: Session, deadline: float) -> list[PollResult]:
    """Every backend polled once, concurrently, the backends kept open for later requests."""
    async def one(backend: Any) -> PollResult:
        return await poll_once(backend, BackendState(), session.config.redactor, timeout=deadline)

    results = list(await asyncio.gather(*(one(b) for b in session.backends)))
    for result in results:
        session.board.update(result)
    return results


async def _poll_for(session: Session, target: str) -> None:
    """The actions offered depend on what a poll sees: poll the backends answering for it."""
    for backend in session.backends:
        if backend.answers_for(target):
            view = session.backend_view(backend.id)
            if view is None or view.result is None:
                session.board.update(await poll_once(backend, BackendState(),
                                                     session.config.redactor))


async def serve(session: Session) -> int:
    """Serve one console on stdin/stdout until it closes stdin."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=MAX_LINE)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    bridge = Bridge(session, os.fdopen(os.dup(sys.stdout.fileno()), "wb"))
    await bridge.hello()
    tasks: set[asyncio.Task[None]] = set()
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                message = decode(line)
            except ProtocolError as exc:
                await bridge.send({"type": "error", "message": str(exc)})
                continue
            task = asyncio.create_task(bridge.handle(message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:
            task.cancel()
        await session.stop()
        await session.close_backends()
    return 0


def run_bridge(config: Config, *, read_only: bool) -> int:
    """`opsconsole bridge`: a bad config is reported as an error message, then exit 2."""
    session = Session(config, read_only=read_only)
    return asyncio.run(serve(session))
