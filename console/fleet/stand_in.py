"""A fleet host's backend as the console sees it: fed by the host's bridge, never polled here.

A `StandIn` takes the place of one backend of the host (its id, name, targets and class, as
the bridge's hello describes them), so every view reads it as it reads a local backend: its
snapshots are rebuilt into the real snapshot type, its actions are the ones the host offers
(run there, through the bridge), its logs are read there.
"""

from __future__ import annotations

import asyncio
import importlib
import time
import typing
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.base import Backend
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.errors import ActionFailed, ActionRefused, ConsoleError
from console.core.loglines import LineSource, LogLine, printable
from console.core.model import CheckResult
from console.core.rebuild import rebuild

Request = Callable[[dict[str, Any], float, Callable[[str], None] | None],
                   Coroutine[Any, Any, dict[str, Any]]]
LOG_EVERY = 2.0  # seconds between reads of a host's logs (a pane asks five times a second)
ACTION_BOUND = 3600.0  # an action may run long (a backup); progress lines keep coming


@dataclass(frozen=True)
class RemoteActionSpec(ActionSpec):
    """An action the host offers; `host_refusal` is why the host will refuse it (its
    read-only setting...): it is sent unconfirmed, for the host to refuse and audit."""

    host_refusal: str | None = None
    # the host's offer asked again, just before the confirmation (counts change, options)
    fresh: Callable[[], Coroutine[Any, Any, RemoteActionSpec | None]] | None = field(
        default=None, compare=False, repr=False)


def backend_class(path: str, kind: str) -> type[Backend[Any]] | None:
    """The backend class a host names (`backends.redis.backend:RedisBackend`), when it is
    one of this installation's backends of that kind; nothing else is imported."""
    module_name, _, name = path.partition(":")
    if not module_name.startswith("backends.") or not name.isidentifier():
        return None
    try:
        found = getattr(importlib.import_module(module_name), name, None)
    except ImportError:
        return None
    if isinstance(found, type) and issubclass(found, Backend) and found.kind == kind:
        return found
    return None


