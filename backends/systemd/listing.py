"""Which units match the patterns and what state they are in.

`read_units` runs in the bus worker: ONE ListUnitsByPatterns call for every loaded unit that
matches (plus one ListUnitFilesByPatterns call for units that exist only on disk), then the
few properties each row needs. `parse_units` turns the worker's reply into frozen
`UnitState`s in the console's process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from backends.systemd.dbus_calls import (
    NOT_SET,
    SERVICE,
    TIMER,
    UNIT,
    Connection,
    DBusFailure,
    plain,
)

_STATIC_UNIT_KEYS = ("CanReload", "TriggeredBy", "Triggers", "UnitFileState")
_DYNAMIC_UNIT_KEYS = ("ActiveEnterTimestamp", "StateChangeTimestamp")
_SERVICE_KEYS = ("NRestarts", "MainPID", "MemoryCurrent", "CPUUsageNSec", "Result",
                 "ExecMainStatus")
_TIMER_KEYS = ("LastTriggerUSec", "NextElapseUSecRealtime", "NextElapseUSecMonotonic", "Result")


# -- in the worker ---------------------------------------------------------------------------
_STATIC_TTL = 60.0  # CanReload, TriggeredBy, Type...: change only with a daemon-reload
_REUSE_TTL = 30.0  # longest a row's properties are reused (memory and CPU age this much)
_BUSY = ("active", "activating", "deactivating", "reloading", "refreshing")


class PropertyCache:
    """What the worker remembers between polls, so a poll reads only what may have changed.

    Without signals, a running unit is read on every poll and an idle one (inactive, failed)
    at least every 30 s or when its state changes. With PropertiesChanged signals
    (`watching`), a unit is read again only when systemd says it changed, or after 30 s.
    """

    def __init__(self) -> None:
        self.static: dict[str, tuple[float, dict[str, Any]]] = {}
        self.rows: dict[str, tuple[float, str, str, dict[str, Any]]] = {}
        self.dirty: set[str] = set()
        self.watching = False
        self.patterns: tuple[str, ...] = ()

    def reusable(self, name: str, active: str, sub: str, now: float) -> dict[str, Any] | None:
        cached = self.rows.get(name)
        if cached is None or name in self.dirty:
            return None
        fetched, was_active, was_sub, props = cached
        if (was_active, was_sub) != (active, sub) or now - fetched > _REUSE_TTL:
            return None
        if not self.watching and active in _BUSY:
            return None
        return props

    def static_props(self, name: str, now: float) -> dict[str, Any] | None:
        cached = self.static.get(name)
        if cached is None or name in self.dirty or now - cached[0] > _STATIC_TTL:
            return None
        return cached[1]


def read_units(conn: Connection, patterns: list[str],
               cache: PropertyCache | None = None) -> dict[str, Any]:
    """Every unit matching `patterns` with its state and key properties, as plain data."""
    cache = cache or PropertyCache()
    listed = conn.manager("ListUnitsByPatterns", "asas", [[], patterns])
    units: list[dict[str, Any]] = []
    seen: set[str] = set()
    now = time.monotonic()
    for name, description, load, active, sub, _following, path, *_job in listed:
        row = {"name": plain(name), "description": plain(description), "load": plain(load),
               "active": plain(active), "sub": plain(sub)}
        seen.add(row["name"])
        props = cache.reusable(row["name"], row["active"], row["sub"], now)
        if props is None:
            try:
                props = _properties(conn, path, row["name"], cache, now)
            except DBusFailure as failure:
                if failure.kind != "no_such_unit":  # a unit that vanished since the listing
                    raise
                props = {}
            cache.rows[row["name"]] = (now, row["active"], row["sub"], props)
        elif props.get("TriggeredUnit"):
            # the timer itself stays "waiting" while its service runs: read the run afresh
            props = {**props, "TriggeredUnit": _triggered_state(conn, props["Triggers"][0])}
        row.update(props)
        units.append(row)
    cache.dirty.clear()
    for pattern in patterns:
        if pattern not in seen and not any(c in pattern for c in "*?["):
            seen.add(pattern)
            units.append(_load_by_name(conn, pattern, cache))
    for name, file_state in _unit_files(conn, patterns):
        if name not in seen:  # exists only on disk: stopped and unloaded by systemd
            seen.add(name)
            units.append({"name": name, "description": "", "load": "not-loaded",
                          "active": "inactive", "sub": "dead", "UnitFileState": file_state})
    return {"units": units, "now": time.time()}


def _load_by_name(conn: Connection, name: str, cache: PropertyCache) -> dict[str, Any]:
    """A unit named in the config but not loaded: LoadUnit tells if it exists at all."""
    path = conn.unit_path(name)
    row = {"name": name}
    for key, prop in (("description", "Description"), ("load", "LoadState"),
                      ("active", "ActiveState"), ("sub", "SubState")):
        row[key] = plain(conn.get(path, UNIT, prop))
    if row["load"] != "not-found":
        row.update(_properties(conn, path, name, cache, time.monotonic()))
    return row


# Listing unit files reads every unit directory (~0.2 s): do it once a minute at most.
_FILES_TTL = 60.0
_files_cache: dict[tuple[str, ...], tuple[float, list[tuple[str, str]]]] = {}


def _unit_files(conn: Connection, patterns: list[str]) -> list[tuple[str, str]]:
    key = tuple(patterns)
    cached = _files_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < _FILES_TTL:
        return cached[1]
    files = []
    for file_path, file_state in conn.manager("ListUnitFilesByPatterns", "asas", [[], patterns]):
        name = plain(file_path).rsplit("/", 1)[-1]
        if "@." not in name:  # templates are not units
            files.append((name, plain(file_state)))
    _files_cache[key] = (time.monotonic(), files)
    return files


def _properties(conn: Connection, path: bytes, name: str, cache: PropertyCache,
                now: float) -> dict[str, Any]:
    static = cache.static_props(name, now)
    props: dict[str, Any] = {}
    if static is None:
        unit = conn.get_all(path, UNIT)
        static = {key: plain(unit.get(key.encode())) for key in _STATIC_UNIT_KEYS}
        props.update({key: plain(unit.get(key.encode())) for key in _DYNAMIC_UNIT_KEYS})
        if name.endswith(".service"):
            static["Type"] = plain(conn.get(path, SERVICE, "Type"))
        cache.static[name] = (now, static)
    else:
        props.update({key: plain(conn.get(path, UNIT, key)) for key in _DYNAMIC_UNIT_KEYS})
    props.update(static)
    if name.endswith(".service"):
        for key in _SERVICE_KEYS:
            props[key] = plain(conn.get(path, SERVICE, key))
    elif name.endswith(".timer"):
        for key in _TIMER_KEYS:
            props[key] = plain(conn.get(path, TIMER, key))
        props["NextElapse"] = _next_elapse(props)
        triggered = props.get("Triggers") or []
        if triggered:
            props["TriggeredUnit"] = _triggered_state(conn, triggered[0])
    return props


def _next_elapse(props: dict[str, Any]) -> float | None:
    realtime = props.get("NextElapseUSecRealtime")
    if realtime and realtime != NOT_SET:
        return float(realtime) / 1e6
    monotonic = props.get("NextElapseUSecMonotonic")
    if monotonic and monotonic != NOT_SET:
        # Same kernel, same CLOCK_MONOTONIC: valid for local buses, which is what we reach.
        return time.time() + float(monotonic) / 1e6 - time.monotonic()
    return None


def _triggered_state(conn: Connection, name: str) -> dict[str, Any]:
    try:
        path = conn.unit_path(name)
        state = {"name": name, "active": plain(conn.get(path, UNIT, "ActiveState"))}
        if name.endswith(".service"):
            state["result"] = plain(conn.get(path, SERVICE, "Result"))
            state["status"] = conn.get(path, SERVICE, "ExecMainStatus")
            state["started"] = _usec(conn.get(path, SERVICE, "ExecMainStartTimestamp"))
            state["exited"] = _usec(conn.get(path, SERVICE, "ExecMainExitTimestamp"))
        return state
    except DBusFailure as failure:
        if failure.kind != "no_such_unit":
            raise
        return {"name": name, "active": "unknown"}


# -- in the console --------------------------------------------------------------------------
@dataclass(frozen=True)
class TriggeredUnit:
    name: str
    active: str
    result: str = ""
    status: int | None = None
    exited: float | None = None
    started: float | None = None

    @property
    def duration(self) -> float | None:
        """How long the last run took, once it has finished."""
        if self.started is None or self.exited is None or self.exited < self.started:
            return None
        return self.exited - self.started


@dataclass(frozen=True)
class UnitState:
    """One unit as systemd reported it at poll time. None means "systemd does not say"."""

    name: str
    description: str
    load: str
    active: str
    sub: str
    active_since: float | None = None
    changed_at: float | None = None
    can_reload: bool = False
    triggered_by: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    file_state: str = ""
    service_type: str = ""
    restarts: int | None = None
    main_pid: int | None = None
    memory: int | None = None
    cpu_nsec: int | None = None
    result: str = ""
    exit_status: int | None = None
    last_trigger: float | None = None
    next_trigger: float | None = None
    triggered: TriggeredUnit | None = None
    restarts_in_window: int = 0
    cause: str | None = None  # the journal line that most likely says why it is failing

    @property
    def troubled(self) -> bool:
        """Failed, restarting or restarted lately: worth quoting its journal for."""
        return self.active == "failed" or self.sub == "auto-restart" or self.restarts_in_window > 0

    @property
    def kind(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def target(self) -> str:
        return f"unit:{self.name}"

    @property
    def expected_inactive(self) -> bool:
        """Oneshot or triggered units (timers, sockets, paths) are idle between runs."""
        return self.service_type == "oneshot" or bool(self.triggered_by)


@dataclass(frozen=True)
class SystemdSnapshot:
    bus: str
    polled_at: float
    units: tuple[UnitState, ...]
    patterns: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = field(default=())

    def unit(self, name: str) -> UnitState | None:
        return next((u for u in self.units if u.name == name), None)


def _usec(value: Any) -> float | None:
    if not isinstance(value, int) or value in (0, NOT_SET):
        return None
    return value / 1e6


def _count(value: Any) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool) or value == NOT_SET:
        return None
    return value


def parse_unit(row: dict[str, Any]) -> UnitState:
    triggered = row.get("TriggeredUnit")
    pid = _count(row.get("MainPID"))
    return UnitState(
        name=str(row["name"]), description=str(row.get("description") or ""),
        load=str(row.get("load") or ""), active=str(row.get("active") or ""),
        sub=str(row.get("sub") or ""),
        active_since=_usec(row.get("ActiveEnterTimestamp")),
        changed_at=_usec(row.get("StateChangeTimestamp")),
        can_reload=bool(row.get("CanReload")),
        triggered_by=tuple(row.get("TriggeredBy") or ()),
        triggers=tuple(row.get("Triggers") or ()),
        file_state=str(row.get("UnitFileState") or ""),
        service_type=str(row.get("Type") or ""),
        restarts=_count(row.get("NRestarts")),
        main_pid=pid or None,
        memory=_count(row.get("MemoryCurrent")),
        cpu_nsec=_count(row.get("CPUUsageNSec")),
        result=str(row.get("Result") or ""),
        exit_status=_count(row.get("ExecMainStatus")),
        last_trigger=_usec(row.get("LastTriggerUSec")),
        next_trigger=row.get("NextElapse"),
        triggered=TriggeredUnit(str(triggered["name"]), str(triggered["active"]),
                                str(triggered.get("result") or ""),
                                _count(triggered.get("status")),
                                triggered.get("exited"), triggered.get("started"))
        if triggered else None,
    )


def unmatched_names(patterns: tuple[str, ...], units: tuple[UnitState, ...]) -> tuple[str, ...]:
    """Plain names (no glob characters) in the config that systemd does not know."""
    names = {u.name for u in units if u.load != "not-found"}
    return tuple(p for p in patterns if not any(c in p for c in "*?[") and p not in names)
