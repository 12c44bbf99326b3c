"""[[cron]] against Debian's cron in the test bed's systemd machine, read from its journal.

The machine's /etc/cron.d gets jobs that run every minute: one succeeds, one exits 4, and
one sits in a file cron ignores (a name with a dot), so it never runs.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from backends.cron.backend import CronBackend
from backends.cron.tabs import read_file
from backends.discovery import cron as cron_probe
from console.assembly import build_backends
from console.config import parse_config
from console.core.audit import AuditLog
from console.core.model import CheckResult, Status
from console.sandbox.processes import wait_for
from console.sandbox.systemd_machine import SystemdMachine
from tests.conftest import OPSCONSOLE

SEED = random.randrange(2**32)
print(f"test_cron seed {SEED}")
RANDOM = random.Random(SEED)


def opsconsole(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args, "--config", str(config)],
                          capture_output=True, text=True, env=env, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def jobs(systemd_machine: SystemdMachine) -> Iterator[str]:
    """Crontab files in the machine's /etc/cron.d; yields their common prefix."""
    prefix = f"octb{RANDOM.randrange(10**6)}"
    cron_dir = systemd_machine.cron_dir
    (cron_dir / f"{prefix}-jobs").write_text(
        "SHELL=/bin/sh\n"
        "# every minute: one fine, one failing\n"
        f"* * * * * root echo {prefix} fine >/dev/null\n"
        f"* * * * * root /bin/sh -c 'echo {prefix} boom >&2; exit 4'\n")
    (cron_dir / f"{prefix}.never").write_text(f"* * * * * root echo {prefix} never\n")
    # cron notices new files by the directory's mtime, in whole seconds: files written in the
    # second cron last read the directory (right after boot) would go unseen for good.
    later = time.time() + 2
    os.utime(cron_dir, (later, later))
    yield prefix
    for path in cron_dir.glob(f"{prefix}*"):
        path.unlink()


def config_text(machine: SystemdMachine, prefix: str) -> str:
    return (f'[[cron]]\nname = "cron"\n'
            f'crontabs = ["{machine.cron_dir}/{prefix}-jobs", "{machine.cron_dir}/{prefix}.never"]\n'
            f'journal_dir = "{machine.journal_dir}"\ngrace = "20s"\n'
            '[[cron.jobs]]\nname = "failing"\nmatch = "boom"\n')


def test_jobs_show_last_run_result_and_missed_runs(
        systemd_machine: SystemdMachine, jobs: str, tmp_path: Path,
        write_config: Callable[..., Path], cli_env: dict[str, str]) -> None:
    config = parse_config(config_text(systemd_machine, jobs), tmp_path / "c.toml")
    [backend] = [b for b in build_backends(config) if isinstance(b, CronBackend)]
    checks: dict[str, CheckResult] = {}

    def settled() -> bool:
        snapshot = asyncio.run(backend.collect())
        checks.clear()
        checks.update({c.target: c for c in backend.evaluate(snapshot)})
        fine = checks.get(f"cron:{jobs}-jobs:3")
        failing = checks.get("cron:failing")
        never = checks.get(f"cron:{jobs}.never:1")
        return bool(fine and " ok" in fine.summary and failing
                    and failing.status is Status.CRITICAL and never
                    and never.status is Status.WARNING)

    # cron starts jobs at the minute; the never-run job is owed one once a minute has passed
    wait_for(settled, timeout=200, what="cron runs in the journal", interval=2)
    assert checks["cron:cron"].status is Status.OK
    assert checks["cron:cron"].summary.startswith("cron running (PID ")
    assert checks[f"cron:{jobs}-jobs:3"].status is Status.OK
    assert checks[f"cron:{jobs}-jobs:3"].summary.startswith("* * * * * root · last ")
    assert " · next " in checks[f"cron:{jobs}-jobs:3"].summary
    assert "failed (exit 4)" in checks["cron:failing"].summary
    assert "missed run: due " in checks[f"cron:{jobs}.never:1"].summary

    result = opsconsole(write_config(config_text(systemd_machine, jobs)), cli_env, "check")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "CRITICAL cron:failing - * * * * * root · last " in result.stdout
    assert f"WARNING cron:{jobs}.never:1 - * * * * * root · missed run" in result.stdout


