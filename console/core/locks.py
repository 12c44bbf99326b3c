"""Cross-process locks per target, so two consoles never act on one target at once.

A lock is an flock(2) on a file under the state dir: the kernel drops it when the holder
dies, so a killed console never leaves a stale lock. The file names the holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from pathlib import Path

from console.core.durations import clock
from console.core.errors import ActionRefused
from console.core.files import open_private, private_dir
from console.core.identity import Identity


def _file_for(lock_dir: Path, key: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:80]
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return lock_dir / f"{safe}-{digest}.lock"


class TargetLock:
    """An exclusive, non-blocking lock on one target key."""

    def __init__(self, lock_dir: Path, key: str, identity: Identity, action: str) -> None:
        private_dir(lock_dir)
        self.path = _file_for(lock_dir, key)
        self.key = key
        self.identity = identity
        self.action = action
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = open_private(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ActionRefused(f"{self.key} is locked by {self.holder()}") from None
        holder = {"user": self.identity.user, "tty": self.identity.tty, "pid": os.getpid(),
                  "since": time.time(), "action": self.action}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def holder(self) -> str:
        """Who holds the lock, as "alice@pts/3 since 03:12:05 (restart, pid 42)"."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with open(fd, encoding="utf-8", errors="replace") as handle:
                info = json.loads(handle.read(4096) or "{}")
        except (OSError, ValueError):
            info = {}
        if not info:
            return "another run"
        return (f"{info.get('user')}@{info.get('tty')} since {clock(info.get('since'))} "
                f"({info.get('action')}, pid {info.get('pid')})")

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> TargetLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
