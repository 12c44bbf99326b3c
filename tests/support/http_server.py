"""Real local HTTP servers for tests: a threaded server with health routes, and a hung listener."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/ok":
            self._send(200, {"status": "ok", "checks": {"db": "ok"}})
        elif path == "/fail":
            self._send(500, {"status": "error"})
        elif path == "/degraded":
            self._send(200, {"status": "degraded", "checks": {"db": "down"}})
        elif path == "/slow":
            time.sleep(float(self.server.slow_seconds))  # type: ignore[attr-defined]
            self._send(200, {"status": "ok"})
        elif path == "/huge":  # a field far longer than a summary line
            self._send(200, {"status": "degraded " * 2000})
        elif path == "/text":
            self._send(200, None, body=b"all systems go")
        elif path == "/db-down":
            self._send(503, {"status": "error", "detail": "database connection refused",
                             "checks": {"db": "down"}})
        elif path == "/gateway":  # a proxy's plain-text page, with a terminal escape in it
            self._send(502, None, body=b"\n\x1b]0;pwned\x07Bad Gateway: upstream app:8000 "
                                       b"is not answering\nretry later\n")
        else:
            self._send(404, {"error": "not found"})

    def _send(self, code: int, document: object, body: bytes | None = None) -> None:
        payload = body if body is not None else json.dumps(document).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def health_server(slow_seconds: float = 1.5) -> Iterator[str]:
    """A server on a free loopback port; yields its base URL."""
    with _serving(_Handler, slow_seconds=slow_seconds) as url:
        yield url


@contextmanager
def body_server(body: Callable[[], bytes]) -> Iterator[str]:
    """A server answering every GET with 200 and what `body()` returns at that moment (an
    app whose health follows its checkout, say); yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = body()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with _serving(Handler) as url:
        yield url


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler], **attributes: object) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    for name, value in attributes.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def hung_listener() -> Iterator[str]:
    """A TCP listener that accepts connections and never answers; yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/health"
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()
