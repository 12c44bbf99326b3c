"""Killing a headless action at a random moment of its run, seeded and replayable.

The moment is drawn from the measured duration of an unkilled run of the same command: from
a little before its first line of progress to a little after its last (the interpreter's
start-up before them touches nothing, and the closing of connections after them only
delays the exit).
Half the kills (by the seed) take the whole process group, the console and the programs it
started (a power cut, an OOM kill of the session); the others only the console itself (its
children are orphaned, as after a `kill -9 PID`). Replay a run with OPSCONSOLE_KILL_SEED.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

KILL_SEED = "OPSCONSOLE_KILL_SEED"


def kill_rng() -> random.Random:
    """The kill schedule's generator; its seed is printed (shown when a test fails)."""
    seed = int(os.environ.get(KILL_SEED) or random.randrange(1 << 30))
    print(f"kill seed {seed} (replay: {KILL_SEED}={seed})")
    return random.Random(seed)


@dataclass(frozen=True)
class Ran:
    returncode: int | None  # None: killed before it ended
    seconds: float
    output: str
    delay: float = 0.0
    whole_group: bool = False
    first_output: float = 0.0  # seconds until its first line
    last_output: float = 0.0  # seconds until its last line

    @property
    def killed(self) -> bool:
        return self.returncode is None

    def describe(self) -> str:
        how = "group" if self.whole_group else "console only"
        if self.killed:
            return f"killed ({how}) after {self.delay:.3f}s"
        return f"ended with {self.returncode} before its kill at {self.delay:.3f}s"


def _start(argv: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(list(argv), env=env | {"PYTHONUNBUFFERED": "1"},
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def run_to_end(argv: Sequence[str], env: dict[str, str], log: Path,
               timeout: float = 120) -> Ran:
    """Run the command unkilled; its exit code, duration and output."""
    started = time.monotonic()
    process = _start(argv, env, log)
    first = last = 0.0
    size = 0
    while (code := process.poll()) is None:
        if log.stat().st_size != size:
            size = log.stat().st_size
            last = time.monotonic() - started
            first = first or last
        if time.monotonic() - started > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(f"{' '.join(argv)} did not end within {timeout}s:\n"
                                 f"{log.read_text(errors='replace')}")
        time.sleep(0.005)
    seconds = time.monotonic() - started
    return Ran(code, seconds, log.read_text(errors="replace"), first_output=first or seconds,
               last_output=last or seconds)


def run_killed(argv: Sequence[str], env: dict[str, str], log: Path, delay: float,
               whole_group: bool, victim: Callable[[int], int | None] | None = None) -> Ran:
    """Start the command and SIGKILL it after `delay` seconds (unless it ended before).

    `victim`, given the console's pid, names another process group to kill instead (a
    detached runner the console started); None when there is none yet.
    """
    started = time.monotonic()
    process = _start(argv, env, log)
    try:
        code: int | None = process.wait(delay)
    except subprocess.TimeoutExpired:
        code = None
        target = victim(process.pid) if victim is not None else None
        if target is not None:
            _kill(target, whole_group)
        _kill(process.pid, whole_group)
        process.wait()
    return Ran(code, time.monotonic() - started, log.read_text(errors="replace"), delay,
               whole_group)


def _kill(pid: int, whole_group: bool) -> None:
    try:
        if whole_group:
            os.killpg(pid, signal.SIGKILL)  # session leaders: their pgid is their pid
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def schedule(rng: random.Random, measured: Ran, kills: int) -> list[tuple[float, bool]]:
    """`kills` (delay, whole group) pairs, the delays spread over an unkilled run: from a
    little before its first output to a little after its last."""
    start = 0.8 * measured.first_output
    end = min(measured.seconds, measured.last_output + 0.1)
    return [(rng.uniform(start, end), rng.random() < 0.5) for _ in range(kills)]