class StandIn(Backend[Any]):
    """One backend of a fleet host."""

    kind = "remote"

    def __init__(self, description: Mapping[str, Any], host: str, request: Request,
                 loop: asyncio.AbstractEventLoop, *, protected: bool = False) -> None:
        interval = description.get("interval")
        super().__init__(printable(str(description.get("name", "?"))),
                         interval=float(interval) if isinstance(interval, int | float) else 2.0,
                         timeout=10.0)
        self.kind = printable(str(description.get("kind", "?")))  # type: ignore[misc]
        self.host = host
        self.request = request
        self.loop = loop  # where requests are made, also for log reads from worker threads
        self.protected = protected  # a protected group: every action asks for the host's name
        self.real = backend_class(str(description.get("class", "")), self.kind)
        self.logs = bool(description.get("logs")) and self.real is not None
        declared = description.get("targets")
        self._targets = [printable(str(t)) for t in declared] if isinstance(declared, list) else []
        self.offers: dict[str, list[dict[str, Any]]] = {}  # target -> actions the host offers
        self._location = printable(str(description.get("location") or ""))
        self.detail = False

    def is_a(self, backend_type: type[Backend[Any]]) -> bool:
        return self.real is not None and issubclass(self.real, backend_type)

    @property
    def has_logs(self) -> bool:
        return self.logs

    def location(self) -> str:
        return self._location

    def __getattr__(self, name: str) -> Any:
        """A view's own read of a backend (a queue's items, a unit's properties), made on
        the host by its bridge; its value rebuilt as the real method's return type."""
        real = self.__dict__.get("real")
        if real is None or name not in real.reads:
            raise AttributeError(f"{name} is not read from fleet host {self.__dict__.get('host')}")
        returns = typing.get_type_hints(getattr(real, name),
                                        vars(importlib.import_module(real.__module__)))
        backend_id = self.id

        async def read(*args: str | int | float) -> Any:
            reply = await self.request({"type": "read", "backend": backend_id, "method": name,
                                        "args": list(args)}, self.timeout + 10, None)
            return rebuild(returns.get("return", Any), printable_json(reply.get("value")))

        return read

    def take(self, targets: list[str], offers: Mapping[str, Any]) -> None:
        """A poll with details: the targets it found and the actions offered on each."""
        self._targets = targets
        self.offers = {t: [a for a in actions if isinstance(a, dict)]
                       for t, actions in offers.items() if isinstance(actions, list)}

    async def collect(self) -> Any:
        raise ConsoleError(f"{self.id} is polled on {self.host}, by its bridge")

    def evaluate(self, snapshot: Any) -> list[CheckResult]:
        return []

    def targets(self) -> list[str]:
        return list(self._targets)

    def actions(self, snapshot: Any, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        return [self.spec_for(target, offer, dict(options or {}))
                for offer in self.offers.get(target, [])]

    def spec_for(self, target: str, offer: Mapping[str, Any],
              options: dict[str, Any]) -> RemoteActionSpec:
        verb = printable(str(offer.get("verb", "")))

        async def fresh() -> RemoteActionSpec | None:
            reply = await self.request({"type": "actions", "target": target,
                                        "options": options}, 20.0, None)
            offer = next((a for a in reply.get("actions") or []
                          if isinstance(a, dict) and a.get("verb") == verb), None)
            return self.spec_for(target, offer, options) if offer is not None else None

        return remote_spec(self.host, self.request, target, offer, options,
                           protected=self.protected, backend_id=self.id, fresh=fresh)

    def log_sources(self, target: str | None = None) -> list[LineSource]:
        return [RemoteLines(self, target)] if self.logs else []


class RemoteLines:
    """A backend's logs read on its host (the bridge's `logs` request), at most every
    LOG_EVERY seconds; read from a worker thread, as every LineSource is."""

    def __init__(self, backend: StandIn, target: str | None) -> None:
        self.backend = backend
        self.target = target
        self.label = f"{backend.host} {target or backend.id}"
        self._read_at = 0.0
        self._last: tuple[float, str] | None = None
        self._problem: str | None = None

    @property
    def status(self) -> str | None:
        return self._problem

    def read(self) -> list[LogLine]:
        if time.monotonic() - self._read_at < LOG_EVERY or _on_loop(self.backend.loop):
            return []
        self._read_at = time.monotonic()
        asked = self.backend.request({"type": "logs", "backend": self.backend.id,
                                      "target": self.target, "lines": 500}, 15.0, None)
        try:
            reply: dict[str, Any] = asyncio.run_coroutine_threadsafe(
                asked, self.backend.loop).result(20)
        except (ConsoleError, TimeoutError) as exc:
            self._problem = f"{self.backend.host}: {exc}"
            return []
        self._problem = None
        lines = []
        for item in reply.get("lines") or []:
            if not isinstance(item, dict):
                continue
            ts = item.get("ts")
            line = LogLine(float(ts) if isinstance(ts, int | float) else None,
                           printable(str(item.get("text", ""))),
                           printable(str(item.get("level", ""))),
                           printable(str(item.get("source", ""))))
            lines.append(line)
        if self._last is not None:  # only what came after the last line already shown
            seen = [i for i, line in enumerate(lines) if (line.ts or 0.0, line.text) == self._last]
            lines = lines[seen[-1] + 1:] if seen else lines
        if lines:
            self._last = (lines[-1].ts or 0.0, lines[-1].text)
        return lines

    def close(self) -> None:
        """Nothing stays open here: each read is one request."""


def printable_json(value: Any) -> Any:
    """A JSON value from a host with every string (keys too) made printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [printable_json(v) for v in value]
    if isinstance(value, dict):
        return {printable(str(k)): printable_json(v) for k, v in value.items()}
    return value


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this thread runs `loop` (waiting there for its own request would hang it)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def remote_spec(host: str, request: Request, target: str, offer: Mapping[str, Any],
                options: dict[str, Any], *, protected: bool, backend_id: str = "",
                fresh: Callable[[], Coroutine[Any, Any, RemoteActionSpec | None]] | None = None,
                ) -> RemoteActionSpec:
    """An action `host` offers (`verb`, `title`, `effect`, `mutating`, `type_to_confirm`,
    `refusal`), confirmed here and run there by the bridge's `action` request."""
    verb = printable(str(offer.get("verb", "")))
    refusal = offer.get("refusal")
    typed = offer.get("type_to_confirm")  # what the host asks; sent back as confirmed
    asked = typed or (host if protected else None)

    async def run(progress: Progress) -> ActionOutcome:
        confirmed = {} if refusal else {"verb": verb, "target": target, "typed": typed}
        reply = await request({"type": "action", "target": target, "verb": verb,
                               "options": options, "confirmed": confirmed},
                              ACTION_BOUND, lambda line: progress.log(printable(line)))
        message = printable(str(reply.get("message", "")))
        if reply.get("state") == "refused":
            raise ActionRefused(f"{host}: {message}")
        if reply.get("state") != "ok":
            raise ActionFailed(f"{host}: {message}", printable(str(reply.get("details", ""))))
        return ActionOutcome(True, f"{host}: {message}", printable(str(reply.get("details", ""))))

    return RemoteActionSpec(
        verb=verb, fresh=fresh, target=target,
        title=f"{printable(str(offer.get('title', verb)))} on {host}",
        effect=printable(str(offer.get("effect", ""))), run=run, backend_id=backend_id,
        mutating=bool(offer.get("mutating", True)),
        type_to_confirm=printable(str(asked)) if asked else None, params=options,
        host_refusal=printable(str(refusal)) if refusal else None)
