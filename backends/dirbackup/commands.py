"""The `before` and `after` commands of a backup (stop a writer, flush a cache...).

Each runs as an argument list (no shell), its output logged line by line, killed at the
entry's `command_timeout`.
"""

from __future__ import annotations

import asyncio

from backends.dirbackup.archive import BackupError, Log
from console.core.loglines import printable


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