def test_run_now_runs_the_job_as_its_user_through_the_dispatcher(
        systemd_machine: SystemdMachine, jobs: str, write_config: Callable[..., Path],
        cli_env: dict[str, str], state_dir: Path) -> None:
    config = write_config(config_text(systemd_machine, jobs))
    read_only = opsconsole(config, cli_env, "run", f"cron:{jobs}-jobs:3", "--yes", "--read-only")
    assert read_only.returncode == 3 and "read-only mode" in read_only.stderr

    fine = opsconsole(config, cli_env, "run", f"cron:{jobs}-jobs:3", "--yes")
    assert fine.returncode == 0, fine.stdout + fine.stderr
    assert fine.stdout.strip().endswith(f"ran {jobs}-jobs:3 as root: exit 0")

    failing = opsconsole(config, cli_env, "run", "cron:failing", "--yes")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "failing exited with 4" in failing.stderr
    assert f"{jobs} boom" in failing.stdout

    phases = [(r.phase, r.verb, r.target) for r in AuditLog(state_dir).records()]
    assert ("finished", "run", f"cron:{jobs}-jobs:3") in phases
    assert ("failed", "run", "cron:failing") in phases


def test_no_daemon_and_unreadable_lines_are_reported(tmp_path: Path,
                                                     write_config: Callable[..., Path],
                                                     cli_env: dict[str, str]) -> None:
    tab = tmp_path / "tabs" / "app"
    tab.parent.mkdir()
    tab.write_text("MAILTO=\"\"\n*/5 * * * * www-data /opt/app/bin/sync\n61 * * * * root x\n"
                   "@daily root /opt/app/bin/nightly # keep\n")
    found, problems = read_file(str(tab))
    assert [(j.name, j.schedule, j.user, j.command) for j in found] == [
        ("app:2", "*/5 * * * *", "www-data", "/opt/app/bin/sync"),
        ("app:4", "@daily", "root", "/opt/app/bin/nightly # keep")]
    assert [p.message for p in problems] == ["app:3: cron cannot read this line: 61 * * * * root x"]

    spool = tmp_path / "crontabs" / "alice"
    spool.parent.mkdir()
    spool.write_text("0 3 * * * /home/alice/backup.sh\n")
    [user_job], _ = read_file(str(spool))
    assert (user_job.user, user_job.command) == ("alice", "/home/alice/backup.sh")

    config = write_config(f'[[cron]]\ncrontabs = ["{tab}"]\njournal_dir = "{tmp_path}"\n')
    result = opsconsole(config, cli_env, "check")
    assert (f"UNKNOWN cron:app:2 - */5 * * * * www-data · last run unknown: no journal files "
            f"in {tmp_path}: cron's runs cannot be read") in result.stdout, result.stdout
    crons = [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in ("cron", "crond")]
    if crons:  # a test machine's cron shows among this host's processes
        assert "WARNING cron:cron - cron running (PID " in result.stdout
        assert ("2 jobs in 1 crontabs · 1 line cron cannot read: app:3: cron cannot read this "
                "line: 61 * * * * root x") in result.stdout
        assert result.returncode == 3  # UNKNOWN outranks WARNING
    else:
        assert ("CRITICAL cron:cron - no cron daemon runs: no job will run (2 jobs in 1 "
                "crontabs; start it: systemctl start cron)") in result.stdout
        assert result.returncode == 2
    assert result.stderr == ""


def test_discovery_lists_the_jobs_and_init_writes_them(systemd_machine: SystemdMachine,
                                                      jobs: str, tmp_path: Path) -> None:
    pattern = f"{systemd_machine.cron_dir}/{jobs}-*"
    result = asyncio.run(cron_probe.probe(5.0, crontabs=(pattern,)))
    assert result.found, result.missing
    assert result.summary.startswith(f"2 jobs: {jobs}-jobs:3 (* * * * *), {jobs}-jobs:4")
    from backends.discovery.model import DiscoveryReport
    from console.config_writer import render

    text = render(DiscoveryReport((result,), 0.1))
    assert f'[[cron]]\ncrontabs = ["{pattern}"]' in text
    config = parse_config(text, tmp_path / "written.toml")
    assert config.sections["cron"][0].crontabs == (pattern,)

    empty = asyncio.run(cron_probe.probe(5.0, crontabs=(f"{tmp_path}/none/*",)))
    assert not empty.found and empty.missing == f"no job in {tmp_path}/none/*"
