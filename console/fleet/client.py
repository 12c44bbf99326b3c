"""One connection to one host's bridge: ssh started, hello checked, requests answered.

Replies carry the request's id; messages without one (poll results, action progress) go to
the `on_event` callback. Every wait has a bound; a connection that dies fails every waiting
request with ssh's own reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from typing import Any

from console.core.errors import ConsoleError
from console.fleet.protocol import MAX_LINE, ProtocolError, check_hello, decode, encode
from console.fleet.ssh import bridge_command, ssh_argv, ssh_reason
from console.fleet_config import FleetSettings, HostEntry

EventHandler = Callable[[dict[str, Any]], None]
ProgressHandler = Callable[[str], None]  # one line of an action's progress


class BridgeError(ConsoleError):
    """The host could not be reached or its bridge stopped answering (one-line reason)."""


class BridgeClient:
    """The console's side of one bridge."""

    def __init__(self, settings: FleetSettings, host: HostEntry, *, operator: str,
                 on_event: EventHandler | None = None) -> None:
        self.settings = settings
        self.host = host
        self.operator = operator
        self.on_event = on_event or (lambda message: None)
        self.hello: dict[str, Any] = {}
        self.rtt: float | None = None
        self.pong: dict[str, Any] = {}  # the last ping's answer (the host's last poll)
        self._proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._progress: dict[int, ProgressHandler] = {}
        self._reader: asyncio.Task[None] | None = None
        self._stderr: asyncio.Task[bytes] | None = None
        self._closed_reason: str | None = None

    # -- connecting -----------------------------------------------------------------------
    async def connect(self, timeout: float) -> dict[str, Any]:
        """Start ssh and the bridge; the hello, or BridgeError with ssh's reason."""
        argv = ssh_argv(self.settings, self.host, bridge_command(self.host))
        started = time.monotonic()
        self._proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, limit=MAX_LINE, start_new_session=True)
        assert self._proc.stderr is not None
        self._stderr = asyncio.create_task(self._proc.stderr.read())
        try:
            async with asyncio.timeout(timeout):
                line = await self._proc.stdout.readline() if self._proc.stdout else b""
        except TimeoutError:
            await self.close()
            raise BridgeError(f"timed out: no answer from the bridge within {timeout:g}s") \
                from None
        if not line:
            raise BridgeError(await self._exit_reason())
        try:
            hello = decode(line)
            check_hello(hello, self.host.name)
        except ProtocolError:
            await self.close()
            raise
        self.rtt = time.monotonic() - started
        self.hello = hello
        self._reader = asyncio.create_task(self._read())
        await self._send({"type": "hello", "operator": self.operator,
                          "read_only": self.host.read_only})
        return hello

    async def _exit_reason(self) -> str:
        """Why ssh ended: its own error text (process reaped, stderr drained)."""
        assert self._proc is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._proc.wait()
        stderr = b""
        if self._stderr is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(2):
                    stderr = await self._stderr
        return ssh_reason(stderr.decode("utf-8", "replace"), self._proc.returncode)

    # -- requests -------------------------------------------------------------------------
    async def request(self, message: dict[str, Any], timeout: float,
                      on_progress: ProgressHandler | None = None) -> dict[str, Any]:
        """Send one request and wait for its reply (`type: error` raises BridgeError);
        its progress lines, if any, go to `on_progress` (else to `on_event`)."""
        if self._closed_reason is not None:
            raise BridgeError(self._closed_reason)
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        if on_progress is not None:
            self._progress[request_id] = on_progress
        try:
            await self._send({**message, "id": request_id})
            async with asyncio.timeout(timeout):
                reply = await future
        except TimeoutError:
            raise BridgeError(f"timed out: no answer from the bridge within {timeout:g}s") \
                from None
        finally:
            self._waiting.pop(request_id, None)
            self._progress.pop(request_id, None)
        if reply.get("type") == "error":
            raise BridgeError(str(reply.get("message", "the bridge refused the request")))
        return reply

    async def ping(self, timeout: float) -> float:
        started = time.monotonic()
        self.pong = await self.request({"type": "ping"}, timeout)
        self.rtt = time.monotonic() - started
        return self.rtt

    async def _send(self, message: dict[str, Any]) -> None:
        if self._proc is None or self._proc.stdin is None:
            raise BridgeError("not connected")
        try:
            self._proc.stdin.write(encode(message))
            await self._proc.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise BridgeError(f"the connection to the bridge closed: {exc}") from None

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        reason = "the bridge closed the connection"
        try:
            while True:
                line = await self._proc.stdout.readline()
                if not line:
                    reason = await self._exit_reason()
                    break
                message = decode(line)
                request_id = message.get("id")
                future = self._waiting.get(request_id) if isinstance(request_id, int) else None
                if future is not None and message.get("type") != "progress":
                    if not future.done():
                        future.set_result(message)
                elif message.get("type") == "progress" and request_id in self._progress:
                    self._progress[request_id](str(message.get("line", "")))
                else:
                    self.on_event(message)
        except (ProtocolError, ValueError) as exc:
            reason = str(exc)
        self._closed_reason = reason
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(BridgeError(reason))
        self.on_event({"type": "closed", "reason": reason})

    @property
    def closed_reason(self) -> str | None:
        return self._closed_reason

    async def close(self) -> None:
        """End the bridge and ssh (the shared master connection stays, for next time)."""
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None and not proc.stdin.is_closing():
            proc.stdin.close()
        if proc.returncode is None:
            try:
                async with asyncio.timeout(2):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        await proc.wait()
        for task in (self._reader, self._stderr):
            if task is not None and not task.done():
                task.cancel()
        self._closed_reason = self._closed_reason or "closed"
