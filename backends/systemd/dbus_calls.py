"""Raw pystemd calls on one bus connection; used only inside the bus worker process.

pystemd blocks and holds the GIL while it waits for systemd, so these run in a separate
process (see worker.py), never in the console's own process. Strings come back as bytes:
`plain()` turns replies into JSON-friendly str/int/list/dict values.
"""

from __future__ import annotations

import os
from typing import Any

from pystemd.dbuslib import DBus, DBusAddress, apply_signature

SYSTEMD = b"org.freedesktop.systemd1"
MANAGER_PATH = b"/org/freedesktop/systemd1"
MANAGER = b"org.freedesktop.systemd1.Manager"
PROPERTIES = b"org.freedesktop.DBus.Properties"
UNIT_PREFIX = b"/org/freedesktop/systemd1/unit"
UNIT = "org.freedesktop.systemd1.Unit"
SERVICE = "org.freedesktop.systemd1.Service"
TIMER = "org.freedesktop.systemd1.Timer"
NOT_SET = 2**64 - 1
_LOST = (-104, -107, -32, -111)  # ECONNRESET, ENOTCONN, EPIPE, ECONNREFUSED


class DBusFailure(Exception):
    """A D-Bus call failed; `kind` is one of no_such_unit, permission, unavailable, timeout,
    failed."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def classify(exc: Exception) -> DBusFailure:
    """Map pystemd's exception classes (their D-Bus error names) onto what the user can fix."""
    name = type(exc).__name__
    text = describe(exc)
    if name in ("DBusNoSuchUnitError", "DBusUnknownObjectError", "DBusLoadFailedError"):
        return DBusFailure("no_such_unit", text)
    errno = getattr(exc, "errno", 0)
    if (errno == -1 and text == os.strerror(1)) or name == "DBusBaseError":
        # sd-bus's own EPERM (no message from a bus) or an error pystemd has no name for:
        # the peer is not a D-Bus bus, or it refused the handshake.
        return DBusFailure("unavailable", f"it did not accept a D-Bus connection: {text}")
    if name in ("DBusAccessDeniedError", "DBusInteractiveAuthorizationRequiredError",
                "DBusAuthFailedError") or errno in (-1, -13):
        return DBusFailure("permission", text)
    if name in ("DBusFileNotFoundError", "DBusConnectionRefusedError", "DBusNoServerError",
                "DBusDisconnectedError", "DBusBadAddressError", "DBusServiceUnknownError",
                "DBusNameHasNoOwnerError") or getattr(exc, "errno", 0) in _LOST:
        return DBusFailure("unavailable", text)
    if name in ("DBusTimeoutError", "DBusTimedOutError", "DBusNoReplyError"):
        return DBusFailure("timeout", text)
    return DBusFailure("failed", text)


_PLACEHOLDER = "did not see that coming"


def describe(exc: Exception) -> str:
    """pystemd's "[err -13]: b'Rejected send message, 5 matched rules; ...'" as one short line."""
    message = getattr(exc, "err_message", None)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    text = str(message or exc).strip().split(";")[0].split(", ")[0].strip()
    if _PLACEHOLDER in text or text.startswith("This is DBus"):
        text = ""  # pystemd's text for an error it has no name for: the errno says more
    errno = getattr(exc, "errno", 0)
    if isinstance(errno, int) and errno < 0:
        reason = os.strerror(-errno)
        if reason.lower() not in text.lower():
            text = f"{text}: {reason}" if text else reason
    return text[:200] or "the bus gave an error without a reason"


def plain(value: Any) -> Any:
    """bytes -> str, tuples -> lists, recursively."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    return value


class Connection:
    """One open bus: the system bus, or a `unix:path=...` address."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._bus: DBus | None = None

    def open(self) -> DBus:
        if self._bus is None:
            bus = DBus() if self.address is None else DBusAddress(self.address.encode())
            try:
                bus.open()
            except Exception as exc:
                failure = classify(exc)
                if getattr(exc, "errno", 0) == -13:  # EACCES: a real permission problem
                    raise failure from None
                # Anything else while connecting (EPERM, a refused handshake, garbage) means
                # the socket is not a bus that lets us in.
                raise DBusFailure("unavailable", f"not a D-Bus bus that accepts this "
                                                 f"connection: {failure}") from None
            self._bus = bus
        return self._bus

    def close(self) -> None:
        if self._bus is not None:
            bus, self._bus = self._bus, None
            bus.close()

    def call(self, path: bytes, interface: bytes, method: str, signature: str,
             args: list[Any]) -> Any:
        bus = self.open()
        encoded = [a.encode() if isinstance(a, str) else
                   [x.encode() for x in a] if isinstance(a, list) else a for a in args]
        try:
            reply = bus.call_method(SYSTEMD, path, interface, method.encode(),
                                    apply_signature(signature.encode(), encoded))
        except Exception as exc:
            failure = classify(exc)
            if failure.kind == "unavailable":
                self.close()
            raise failure from None
        return reply.body

    def manager(self, method: str, signature: str = "", args: list[Any] | None = None) -> Any:
        return self.call(MANAGER_PATH, MANAGER, method, signature, args or [])

    def get(self, path: bytes, interface: str, prop: str) -> Any:
        return self.call(path, PROPERTIES, "Get", "ss", [interface, prop])

    def get_all(self, path: bytes, interface: str) -> dict[bytes, Any]:
        body: dict[bytes, Any] = self.call(path, PROPERTIES, "GetAll", "s", [interface])
        return body

    def unit_path(self, name: str) -> bytes:
        """The object path of a unit, loading it when systemd has it only on disk."""
        path: bytes = self.manager("LoadUnit", "s", [name])
        return path
