"""Killing a headless action at a random moment of its run, seeded and replayable.

A detached process the action started (a deploy's runner) can be named to die with it.

The moment is drawn from the measured duration of an unkilled run of the same command: from
a little before its first line of progress to a little after its last (the interpreter's
start-up before them touches nothing, and the closing of connections after them only
delays the exit).
Half the kills (by the seed) take the whole process group, the console and the programs it
started (a power cut, an OOM kill of the session); the others only the console itself (its
children are orphaned, as after a `kill -9 PID`). Replay a schedule with
OPSCONSOLE_KILL_SEED (the outcome still depends on the machine's speed).
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from console.core.files import recorded_checksum

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


Victims = Callable[[int], list[int]]  # the console's pid -> detached processes it started


def _run(argv: Sequence[str], env: dict[str, str], log: Path, kill_at: float | None,
         whole_group: bool = False, timeout: float = 120,
         victims: Victims = lambda pid: []) -> Ran:
    """Run the command, noting when its output starts and ends; SIGKILL it at `kill_at`,
    with the `victims` (the pids of detached processes it started) first."""
    started = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(list(argv), env=env | {"PYTHONUNBUFFERED": "1"},
                                   stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    first = last = 0.0
    size = 0
    while (code := process.poll()) is None:
        now = time.monotonic() - started
        if log.stat().st_size != size:
            size = log.stat().st_size
            last = now
            first = first or now
        if kill_at is not None and now >= kill_at:
            for pid in victims(process.pid):
                _kill(pid, whole_group)
            _kill(process.pid, whole_group)
            process.wait()
            return Ran(None, now, log.read_text(errors="replace"), kill_at, whole_group)
        if now > timeout:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise AssertionError(f"{' '.join(argv)} did not end within {timeout}s:\n"
                                 f"{log.read_text(errors='replace')}")
        time.sleep(0.002)
    seconds = time.monotonic() - started
    return Ran(code, seconds, log.read_text(errors="replace"), kill_at or 0.0, whole_group,
               first_output=first or seconds, last_output=last or seconds)


def run_to_end(argv: Sequence[str], env: dict[str, str], log: Path,
               timeout: float = 120) -> Ran:
    """Run the command unkilled; its exit code, duration, output and when it printed."""
    return _run(argv, env, log, None, timeout=timeout)


def _kill(pid: int, whole_group: bool) -> None:
    try:
        if whole_group:
            os.killpg(pid, signal.SIGKILL)  # a session leader: its pgid is its pid
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_repeatedly(argv: Sequence[str], env: dict[str, str], logs: Path, kills: int,
                    after_kill: Callable[[str], None],
                    before: Callable[[], None] = lambda: None,
                    victims: Victims = lambda pid: []) -> Ran:
    """Measure an unkilled run, then run until `kills` runs were killed at random moments,
    calling `after_kill(what happened)` after each run; returns the measured run.

    The moment is drawn between a little before the first output of the latest unkilled run
    and a little after its last: a run that ended before its moment (the machine got faster)
    becomes the new measure, and does not count as a kill.
    """
    rng = kill_rng()
    measured = window = run_to_end(argv, env, logs / "measured.log")
    assert measured.returncode == 0, measured.output
    print(f"an unkilled run took {measured.seconds:.2f}s, its output from "
          f"{measured.first_output:.2f}s to {measured.last_output:.2f}s")
    killed = attempts = 0
    while killed < kills:
        attempts += 1
        assert attempts <= 3 * kills, f"only {killed} of {attempts} runs could be killed"
        start = 0.8 * window.first_output
        end = min(window.seconds, window.last_output + 0.1)
        delay, group = start + rng.random() * (end - start), rng.random() < 0.5
        before()
        ran = _run(argv, env, logs / f"run{attempts}.log", delay, group, victims=victims)
        after_kill(f"run {attempts} ({ran.describe()})")
        if ran.killed:
            killed += 1
        elif ran.returncode == 0:
            window = ran
    print(f"{killed} of {attempts} runs killed")
    return measured


class FinalFiles:
    """Checks that every file of a backup dir with a final name is complete and verified.

    `partial(name)` says which names are temporaries or sidecars; every other file must be
    an archive matching its recorded sha256 that `readable(path)` accepts. A file already
    checked and unchanged is not read again.
    """

    def __init__(self, directory: Path, partial: Callable[[str], bool],
                 readable: Callable[[Path], bool]) -> None:
        self.directory = directory
        self.partial = partial
        self.readable = readable
        self._checked: dict[str, tuple[int, float]] = {}

    def check(self, when: str) -> None:
        if not self.directory.exists():
            return
        for path in sorted(self.directory.iterdir()):
            if self.partial(path.name):
                continue
            stat = path.stat()
            if self._checked.get(path.name) == (stat.st_size, stat.st_mtime):
                continue
            digest = recorded_checksum(path)
            assert digest == hashlib.sha256(path.read_bytes()).hexdigest(), \
                f"{when}: {path.name} does not match its recorded sha256 ({digest})"
            assert self.readable(path), f"{when}: {path.name} cannot be read back"
            self._checked[path.name] = (stat.st_size, stat.st_mtime)

    def only_published(self, suffix: str, sidecars: tuple[str, ...]) -> None:
        """Nothing partial nor orphaned: archives and their sidecars only."""
        names = sorted(p.name for p in self.directory.iterdir())
        archives = [n for n in names if n.endswith(suffix) and not n.startswith(".")]
        assert names == sorted([*archives, *(a + s for a in archives for s in sidecars)]), \
            names


def tar_lists(member: bytes) -> Callable[[Path], bool]:
    """A `readable` check: `tar -tzf` lists the archive and `member` is in it."""
    def lists(path: Path) -> bool:
        listing = subprocess.run(["tar", "-tzf", str(path)], capture_output=True, timeout=60,
                                 check=False)
        return listing.returncode == 0 and member in listing.stdout
    return lists
