"""The bus worker: a child process that owns the pystemd connection and answers requests.

pystemd holds the GIL while a call waits, so a hung bus would freeze every thread of the
console; in a child process it freezes only the child, which the console kills after its
timeout. Requests and replies are JSON lines on stdin/stdout:
`{"id": 1, "op": "units", "args": {...}}` -> `{"id": 1, "ok": ...}` or
`{"id": 1, "error": {"kind": ..., "message": ...}}`.

Run as `python -m backends.systemd.worker [ADDRESS]` (no address: the system bus).
"""

from __future__ import annotations

import fnmatch
import json
import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any

from pystemd.dbuslib import path_decode

from backends.systemd.dbus_calls import (
    PROPERTIES,
    SERVICE,
    SYSTEMD,
    TIMER,
    UNIT,
    UNIT_PREFIX,
    Connection,
    DBusFailure,
    plain,
)
from backends.systemd.listing import PropertyCache, read_units

UNIT_METHODS = {"RestartUnit", "StartUnit", "StopUnit", "ReloadUnit", "ResetFailedUnit"}


def _loaded_path(conn: Connection, name: str) -> bytes:
    path = conn.unit_path(name)
    if plain(conn.get(path, UNIT, "LoadState")) == "not-found":
        raise DBusFailure("no_such_unit", f"Unit {name} not found.")
    return path


def op_units(conn: Connection, patterns: list[str]) -> Any:
    CACHE.patterns = tuple(patterns)
    return read_units(conn, patterns, CACHE)


def op_state(conn: Connection, name: str) -> Any:
    """What an action watches: state, result, pending job, start time, restarts."""
    path = _loaded_path(conn, name)
    unit = conn.get_all(path, UNIT)
    state = {key: plain(unit.get(key.encode())) for key in (
        "LoadState", "ActiveState", "SubState", "ActiveEnterTimestamp", "StateChangeTimestamp",
        "CanReload", "Job")}
    if name.endswith(".service"):
        for key in ("Result", "MainPID", "NRestarts", "Type", "ExecMainStatus"):
            state[key] = plain(conn.get(path, SERVICE, key))
    invocation = unit.get(b"InvocationID")
    state["InvocationID"] = bytes(invocation).hex() if invocation else ""
    return state


def op_properties(conn: Connection, name: str) -> Any:
    """Every property of the unit and of its type's interface, for the detail view."""
    path = _loaded_path(conn, name)
    props = plain(conn.get_all(path, UNIT))
    if name.endswith(".service"):
        props.update(plain(conn.get_all(path, SERVICE)))
    elif name.endswith(".timer"):
        props.update(plain(conn.get_all(path, TIMER)))
    return props


def op_call(conn: Connection, method: str, name: str) -> Any:
    if method not in UNIT_METHODS:
        raise DBusFailure("failed", f"unknown method {method}")
    _loaded_path(conn, name)
    if method == "ResetFailedUnit":
        conn.manager(method, "s", [name])
        return ""
    return plain(conn.manager(method, "ss", [name, "replace"]))


CACHE = PropertyCache()
OPS: dict[str, Callable[..., Any]] = {
    "units": op_units, "state": op_state, "properties": op_properties, "call": op_call,
    "ping": lambda conn: "pong",
}
_EVENT_EVERY = 0.5  # at most two "changed" events a second reach the console
_SIGNALS_EVERY = 0.5
_PROCESS_CALLS = 64  # also look at the signal connection this often, readable or not


class Watcher:
    """PropertiesChanged signals of every unit, on a connection of their own.

    Marks changed units dirty in CACHE (so the next poll reads them) and tells the console.
    """

    def __init__(self, address: str | None) -> None:
        self.conn = Connection(address)
        self.pending = False

        # pystemd keeps only a borrowed pointer to the callback: self holds the reference.
        def on_signal(msg: Any, error: Any = None, userdata: Any = None) -> None:
            path = msg.get_path()
            if path and path.startswith(UNIT_PREFIX + b"/"):
                name = plain(path_decode(path, UNIT_PREFIX))
                CACHE.dirty.add(name)
                # Only units the console shows are worth a re-poll.
                if any(fnmatch.fnmatchcase(name, p) for p in CACHE.patterns):
                    self.pending = True

        self._callback = on_signal

    def start(self) -> int:
        bus = self.conn.open()
        bus.match_signal(SYSTEMD, None, PROPERTIES, b"PropertiesChanged", self._callback)
        self.conn.manager("Subscribe")
        CACHE.watching = True
        return int(bus.get_fd())

    def drain(self) -> None:
        """Dispatch queued signals. process() handles one message and does not say whether
        it found one (handled signals return nothing), so call it a fixed number of times:
        with nothing queued each call is one non-blocking read."""
        bus = self.conn.open()
        for _ in range(_PROCESS_CALLS):
            bus.process()


def _reply(request: dict[str, Any], conn: Connection) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": request.get("id")}
    try:
        reply["ok"] = OPS[request["op"]](conn, **request.get("args", {}))
    except DBusFailure as failure:
        reply["error"] = {"kind": failure.kind, "message": str(failure)}
    except Exception as exc:  # reported to the console, which shows it in one line
        reply["error"] = {"kind": "failed", "message": f"{type(exc).__name__}: {exc}"}
    return reply


def serve(address: str | None) -> None:
    conn = Connection(address)
    watcher: Watcher | None = None
    signal_fd: int | None = None
    buffered = b""
    last_event = 0.0

    def send(message: dict[str, Any]) -> None:
        os.write(1, json.dumps(message).encode() + b"\n")

    while True:
        fds = [0] if signal_fd is None else [0, signal_fd]
        readable, _, _ = select.select(fds, [], [], _SIGNALS_EVERY)
        if 0 in readable:
            chunk = os.read(0, 1 << 20)
            if not chunk:
                break
            buffered += chunk
            *lines, buffered = buffered.split(b"\n")
            for line in lines:
                request = json.loads(line)
                if request.get("op") == "watch":
                    try:
                        watcher = watcher or Watcher(address)
                        signal_fd = watcher.start()
                        send({"id": request.get("id"), "ok": True})
                    except DBusFailure as failure:
                        watcher, signal_fd, CACHE.watching = None, None, False
                        send({"id": request.get("id"),
                              "error": {"kind": failure.kind, "message": str(failure)}})
                    continue
                send(_reply(request, conn))
        if watcher is not None:
            try:
                watcher.drain()
            except DBusFailure:  # the bus went away: fall back to plain polling
                watcher, signal_fd, CACHE.watching = None, None, False
                send({"event": "unwatched"})
                continue
            if watcher.pending and time.monotonic() - last_event >= _EVENT_EVERY:
                watcher.pending = False
                last_event = time.monotonic()
                send({"event": "changed"})
    conn.close()


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
