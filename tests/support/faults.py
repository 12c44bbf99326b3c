"""Fakes of broken servers for the fault tests: a closed port, a listener that never
answers, and sockets that answer in the wrong protocol (TCP or Unix)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from console.sandbox.processes import free_port


def closed_port() -> int:
    """A local port nothing listens on (connections are refused)."""
    return free_port()


class Listener:
    """Accepts connections on TCP or a Unix socket; answers each with `reply` (None: never
    answers, holding the connection open) and then closes it unless `reply` is None."""

    def __init__(self, reply: bytes | None, path: Path | None = None,
                 greeting_first: bool = True, repeat: bool = False) -> None:
        if path is None:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(str(path))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.path = path
        self.reply = reply
        self.greeting_first = greeting_first
        self.repeat = repeat  # answer every message, not only the first
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.reply is None:
                self.held.append(conn)
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        assert self.reply is not None
        with conn, contextlib.suppress(OSError):
            conn.settimeout(2)
            if not self.greeting_first:
                conn.recv(65536)
            conn.sendall(self.reply)
            while self.repeat and conn.recv(65536):
                conn.sendall(self.reply)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # let the client read before the close

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self.held:
            conn.close()
        self.sock.close()


@contextlib.contextmanager
def listening(reply: bytes | None, path: Path | None = None, greeting_first: bool = True,
              repeat: bool = False) -> Iterator[Listener]:
    listener = Listener(reply, path, greeting_first, repeat)
    try:
        yield listener
    finally:
        listener.close()


HTTP_PAGE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\n"
             b"Connection: close\r\n\r\n<html>a web page</html>\r\n\r\n")
SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
