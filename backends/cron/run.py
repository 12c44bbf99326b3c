"""Running a cron job now, as cron would: its user, /bin/sh -c, cron's small environment.

The output is kept (the last lines go to the action's log); a non-zero exit fails the action.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
from typing import Any

from backends.cron.tabs import CronJob
from console.core.actions import ActionOutcome, Progress
from console.core.errors import ActionFailed
from console.core.loglines import printable

_LINES = 20


async def run_now(job: CronJob, timeout: float, progress: Progress) -> ActionOutcome:
    try:
        account = pwd.getpwnam(job.user)
    except KeyError:
        raise ActionFailed(f"cannot run {job.name}: no user {job.user!r} on this machine") from None
    env = {"HOME": account.pw_dir, "LOGNAME": job.user, "USER": job.user, "SHELL": "/bin/sh",
           "PATH": "/usr/bin:/bin"}
    identity: dict[str, Any] = {}
    if os.geteuid() == 0:
        identity = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    elif os.geteuid() != account.pw_uid:
        raise ActionFailed(f"cannot run {job.name} as {job.user}: run opsconsole as root or as "
                           f"{job.user}")
    progress.progress(None, None, f"running {job.shell_command} as {job.user}")
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", job.shell_command, **identity, env=env, cwd=account.pw_dir or "/",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except (OSError, ValueError) as exc:
        raise ActionFailed(f"cannot run {job.name}: {exc}") from None
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate(job.stdin.encode() if job.stdin else None)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise ActionFailed(f"{job.name}: still running after {timeout:g}s; stopped it") from None
    lines = [printable(line) for line in out.decode(errors="replace").splitlines()][-_LINES:]
    for line in lines:
        progress.log(line)
    if proc.returncode != 0:
        raise ActionFailed(f"{job.name} exited with {proc.returncode}", "\n".join(lines))
    return ActionOutcome(True, f"ran {job.name} as {job.user}: exit 0")
