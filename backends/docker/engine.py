"""The Docker engine connection: a client per host with timeouts, used from threads only.

Every docker SDK call blocks, so backends reach the engine through `Engine.run`, which runs the
call in a worker thread and turns transport failures into one line that says what to fix.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import docker  # type: ignore[import-untyped]
import docker.errors  # type: ignore[import-untyped]
import requests

from console.core.errors import one_line

T = TypeVar("T")


class EngineError(Exception):
    """The engine could not be reached or refused a call; the text is one line for the user."""


def socket_path(host: str) -> str | None:
    if host.startswith("unix://"):
        return urlsplit(host).path or host.removeprefix("unix://")
    return None


def describe(exc: BaseException, host: str, timeout: float | None) -> str:
    """One line for a failed engine call: missing socket, hung engine, API refusal."""
    if isinstance(exc, EngineError):
        return str(exc)
    if isinstance(exc, docker.errors.APIError):
        if not _speaks_docker(exc.response):
            return _not_docker(host, "it answers HTTP, but not the Docker API")
        text = exc.explanation if isinstance(exc.explanation, str) else str(exc)
        return (text or str(exc)).strip().splitlines()[0][:300]
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    texts = " ".join(str(c) for c in chain).lower()
    path = socket_path(host)
    if any(isinstance(c, requests.exceptions.ReadTimeout | TimeoutError) for c in chain) \
            or "timed out" in texts:
        limit = f" within {timeout:g}s" if timeout else ""
        return f"the Docker engine at {host} did not answer{limit} (is dockerd hung?)"
    if any(isinstance(c, PermissionError) for c in chain) or "permission denied" in texts:
        return (f"permission denied on {path or host}: run as root or a member of the "
                "docker group")
    if path is not None and not os.path.exists(path):
        return (f"Docker engine socket {path} does not exist: is dockerd running? "
                "(set host = \"unix:///path/docker.sock\" in [[docker]])")
    if "connection refused" in texts or "connectionrefused" in texts:
        return f"the Docker engine at {host} refused the connection: is dockerd running?"
    if any(isinstance(c, ValueError) for c in chain):  # a body that is not JSON
        return _not_docker(host, "it answers HTTP, but not the Docker API")
    if "badstatusline" in texts or "remotedisconnected" in texts or "connection aborted" in texts:
        return _not_docker(host, "it does not speak HTTP")
    return f"Docker engine at {host}: {one_line(exc, limit=250)}"


def _speaks_docker(response: Any) -> bool:
    """Whether an error answer came from a Docker engine (it names itself, in JSON)."""
    if response is None:
        return True
    headers = getattr(response, "headers", {}) or {}
    return "Api-Version" in headers or "json" in headers.get("Content-Type", "")


def _not_docker(host: str, what: str) -> str:
    return (f"{host} is not a Docker engine ({what}): "
            "check host = in [[docker]] points at dockerd's socket")


class Engine:
    """One engine: a shared client for short calls and fresh clients for long streams."""

    # Pinned so building a client never talks to the engine (version="auto" would).
    API_VERSION = "1.41"

    def __init__(self, host: str, timeout: float) -> None:
        self.host = host
        self.timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def _make(self, timeout: float | None) -> Any:
        path = socket_path(self.host)
        if path is not None and not os.path.exists(path):
            raise EngineError(describe(FileNotFoundError(path), self.host, timeout))
        # A client without a timeout is only used for streams closed from another thread.
        client = docker.DockerClient(base_url=self.host, version=self.API_VERSION,
                                     timeout=timeout if timeout is not None else 10**6)
        if path is not None:
            # No proxy or CA setting applies to a local socket, and reading them from the
            # environment at every request was a fifth of a request's CPU.
            client.api.trust_env = False
        return client

    def client(self) -> Any:
        """The shared client (thread side only)."""
        with self._lock:
            if self._client is None:
                self._client = self._make(self.timeout)
            return self._client

    def stream_client(self, timeout: float | None) -> Any:
        """A client of its own for one long call (events, logs follow); the caller closes it."""
        return self._make(timeout)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(client, *args)` here (a worker thread), errors as EngineError."""
        try:
            return fn(self.client(), *args)
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(describe(exc, self.host, self.timeout)) from exc

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`call` in a worker thread, for the event loop."""
        return await asyncio.to_thread(self.call, fn, *args)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
