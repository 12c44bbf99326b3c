"""Real receivers for alerting tests: a recording HTTP server, a switchable target, an SMTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from console.sandbox.processes import free_port


@dataclass
class Received:
    """What a recording server got: (method, path, body) in arrival order."""

    calls: list[tuple[str, str, bytes]] = field(default_factory=list)
    status: int = 200  # what the server answers (the switchable target's health)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def paths(self, prefix: str = "") -> list[str]:
        with self.changed:
            return [p for _, p, _ in self.calls if p.startswith(prefix)]

    def bodies(self, prefix: str) -> list[bytes]:
        with self.changed:
            return [b for _, p, b in self.calls if p.startswith(prefix)]


class _Recorder(BaseHTTPRequestHandler):
    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        received: Received = self.server.received  # type: ignore[attr-defined]
        if not self.path.startswith("/health"):
            with received.changed:
                received.calls.append((self.command, self.path, body))
                received.changed.notify_all()
        code = received.status if self.path.startswith("/health") else 200
        payload = b'{"status": "ok"}' if code == 200 else b'{"status": "error"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def recording_server() -> Iterator[tuple[str, Received]]:
    """An HTTP server on loopback: `/health` answers `received.status`, every other path is
    recorded (webhooks, heartbeat pings) and answered 200."""
    received = Received()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    server.received = received  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[Message]]]:
    """An SMTP server (aiosmtpd) on a free loopback port; yields the port and its mailbox."""
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox.messages
    finally:
        controller.stop()


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
