"""The HTTP backend with httpx: status, JSON fields, body text, latency, TLS."""

from __future__ import annotations

import asyncio
import collections
import json
import ssl
import time
from collections.abc import Mapping
from typing import Any

from backends.base import Backend
from backends.http.client import httpx
from backends.http.config import EndpointSnapshot, HttpConfig
from backends.tls_cert import CertInfo, peer_certificate
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.counts import counted
from console.core.errors import ActionFailed
from console.core.loglines import printable
from console.core.model import CheckResult, Perf, Status, by_thresholds, worst
from console.core.secrets import redact_url

_MAX_BODY = 1_000_000
_BODY_EXCERPT = 600
_SAID = 120  # the cause quoted on the row
_SHOWN_HEADERS = frozenset({"content-type", "server", "retry-after", "location",
                            "www-authenticate", "x-request-id"})
_EXPLAINING_KEYS = ("error", "message", "detail", "reason", "description")


def explanation(body: bytes, content_type: str) -> str | None:
    """The part of a failing answer that explains it: for JSON the `error`, `message` or
    `detail` field (or the first string field), else the body's first non-empty line; cut,
    and made printable."""
    text = body.decode("utf-8", "replace")
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        found = _explaining_field(document)
        if found:
            return printable(found, _SAID)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return printable(line, _SAID) if line else None


def _explaining_field(document: Any) -> str | None:
    if isinstance(document, dict):
        for key in _EXPLAINING_KEYS:
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict):
                nested = _explaining_field(value)
                if nested:
                    return nested
        return next((v.strip() for v in document.values()
                     if isinstance(v, str) and v.strip()), None)
    if isinstance(document, list) and document:
        return _explaining_field(document[0])
    return None


class TlsContexts:
    """One TLS context per `verify` setting, shared by every endpoint of a config.

    Loading the CA certificates costs tens of milliseconds, so it is done once, not once per
    endpoint.
    """

    def __init__(self) -> None:
        self._contexts: dict[str, ssl.SSLContext] = {}

    def get(self, verify: bool | str) -> ssl.SSLContext:
        key = repr(verify)
        if key not in self._contexts:
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif verify is True:
                context = ssl.create_default_context()
            else:
                context = ssl.create_default_context(cafile=verify)
            self._contexts[key] = context
        return self._contexts[key]


