"""The bridge protocol: versioned JSON lines, one message per line, both ways.

See docs/bridge-protocol.md. This module holds the version, the encoding of messages and
check results, and the checks every received line goes through.
"""

from __future__ import annotations

import json
from typing import Any

from console.core.errors import ConsoleError
from console.core.loglines import printable
from console.core.model import CheckResult, Perf, Status
from console.report import check_dict

PROTOCOL = 1
MAX_LINE = 4 * 1024 * 1024  # a snapshot of a big host stays well below this


class ProtocolError(ConsoleError):
    """The other side said something this side cannot use (bad line, other version)."""


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":"), default=str) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        shown = printable(line[:80].decode("utf-8", "replace"))
        raise ProtocolError(f"not a bridge message: {shown!r}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("not a bridge message: no 'type'")
    return message


def check_hello(hello: dict[str, Any], host: str) -> None:
    """A one-line error unless the bridge speaks this console's protocol."""
    if hello.get("type") != "hello":
        raise ProtocolError(f"{host}: the remote command did not start a bridge "
                            f"(first message: {hello.get('type')!r})")
    theirs = hello.get("protocol")
    if theirs != PROTOCOL:
        from console import __version__

        raise ProtocolError(
            f"{host}: version mismatch: the bridge speaks protocol {theirs} (opsconsole "
            f"{printable(str(hello.get('version', '?')))}), this console speaks {PROTOCOL} "
            f"(opsconsole {__version__}): install the same opsconsole version on both")


def check_to_dict(check: CheckResult) -> dict[str, Any]:
    return check_dict(check)


def check_from_dict(data: dict[str, Any]) -> CheckResult:
    """A check result as the bridge sent it; every string made printable."""
    try:
        status = Status[str(data["status"])]
    except KeyError:
        status = Status.UNKNOWN
    perf = []
    for item in data.get("perfdata") or []:
        if isinstance(item, dict) and isinstance(item.get("value"), int | float):
            perf.append(Perf(printable(str(item.get("label", ""))), float(item["value"]),
                             printable(str(item.get("uom") or "")),
                             *(_number(item.get(k)) for k in ("warn", "crit", "min", "max"))))
    return CheckResult(target=printable(str(data.get("target", "?"))), status=status,
                       summary=printable(str(data.get("summary", ""))),
                       check=printable(str(data.get("check", ""))), perfdata=tuple(perf),
                       details=printable(str(data.get("details", ""))))


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
