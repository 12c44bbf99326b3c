"""supervisord's XML-RPC interface (the one supervisorctl uses), over its unix socket or HTTP.

Plain `xmlrpc.client` with a transport that connects to a unix socket when the URL is
`unix:///path`, a timeout on every call, and HTTP basic auth from the config. Calls block,
so callers run them in a thread. Every failure becomes an `RpcError` with one line that says
what to fix (no socket, refused, wrong password, no such program).
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from typing import Any
from urllib.parse import quote, urlsplit

from console.core.errors import ConsoleError

# supervisor's xmlrpc fault codes (supervisor/xmlrpc.py Faults)
BAD_NAME = 10
NOT_RUNNING = 70
ALREADY_STARTED = 60
SPAWN_ERROR = 50
ABNORMAL_TERMINATION = 40


class RpcError(ConsoleError):
    """A call that did not succeed; `fault` is supervisord's fault code when it sent one."""

    def __init__(self, message: str, fault: int | None = None) -> None:
        super().__init__(message)
        self.fault = fault


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _Transport(xmlrpc.client.Transport):
    """HTTP or a unix socket, with a timeout on connect and on every read."""

    def __init__(self, socket_path: str | None, timeout: float) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        # get_host_info also turns the URL's user:password into the Authorization header
        chost, self._extra_headers, _x509 = self.get_host_info(host)
        if self.socket_path is not None:
            return _UnixConnection(self.socket_path, self.timeout)
        return http.client.HTTPConnection(chost, timeout=self.timeout)


class SupervisorRpc:
    """One supervisord; each method is one blocking XML-RPC call."""

    def __init__(self, url: str, username: str | None, password: str | None,
                 timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        parts = urlsplit(url)
        socket_path = parts.path if parts.scheme == "unix" else None
        netloc = "localhost" if socket_path else parts.netloc
        if username is not None:
            netloc = f"{quote(username, safe='')}:{quote(password or '', safe='')}@{netloc}"
        self._proxy = xmlrpc.client.ServerProxy(f"http://{netloc}/RPC2",
                                                transport=_Transport(socket_path, timeout),
                                                allow_none=True)
        self._socket_path = socket_path

    def call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._proxy, method)(*args)
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == BAD_NAME:
                name = str(exc.faultString).partition(":")[2].strip()
                raise RpcError(f"supervisord at {self.url} has no program {name!r}",
                               exc.faultCode) from None
            raise RpcError(f"supervisord: {exc.faultString}", exc.faultCode) from None
        except xmlrpc.client.ProtocolError as exc:
            if exc.errcode == 401:
                raise RpcError(f"supervisord at {self.url} refused the login: wrong username "
                               "or password (see its [unix_http_server]/[inet_http_server] "
                               "section)") from None
            raise RpcError(f"supervisord at {self.url} answered HTTP {exc.errcode} "
                           f"{exc.errmsg}") from None
        except FileNotFoundError:
            raise RpcError(f"no supervisord socket at {self._socket_path}: is supervisord "
                           "running, and is this its [unix_http_server] file?") from None
        except ConnectionRefusedError:
            raise RpcError(f"supervisord at {self.url} refused the connection: it is not "
                           "running") from None
        except PermissionError:
            raise RpcError(f"permission denied on {self._socket_path}: run as root or as the "
                           "socket's owner (chown in [unix_http_server])") from None
        except TimeoutError:
            raise RpcError(f"supervisord at {self.url} gave no answer within "
                           f"{self.timeout:g}s") from None
        except OSError as exc:
            raise RpcError(f"cannot reach supervisord at {self.url}: "
                           f"{exc.strerror or exc}") from None
        except (xmlrpc.client.ResponseError, http.client.HTTPException) as exc:
            raise RpcError(f"supervisord at {self.url} sent a reply that is not XML-RPC: "
                           f"{exc}") from None

    def all_process_info(self) -> list[dict[str, Any]]:
        info: list[dict[str, Any]] = self.call("supervisor.getAllProcessInfo")
        return info

    def process_info(self, name: str) -> dict[str, Any]:
        info: dict[str, Any] = self.call("supervisor.getProcessInfo", name)
        return info

    def tail(self, name: str, stream: str, length: int) -> tuple[str, int]:
        """The last `length` bytes of a program's stdout or stderr log, and the log's size."""
        method = ("supervisor.tailProcessStderrLog" if stream == "stderr"
                  else "supervisor.tailProcessStdoutLog")
        text, offset, _overflow = self.call(method, name, 0, length)
        return str(text), int(offset)

    def read_from(self, name: str, stream: str, offset: int, limit: int) -> tuple[str, int]:
        """What a log gained after `offset` (its last `limit` bytes at most), and the new end.

        supervisord's tail call returns the log's last `length` bytes, so asking for exactly
        the growth since `offset` gives the new part; a log that shrank (rotated) starts over.
        """
        _, size = self.tail(name, stream, 0)
        if size == offset:
            return "", offset
        growth = size - offset if size > offset else size
        return self.tail(name, stream, min(growth, limit))
