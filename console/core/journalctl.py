"""Running journalctl once and reading its output: the one way backends read the journal.

Units' journals, restart records and cron's CRON lines all come from `journalctl -o json`
with an argument list and a timeout; what goes wrong is one line that says what to do.
"""

from __future__ import annotations

import asyncio
import contextlib

from console.core.errors import ConsoleError

MISSING = "install systemd's journalctl or check PATH"


async def journal_output(args: list[str], timeout: float, missing: str = MISSING) -> bytes:
    """journalctl's standard output for `args` (the full argument list, journalctl first).

    `missing` says what to do when journalctl cannot be run at all.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise ConsoleError(f"cannot run journalctl ({exc.strerror or exc}): {missing}") \
            from None
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise ConsoleError(f"journalctl gave no answer within {timeout:g}s") from None
    if proc.returncode != 0 and not out:
        reason = err.decode(errors="replace").strip().splitlines()
        raise ConsoleError(f"journalctl failed: {reason[-1] if reason else proc.returncode}")
    return out
