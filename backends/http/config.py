"""The `[[http]]` config entry and what a poll of one endpoint returns (plain data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.base import unique_names
from backends.tls_cert import CertInfo
from console.core.configtable import Table


@dataclass(frozen=True)
class HttpConfig:
    name: str
    url: str
    method: str
    expect_status: tuple[int, ...]
    expect_json: tuple[tuple[str, Any], ...]
    expect_body: str | None
    latency_warn: float | None
    latency_crit: float | None
    verify: bool | str
    timeout: float
    interval: float
    headers: tuple[tuple[str, str], ...]
    cert_warn: int = 21  # days left on the certificate
    cert_crit: int = 7


@dataclass(frozen=True)
class EndpointSnapshot:
    url: str
    checked_at: float
    status_code: int | None = None
    latency: float | None = None
    error: str | None = None
    mismatch: str | None = None
    said: str | None = None  # what a failing answer says about why, from its body
    headers: tuple[tuple[str, str], ...] = ()  # the ones worth reading when it fails
    body: str = ""  # the start of a failing answer's body, printable
    cert: CertInfo | None = None


def parse(table: Table) -> HttpConfig:
    codes = table.int_list("expect_status", [200], minimum=100, maximum=599,
                           what="an HTTP status code or a list of them")
    table.check(bool(codes), "expect_status", "needs at least one status code")
    verify: bool | str = True
    if table.has("verify"):
        raw = table.data["verify"]
        verify = table.flag("verify") if isinstance(raw, bool) else table.text(
            "verify", what="true, false or the path of a CA bundle")
    headers = table.table("headers")
    header_items: tuple[tuple[str, str], ...] = ()
    if headers is not None:
        header_items = tuple((k, headers.expand(k, headers.text(k))) for k in list(headers.data))
        headers.done()
    timeout = table.duration("timeout", 5.0)
    config = HttpConfig(
        name=table.name(),
        url=table.url("url", ("http", "https")),
        method=table.text("method", "GET", choices=("GET", "HEAD", "POST")),
        expect_status=tuple(codes),
        expect_json=tuple(table.mapping("expect_json").items()),
        expect_body=table.text("expect_body", None),
        latency_warn=table.duration("latency_warn", 1.0),
        latency_crit=table.duration("latency_crit", None),
        verify=verify,
        timeout=timeout,
        interval=table.duration("interval", 10.0),
        headers=header_items,
        cert_warn=table.integer("cert_warn", 21, minimum=0),
        cert_crit=table.integer("cert_crit", 7, minimum=0),
    )
    table.check(timeout > 0, "timeout", "must be more than 0")
    table.check(config.cert_crit <= config.cert_warn, "cert_crit",
                f"must not be more than cert_warn ({config.cert_warn} days)")
    table.done()
    return config


def validate(entries: list[HttpConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("http", [entry.name for entry in entries])
