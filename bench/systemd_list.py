"""Listing systemd units: one D-Bus call versus `systemctl show` per unit.

Boots the test bed's systemd in nspawn, drops in 50 and then 500 oneshot units, and times:
  - ONE ListUnitsByPatterns call (pystemd, what the console does for the listing),
  - the console's whole poll (that call plus each row's properties, in the bus worker),
  - `nsenter ... systemctl show UNIT` once per unit (what a shell script would do),
and prints the ratios. Run as root: .venv/bin/python bench/systemd_list.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.base import Runtime
from backends.systemd.backend import SystemdBackend
from backends.systemd.config import parse
from backends.systemd.dbus_calls import Connection
from console.core.configtable import Table
from console.core.secrets import Redactor
from console.sandbox.systemd_machine import SystemdMachine

UNIT = "[Unit]\nDescription=bench unit {n}\n[Service]\nType=oneshot\nRemainAfterExit=yes\n" \
       "ExecStart=/bin/true\n"


def best_of(runs: int, action: object) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        timings.append(time.perf_counter() - started)
    return min(timings)


def add_units(machine: SystemdMachine, first: int, last: int) -> list[str]:
    names = [f"bench-{n:04d}.service" for n in range(first, last)]
    for n, name in zip(range(first, last), names, strict=True):
        machine.add_unit(name, UNIT.format(n=n))
    machine.daemon_reload()
    for start in range(0, len(names), 100):
        machine.systemctl("start", *names[start:start + 100], timeout=120)
    return names


def measure(machine: SystemdMachine, names: list[str], state_dir: Path) -> None:
    pattern = ["bench-*.service"]
    conn = Connection(machine.bus_address)
    listed = conn.manager("ListUnitsByPatterns", "asas", [[], pattern])
    assert len(listed) == len(names), (len(listed), len(names))
    one_call = best_of(5, lambda: conn.manager("ListUnitsByPatterns", "asas", [[], pattern]))
    conn.close()

    config = parse(Table({"units": pattern, "bus": machine.bus_address, "timeout": 60},
                         "[[systemd]] #1", "bench", Redactor()))

    async def polls(watch: bool) -> float:
        backend = SystemdBackend(config, Runtime(Redactor(), state_dir))
        if watch:
            backend.watch(lambda: None)
        await backend.collect()  # starts the worker, fills its caches
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            snapshot = await backend.collect()
            timings.append(time.perf_counter() - started)
            assert len(snapshot.units) == len(names)
        await backend.close()
        return min(timings)

    full_poll = asyncio.run(polls(watch=False))
    watched_poll = asyncio.run(polls(watch=True))

    started = time.perf_counter()
    for name in names:
        subprocess.run(["nsenter", "-t", str(machine.leader_pid), "-a", "systemctl", "show",
                        name], capture_output=True, check=True, timeout=30)
    per_unit = time.perf_counter() - started

    print(f"{len(names)} units:")
    print(f"  one ListUnitsByPatterns call      {one_call * 1000:9.1f} ms")
    print(f"  console poll (list + properties)  {full_poll * 1000:9.1f} ms")
    print(f"  console poll with signals on      {watched_poll * 1000:9.1f} ms "
          "(quiet units are not read again)")
    print(f"  systemctl show per unit (nsenter) {per_unit * 1000:9.1f} ms "
          f"({per_unit / len(names) * 1000:.1f} ms/unit)")
    print(f"  ratio, listing call vs systemctl show: {per_unit / one_call:8.0f}x")
    print(f"  ratio, whole poll vs systemctl show:   {per_unit / full_poll:8.1f}x")
    print(f"  ratio, poll with signals vs systemctl show: {per_unit / watched_poll:8.1f}x")


def main() -> None:
    machine = SystemdMachine().start()
    try:
        with tempfile.TemporaryDirectory() as state:
            names = add_units(machine, 0, 50)
            measure(machine, names, Path(state))
            names += add_units(machine, 50, 500)
            measure(machine, names, Path(state))
    finally:
        machine.stop()


if __name__ == "__main__":
    main()
