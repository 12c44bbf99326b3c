"""The `before` and `after` commands of a backup (stop a writer, flush a cache...).

Each runs as an argument list (no shell), its output logged line by line, killed at the
entry's `command_timeout`. While `before` has run and `after` has not, a marker in the backup
directory says so, so that `check` can tell when a killed backup left a writer stopped.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from backends.dirbackup.archive import BackupError, Log
from backends.dirbackup.config import DirBackupConfig
from console.core.files import private_dir, remove_durably, write_durably
from console.core.loglines import printable

AFTER_PENDING = ".opsconsole-after-pending"  # `.NAME` + this, in the backup directory


def _pending_path(config: DirBackupConfig) -> Path:
    return Path(config.dir) / f".{config.name}{AFTER_PENDING}"


def _started(pid: int) -> str | None:
    """When a process started (clock ticks since boot), or None when there is no such process:
    with its pid, it names one process even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # after the command name, which may itself hold ")"
            return stat.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def mark_after_pending(config: DirBackupConfig) -> None:
    """Before the `before` commands run: their `after` commands are owed, by this process."""
    private_dir(Path(config.dir))
    pid = os.getpid()
    write_durably(_pending_path(config), f"{pid} {_started(pid)}\n")


def clear_after_pending(config: DirBackupConfig) -> None:
    """The `after` commands have run (whatever they answered)."""
    remove_durably(_pending_path(config))


def after_pending(config: DirBackupConfig) -> bool:
    """A backup ran its `before` commands and was stopped before its `after` commands (not
    one still running)."""
    try:
        pid, started = _pending_path(config).read_text(encoding="utf-8").split()[:2]
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    return not pid.isdigit() or _started(int(pid)) != started


async def run_command(argv: tuple[str, ...], timeout: float, log: Log) -> None:
    shown = " ".join(argv)
    log(f"running {shown}")
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        raise BackupError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    assert process.stdout is not None
    stdout = process.stdout

    async def pump() -> None:
        async for raw in stdout:
            log("  " + printable(raw.rstrip(b"\n")))

    try:
        async with asyncio.timeout(timeout):
            await pump()
            code = await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise BackupError(f"{shown} did not finish within {timeout:g}s and was killed") from None
    if code != 0:
        raise BackupError(f"{shown} exited with status {code}")
