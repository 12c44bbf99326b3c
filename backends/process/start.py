"""The `start` action: run the configured command detached, then wait until it is seen.

Like the runbook's `nohup CMD &`: its own session, stdin from /dev/null, output appended to
`start_log` (or discarded), as `user` when one is configured. A thread reaps it if it ends
while the console runs. The action succeeds once a process matching the pattern is there
and the started command is still running; a command that exits first fails the action
with its exit code and the last lines of its log.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from backends.process.config import ProcessConfig
from backends.process.scan import ProcInfo
from console.core.actions import ActionOutcome, Progress
from console.core.errors import ActionFailed
from console.core.loglines import printable

_WATCH_EVERY = 0.2
_SETTLE = 1.0


def _spawn(config: ProcessConfig) -> subprocess.Popen[bytes]:
    assert config.start is not None
    log_path = config.start_log or os.devnull
    with open(log_path, "ab") as log:
        if config.start_log:
            os.chmod(log_path, 0o600)
        proc = subprocess.Popen(list(config.start), cwd=config.start_cwd, user=config.user,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def _log_tail(path: str | None, lines: int = 10) -> list[str]:
    if not path:
        return []
    try:
        data = Path(path).read_bytes()[-8192:]
    except OSError:
        return []
    return [printable(line) for line in data.decode(errors="replace").splitlines()[-lines:]]


async def start(config: ProcessConfig, scan: Callable[[], list[ProcInfo]],
                progress: Progress) -> ActionOutcome:
    assert config.start is not None
    progress.progress(None, None, f"starting {' '.join(config.start)}")
    try:
        proc = await asyncio.to_thread(_spawn, config)
    except (OSError, subprocess.SubprocessError, KeyError) as exc:
        raise ActionFailed(f"cannot start {config.start[0]}: {exc}") from None
    deadline = time.monotonic() + config.action_timeout
    seen_since: float | None = None
    while True:
        found = await asyncio.to_thread(scan)
        code = proc.poll()
        if code is not None:
            lines = _log_tail(config.start_log)
            for line in lines:
                progress.log(line)
            raise ActionFailed(f"{config.name}: the start command exited with {code} "
                               f"(PID {proc.pid})", "\n".join(lines))
        if found:
            seen_since = seen_since or time.monotonic()
            if time.monotonic() - seen_since >= _SETTLE:
                pids = ", ".join(str(p.pid) for p in found)
                return ActionOutcome(True, f"started {config.name}: {len(found)} running "
                                           f"(PID {pids})")
        if time.monotonic() >= deadline:
            raise ActionFailed(f"{config.name}: PID {proc.pid} runs but no process matches "
                               f"/{config.pattern.pattern}/ after {config.action_timeout:g}s: "
                               "check the pattern")
        progress.progress(None, None, f"waiting for /{config.pattern.pattern}/ to match")
        await asyncio.sleep(_WATCH_EVERY)
