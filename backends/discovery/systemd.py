"""Probe: systemd on the system bus: failed units, the app's own services, and timers.

Two D-Bus calls made by a child process (systemd_reader.py, using the systemd backend's
bus code), killed when it overruns. The app's units are told from the distribution's by
where their unit file lives (/etc/systemd/system, /usr/local/lib/systemd/system,
/run/systemd/system) and by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backends.discovery.model import Finding, ProbeResult

SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket"
APP_UNIT_DIRS = ("/etc/systemd/system/", "/usr/local/lib/systemd/system/", "/run/systemd/system/")
_ROOT = str(Path(__file__).resolve().parents[2])
_READ_LIMIT = 64 * 1024 * 1024  # thousands of units make one long line
# Units every Debian/Ubuntu/RHEL machine has: never the app's.
DISTRIBUTION_PREFIXES = (
    "systemd-", "dbus", "getty", "serial-getty", "console-", "user@", "user-runtime-dir@",
    "ssh", "cron", "rsyslog", "polkit", "networking", "NetworkManager", "wpa_supplicant",
    "apt-", "dpkg-", "e2scrub", "fstrim", "logrotate", "man-db", "motd", "kmod", "modprobe@",
    "emergency", "rescue", "initrd-", "plymouth", "udisks", "accounts-daemon", "snapd",
    "unattended-upgrades", "ufw", "chrony", "ntp", "rc-local", "sysstat", "atd", "multipathd",
    "lvm2-", "blk-availability", "cloud-", "ifup@", "containerd", "docker", "postgresql",
    "redis", "nginx", "apache2", "exim4", "postfix", "auditd", "irqbalance",
)


def bus_address() -> str | None:
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or None


def where() -> str:
    address = bus_address()
    return f"bus {address}" if address else "the system bus"


async def probe(timeout: float, earlier: Sequence[ProbeResult] = ()) -> ProbeResult:
    started = time.monotonic()
    address = bus_address()
    if address is None and not os.path.exists(SYSTEM_BUS_SOCKET):
        init = _pid1_name()
        why = f"no system bus at {SYSTEM_BUS_SOCKET}"
        if init and init != "systemd":
            why += f" (PID 1 is {init}, not systemd)"
        return ProbeResult("systemd", where(), missing=why, elapsed=time.monotonic() - started)
    try:
        reply = await _read(address, timeout)
    except SystemdUnreachable as exc:
        return ProbeResult("systemd", where(), missing=str(exc),
                           elapsed=time.monotonic() - started)
    units: list[dict[str, Any]] = reply["units"]
    files: dict[str, str] = reply["files"]
    failed = sorted(u["name"] for u in units if u.get("active") == "failed")
    app_units = sorted(name for name, path in files.items()
                       if path.startswith(APP_UNIT_DIRS) and "@" not in name
                       and not name.startswith(DISTRIBUTION_PREFIXES)
                       and not _masked(path))
    timers = [n for n in app_units if n.endswith(".timer")]
    services = [n for n in app_units if not n.endswith(".timer")]
    chosen = sorted(set(failed) | set(app_units))
    summary = (f"{len(units)} units: {len(failed)} failed, {len(services)} app services, "
               f"{len(timers)} timers")
    if not chosen:
        return ProbeResult("systemd", where(), summary=summary,
                           missing=f"{summary}; nothing that looks like an app's unit",
                           elapsed=time.monotonic() - started)
    table: dict[str, Any] = {"units": chosen}
    if address:
        table["bus"] = address
    note = ", ".join(chosen[:5]) + (f" and {len(chosen) - 5} more" if len(chosen) > 5 else "")
    return ProbeResult("systemd", where(), (Finding("systemd", table, note),),
                       f"{summary}: {note}", elapsed=time.monotonic() - started)


class SystemdUnreachable(Exception):
    """The bus could not be read; the message is one line saying why."""


async def _read(address: str | None, timeout: float) -> dict[str, Any]:
    """Run the reader child; kill it when it overruns `timeout`."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "backends.discovery.systemd_reader", address or "",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env, limit=_READ_LIMIT)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        raise SystemdUnreachable(f"no answer from systemd within {timeout:g}s") from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    try:
        reply: dict[str, Any] = json.loads(out)
    except ValueError:
        lines = err.decode(errors="replace").strip().splitlines()
        raise SystemdUnreachable(f"the bus reader failed: "
                                 f"{lines[-1][:200] if lines else proc.returncode}") from None
    if "error" in reply:
        error = reply["error"]
        if error["kind"] == "unavailable":
            raise SystemdUnreachable(f"cannot reach {where()}: {error['message']}")
        raise SystemdUnreachable(f"{where()}: {error['kind']}: {error['message']}")
    ok: dict[str, Any] = reply["ok"]
    return ok


def _masked(path: str) -> bool:
    return os.path.realpath(path) == "/dev/null"


def _pid1_name() -> str:
    try:
        with open("/proc/1/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""
