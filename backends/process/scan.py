"""Finding the processes of a `[[process]]` entry with psutil, as `pgrep -f PATTERN` does.

The pattern is searched in the full command line (arguments joined by spaces); the console
itself is left out. psutil.Process objects are kept between polls so CPU percentages are
measured over the poll interval, as `top` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

from backends.process.config import ProcessConfig
from console.core.loglines import printable


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    user: str
    command: str
    started: float
    cpu_percent: float | None  # None on the first sight of a process
    rss: int


class Scanner:
    """One entry's processes, poll after poll."""

    def __init__(self, config: ProcessConfig) -> None:
        self.config = config
        self._seen: dict[tuple[int, float], psutil.Process] = {}

    def scan(self) -> list[ProcInfo]:
        found: list[ProcInfo] = []
        keep: dict[tuple[int, float], psutil.Process] = {}
        me = os.getpid()
        for proc in psutil.process_iter(["pid", "cmdline", "username", "create_time"]):
            info = proc.info
            if info["pid"] == me or not info["cmdline"]:
                continue
            command = " ".join(info["cmdline"])
            if not self.config.pattern.search(command):
                continue
            if self.config.user is not None and info["username"] != self.config.user:
                continue
            key = (info["pid"], info["create_time"])
            known = self._seen.get(key)
            try:
                if known is None:
                    proc.cpu_percent(None)  # starts the measurement
                    cpu = None
                    known = proc
                else:
                    cpu = known.cpu_percent(None)
                rss = known.memory_info().rss
            except psutil.Error:  # it ended while we looked
                continue
            keep[key] = known
            found.append(ProcInfo(info["pid"], str(info["username"] or "?"),
                                  printable(command, 400), float(info["create_time"]), cpu, rss))
        self._seen = keep
        return sorted(found, key=lambda p: p.started)
