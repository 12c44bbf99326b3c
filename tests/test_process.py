"""[[process]] against real processes the tests start and kill: counts, restarts, start action."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from backends.process import ProcessBackend
from console.assembly import build_backends
from console.config import parse_config
from console.core.audit import AuditLog
from console.core.model import Status
from console.sandbox.processes import wait_for
from tests.conftest import OPSCONSOLE

SEED = random.randrange(2**32)
print(f"test_process seed {SEED}")
RANDOM = random.Random(SEED)

Spawner = Callable[[str], subprocess.Popen[bytes]]


def opsconsole(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def marker() -> Iterator[str]:
    """A word only this test's processes carry in their command line; they die at the end."""
    word = f"octb-proc-{RANDOM.randrange(10**9)}"
    yield word
    for proc in psutil.process_iter(["cmdline"]):
        if word in " ".join(proc.info["cmdline"] or ()):
            proc.kill()


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    started: list[subprocess.Popen[bytes]] = []

    def start(word: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", word],
                                stdin=subprocess.DEVNULL)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def backend_for(text: str, tmp_path: Path) -> ProcessBackend:
    config = parse_config(text, tmp_path / "config.toml")
    found = [b for b in build_backends(config) if isinstance(b, ProcessBackend)]
    assert len(found) == 1
    return found[0]


def test_check_counts_processes_against_min_and_max(
        marker: str, spawn: Spawner, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    config = write_config(f'[[process]]\nname = "sched"\npattern = "{marker}"\nmax = 1\n')
    none = opsconsole(config, cli_env, "check")
    assert none.returncode == 2, none.stdout + none.stderr
    assert f"CRITICAL process:sched - no process matches /{marker}/" in none.stdout

    first = spawn(marker)
    one = opsconsole(config, cli_env, "check")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "OK process:sched - 1 running, up " in one.stdout
    assert f"PID {first.pid}" in one.stdout

    second = spawn(marker)
    two = opsconsole(config, cli_env, "check")
    assert two.returncode == 1, two.stdout + two.stderr
    assert "WARNING process:sched - 2 running" in two.stdout and "more than 1" in two.stdout
    assert str(second.pid) in two.stdout

    other_user = write_config(f'[[process]]\nname = "sched"\npattern = "{marker}"\n'
                              'user = "nobody"\n', "nobody.toml")
    mine_only = opsconsole(other_user, cli_env, "check")
    assert mine_only.returncode == 2
    assert f"no process matches /{marker}/ (user nobody)" in mine_only.stdout


def test_a_new_start_time_is_restarted_recently(marker: str, spawn: Spawner,
                                                tmp_path: Path) -> None:
    backend = backend_for(f'[[process]]\nname = "sched"\npattern = "{marker}"\n', tmp_path)
    first = spawn(marker)
    before = asyncio.run(backend.collect())
    assert [c.status for c in backend.evaluate(before)] == [Status.OK]
    first.kill()
    first.wait()
    spawn(marker)
    after = asyncio.run(backend.collect())
    [check] = backend.evaluate(after)
    assert check.status is Status.WARNING
    assert "restarted recently (at " in check.summary


def test_bad_patterns_are_one_line_config_errors(write_config: Callable[..., Path],
                                                 cli_env: dict[str, str]) -> None:
    cases = {
        '[[process]]\nname = "x"\npattern = "("\n': "'pattern': not a regular expression",
        '[[process]]\nname = "x"\n': "'pattern': is required",
        '[[process]]\nname = "x"\npattern = "a"\nmin = 2\nmax = 1\n': "'max': is less than min",
    }
    for text, expected in cases.items():
        result = opsconsole(write_config(text), cli_env, "check")
        assert result.returncode == 3, text  # the entry is not checked: UNKNOWN, with why
        assert expected in result.stdout, (text, result.stdout)
        assert expected in result.stderr, (text, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_headless_start_runs_the_command_detached_and_waits_for_the_pattern(
        marker: str, tmp_path: Path, write_config: Callable[..., Path],
        cli_env: dict[str, str], state_dir: Path) -> None:
    log = tmp_path / "sched.out"
    config = write_config(
        f'[[process]]\nname = "sched"\npattern = "{marker}"\n'
        f'start = ["{sys.executable}", "-c", "print(\'scheduler up\', flush=True); '
        f'import time; time.sleep(600)", "{marker}"]\n'
        f'start_log = "{log}"\naction_timeout = "20s"\n')
    read_only = opsconsole(config, cli_env, "start", "process:sched", "--yes", "--read-only")
    assert read_only.returncode == 3 and "read-only mode" in read_only.stderr

    done = opsconsole(config, cli_env, "start", "process:sched", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("started sched: 1 running (PID ")
    running = [p for p in psutil.process_iter(["cmdline"])
               if marker in " ".join(p.info["cmdline"] or ())]
    assert len(running) == 1
    assert os.getsid(running[0].pid) == running[0].pid  # its own session: survives the console
    wait_for(lambda: log.exists() and "scheduler up" in log.read_text(), timeout=20,
             what="the started command's output")
    assert (log.stat().st_mode & 0o777) == 0o600
    running[0].send_signal(signal.SIGKILL)

    failing = write_config(
        f'[[process]]\nname = "sched"\npattern = "{marker}"\n'
        f'start = ["{sys.executable}", "-c", "import sys; print(\'no config\'); sys.exit(5)"]\n'
        f'start_log = "{log}"\n', "failing.toml")
    failed = opsconsole(failing, cli_env, "start", "process:sched", "--yes")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "sched: the start command exited with 5" in failed.stderr
    assert "no config" in failed.stdout

    phases = [(r.phase, r.verb, r.target) for r in AuditLog(state_dir).records()]
    assert ("finished", "start", "process:sched") in phases
    assert ("failed", "start", "process:sched") in phases


def test_start_without_a_command_says_what_to_add(marker: str, write_config: Callable[..., Path],
                                                  cli_env: dict[str, str]) -> None:
    config = write_config(f'[[process]]\nname = "sched"\npattern = "{marker}"\n')
    result = opsconsole(config, cli_env, "start", "process:sched", "--yes")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "no start command: add start = [...]" in result.stderr