class HttpBackend(Backend[EndpointSnapshot]):
    kind = "http"
    unreachable_status = Status.CRITICAL

    def location(self) -> str:
        return redact_url(self.config.url)

    def __init__(self, config: HttpConfig, contexts: TlsContexts | None = None) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout + 1.0)
        self.config = config
        self.contexts = contexts or TlsContexts()
        self._client: httpx.AsyncClient | None = None
        self.latencies: collections.deque[float] = collections.deque(maxlen=20)
        self._cert_cache: tuple[bytes, CertInfo | None] | None = None

    def _http_client(self) -> httpx.AsyncClient:
        # A client of its own: httpx's connection pool slows down badly when hundreds of
        # requests share it at once, while a client without TLS costs half a millisecond.
        if self._client is None:
            https = self.config.url.startswith("https:")
            self._client = httpx.AsyncClient(
                verify=self.contexts.get(self.config.verify) if https else False,
                follow_redirects=False, headers={"User-Agent": "opsconsole"},
                # keep the connection across polls when the server allows it
                limits=httpx.Limits(max_connections=2, keepalive_expiry=self.interval + 5))
        return self._client

    def targets(self) -> list[str]:
        return [f"http:{self.name}"]

    async def collect(self) -> EndpointSnapshot:
        cfg = self.config
        started = time.monotonic()
        client = self._http_client()
        try:
            async with asyncio.timeout(cfg.timeout):
                response = await client.request(cfg.method, cfg.url, headers=dict(cfg.headers),
                                                timeout=cfg.timeout)
        except (TimeoutError, httpx.TimeoutException):
            return EndpointSnapshot(cfg.url, time.time(), error=f"no answer within {cfg.timeout:g}s")
        except httpx.HTTPError as exc:
            return EndpointSnapshot(cfg.url, time.time(), error=_describe(exc))
        latency = time.monotonic() - started
        self.latencies.append(latency)
        mismatch = self._body_mismatch(response)
        cert = self._certificate(response)
        if response.status_code in cfg.expect_status and mismatch is None:
            return EndpointSnapshot(cfg.url, time.time(), response.status_code, latency,
                                    cert=cert)
        body = response.content[:_MAX_BODY]
        return EndpointSnapshot(
            cfg.url, time.time(), response.status_code, latency, mismatch=mismatch,
            said=explanation(body, response.headers.get("content-type", "")),
            headers=tuple((k, printable(v, 200)) for k, v in response.headers.items()
                          if k.lower() in _SHOWN_HEADERS),
            body=printable(body[:_BODY_EXCERPT].decode("utf-8", "replace"), _BODY_EXCERPT),
            cert=cert)

    def _certificate(self, response: httpx.Response) -> CertInfo | None:
        stream = response.extensions.get("network_stream")
        if stream is None or not self.config.url.startswith("https:"):
            return None
        ssl_object = stream.get_extra_info("ssl_object")
        if ssl_object is None:
            return None
        der = ssl_object.getpeercert(binary_form=True)
        # the same connection (or a renewed one with the same certificate) is parsed once
        if self._cert_cache is None or self._cert_cache[0] != der:
            self._cert_cache = (der, peer_certificate(ssl_object))
        return self._cert_cache[1]

    def _body_mismatch(self, response: httpx.Response) -> str | None:
        cfg = self.config
        if not cfg.expect_body and not cfg.expect_json:
            return None
        body = response.content[:_MAX_BODY]
        if cfg.expect_body and cfg.expect_body.encode() not in body:
            return f"body lacks {cfg.expect_body!r}"
        if cfg.expect_json:
            try:
                document = response.json()
            except ValueError:
                return "body is not JSON"
            for path, expected in cfg.expect_json:
                found = _json_path(document, path)
                if found != expected:  # what the server said, cut: it may be a whole document
                    return f"JSON {path} is {printable(repr(found), 80)}, expected {expected!r}"
        return None

    def evaluate(self, snapshot: EndpointSnapshot) -> list[CheckResult]:
        cfg = self.config
        target = f"http:{self.name}"
        if snapshot.error is not None or snapshot.status_code is None or snapshot.latency is None:
            return [CheckResult(target, Status.CRITICAL, snapshot.error or "no answer",
                                details=cfg.url)]
        perf: tuple[Perf, ...] = (Perf(f"{self.name}_time", round(snapshot.latency, 4), "s",
                                       cfg.latency_warn, cfg.latency_crit, 0),)
        details = cfg.url
        cert_status, cert_note = Status.OK, ""
        if snapshot.cert is not None:
            days = snapshot.cert.days_left(snapshot.checked_at)
            perf += (Perf(f"{self.name}_cert_days", days, "", cfg.cert_warn, cfg.cert_crit),)
            cert_status = by_thresholds(days, cfg.cert_warn, cfg.cert_crit, below=True)
            cert_note = ", " + _expiry_phrase(days)
            details += "\n" + snapshot.cert.describe()
        ms = f"{snapshot.latency * 1000:.0f} ms"
        said = f': "{snapshot.said}"' if snapshot.said else ""
        if snapshot.status_code not in cfg.expect_status:
            expected = "/".join(str(c) for c in cfg.expect_status)
            return [CheckResult(target, Status.CRITICAL,
                                f"{snapshot.status_code} in {ms} (expected {expected})"
                                f"{cert_note}{said}", perfdata=perf,
                                details=self._details(snapshot, details))]
        if snapshot.mismatch:
            return [CheckResult(target, Status.CRITICAL,
                                f"{snapshot.status_code}: {snapshot.mismatch}{cert_note}{said}",
                                perfdata=perf, details=self._details(snapshot, details))]
        latency_status = by_thresholds(snapshot.latency, cfg.latency_warn, cfg.latency_crit)
        note = "" if latency_status is Status.OK else " (slow)"
        return [CheckResult(target, worst([latency_status, cert_status]),
                            f"{snapshot.status_code} in {ms}{note}{cert_note}",
                            perfdata=perf, details=self._details(snapshot, details))]

    def _details(self, snapshot: EndpointSnapshot, head: str) -> str:
        """What Enter on the endpoint shows: the request, the certificate, the answer,
        latency history."""
        lines = [f"{self.config.method} {head}"]
        if snapshot.status_code is not None:
            lines.append(f"status {snapshot.status_code}")
        lines += [f"{name}: {value}" for name, value in snapshot.headers]
        if snapshot.body:
            lines += ["body:", snapshot.body]
        if self.latencies:
            history = " ".join(f"{value * 1000:.0f}" for value in self.latencies)
            lines.append(f"latency of the last {len(self.latencies)} answers (ms): {history}")
        return "\n".join(lines)

    def actions(self, snapshot: EndpointSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        async def check_now(progress: Progress) -> ActionOutcome:
            progress.progress(None, None, f"requesting {self.config.url}")
            result = self.evaluate(await self.collect())[0]
            if result.status is not Status.OK:
                raise ActionFailed(f"{result.status.name}: {result.summary}")
            return ActionOutcome(True, f"OK: {result.summary}")

        return [ActionSpec(verb="check", target=target, title=f"Check {self.name} now",
                           effect=f"send one {self.config.method} to {self.config.url}",
                           run=check_now, backend_id=self.id, mutating=False)]

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _expiry_phrase(days: int) -> str:
    if days < 0:
        return f"certificate expired {counted(-days, 'day')} ago"
    if days == 0:
        return "certificate expires today"
    return f"certificate expires in {counted(days, 'day')}"


def _describe(exc: httpx.HTTPError) -> str:
    """One line for a transport error: refused, DNS, TLS..."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "connection refused" in lowered or "connect call failed" in lowered:
        return "connection refused"
    if "certificate" in lowered or "ssl" in lowered:
        return "TLS: " + printable(text.splitlines()[0], 160)
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found"
    return printable(text.splitlines()[0], 200)


def _json_path(document: Any, path: str) -> Any:
    """Follow a dotted path (`checks.db.status`, list indexes allowed) into a JSON document."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
