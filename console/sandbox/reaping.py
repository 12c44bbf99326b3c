"""reap_stale(): clean up what test runs that died hard left under TEMP_ROOT."""

from __future__ import annotations

from pathlib import Path

import psutil

from .processes import (
    OWNER_FILE,
    TEMP_ROOT,
    kill_by_pidfile,
    kill_processes_using,
    remove_tree,
    stop_by_pidfile,
)
from .systemd_machine import MACHINE_FILE, kill_cgroup


def reap_stale() -> list[Path]:
    """Clean up temp dirs (and their daemons, mounts, cgroups) of test runs that died hard."""
    reaped = []
    for path in sorted(TEMP_ROOT.glob("*-*")) if TEMP_ROOT.exists() else []:
        try:
            owner = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if psutil.pid_exists(owner):
            continue
        stop_by_pidfile(path / "dockerd.pid", "dockerd")
        kill_processes_using(path)
        kill_by_pidfile(path / "redis.pid", "redis-server")
        machine = path / MACHINE_FILE
        if machine.exists():
            name = machine.read_text().strip()
            kill_cgroup(name)
            remove_tree(Path("/run/systemd/nspawn/propagate") / name)
        remove_tree(path)
        reaped.append(path)
    return reaped
