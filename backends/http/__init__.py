"""HTTP health endpoints: status, JSON fields, body text, latency, TLS.

The kind's config is in config.py, the backend (httpx) in backend.py,
imported when a backend is built, so parsing a config does not import httpx.
"""

from __future__ import annotations

from backends.base import Backend, BackendKind, Runtime
from backends.http.config import HttpConfig, parse, validate


def build(entries: list[HttpConfig], runtime: Runtime) -> list[Backend]:
    from backends.http.backend import HttpBackend, TlsContexts

    contexts = TlsContexts()
    return [HttpBackend(entry, contexts) for entry in entries]


KIND = BackendKind(section="http", parse=parse, build=build, validate=validate)
