"""The console's side of the bus worker: start it, send requests, enforce timeouts.

Every request has a timeout; a worker that does not answer in time (a hung bus) is killed
and a fresh one is started for the next request. One reader task takes every line the
worker writes: replies go to the request waiting for them, `{"event": "changed"}` lines
(PropertiesChanged signals, once `watch()` is on) to the change callback. Errors arrive as
`BusError`s whose message is one line saying what to fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.core.errors import ConsoleError

_ROOT = str(Path(__file__).resolve().parents[2])
_READ_LIMIT = 64 * 1024 * 1024  # a reply listing thousands of units is one long line


class BusError(ConsoleError):
    """A request to systemd failed; `kind` says why (see dbus_calls.DBusFailure)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Worker:
    """One running worker process and the reader task that routes what it writes."""

    def __init__(self, proc: asyncio.subprocess.Process,
                 on_event: Callable[[str], None]) -> None:
        self.proc = proc
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.on_event = on_event
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                message = json.loads(line)
                if "event" in message:
                    self.on_event(str(message["event"]))
                    continue
                future = self.waiting.pop(message.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(message)
        finally:
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(EOFError())
            self.waiting.clear()

    async def ask(self, request_id: int, op: str, args: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        self.proc.stdin.write(json.dumps({"id": request_id, "op": op, "args": args}).encode()
                              + b"\n")
        await self.proc.stdin.drain()
        return await future

    async def stop(self, kill: bool) -> None:
        proc = self.proc
        if proc.returncode is None:
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            elif proc.stdin is not None:
                proc.stdin.close()
            try:
                async with asyncio.timeout(2):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader

    async def last_words(self) -> str:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self.proc.wait()
        err = b""
        if self.proc.stderr is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    err = await self.proc.stderr.read()
        lines = err.decode(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else f"exit code {self.proc.returncode}"


class BusClient:
    """One worker process per configured bus."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.label = address or "the system bus"
        self._worker: _Worker | None = None
        self._ids = itertools.count(1)
        self._starting = asyncio.Lock()
        self.on_change: Callable[[], None] | None = None
        self.watching = False

    async def _ensure(self) -> _Worker:
        async with self._starting:
            worker = self._worker
            if worker is None or worker.proc.returncode is not None:
                env = dict(os.environ)
                env["PYTHONPATH"] = os.pathsep.join(
                    p for p in (_ROOT, env.get("PYTHONPATH")) if p)
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "backends.systemd.worker", self.address or "",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE, env=env, limit=_READ_LIMIT)
                worker = self._worker = _Worker(proc, self._event)
                self.watching = False
                if self.on_change is not None:
                    await self._watch(worker)
            return worker

    def _event(self, name: str) -> None:
        if name == "unwatched":
            self.watching = False
        if self.on_change is not None:
            self.on_change()

    async def _watch(self, worker: _Worker) -> None:
        """Ask a fresh worker for signals; without them, polling carries on alone."""
        with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
            reply = await worker.ask(next(self._ids), "watch", {})
            self.watching = "ok" in reply

    async def request(self, op: str, timeout: float, **args: Any) -> Any:
        """Send one request and wait for its answer; raises BusError."""
        worker: _Worker | None = None
        try:
            async with asyncio.timeout(timeout):
                worker = await self._ensure()
                reply = await worker.ask(next(self._ids), op, args)
        except TimeoutError:
            await self._drop(worker, kill=True)
            raise BusError("timeout", f"{self.label}: no answer from systemd within "
                                      f"{timeout:g}s") from None
        except (EOFError, BrokenPipeError, ConnectionResetError):
            reason = await worker.last_words() if worker else "it did not start"
            await self._drop(worker, kill=True)
            raise BusError("failed", f"the systemd bus worker stopped: {reason}") from None
        except asyncio.CancelledError:
            await asyncio.shield(self._drop(worker, kill=True))
            raise
        if "error" in reply:
            error = reply["error"]
            raise BusError(error["kind"], self._describe(error["kind"], error["message"]))
        return reply["ok"]

    def _describe(self, kind: str, message: str) -> str:
        if kind == "unavailable":
            return (f"cannot reach {self.label} ({message.strip()}): is dbus running, "
                    "and is the bus address right?")
        return message.strip() or kind

    async def _drop(self, worker: _Worker | None, kill: bool) -> None:
        if worker is not None and worker is self._worker:
            self._worker = None
        if worker is not None:
            await worker.stop(kill)

    async def close(self) -> None:
        await self._drop(self._worker, kill=False)
