"""First run without a config: `opsconsole` to a full overview, against the manual look-around.

Measures, in fresh processes with $HOME pointing at an empty dir (so no config file exists):
- the console: from starting `opsconsole` in a tmux terminal to its top bar counting every
  check a headless check of the same machine reports (the full overview);
- `opsconsole --headless check` with no config (discovery + one poll + output);
- the manual look-around, one command after another: `systemctl --failed`,
  `redis-cli --scan`, `docker ps`, `psql -l`, `ss -ltnp`.
Scenario 1 is this machine as it is (PostgreSQL and Redis, no systemd, no Docker). With
`--full` (root) the test bed also starts a private dockerd and a systemd machine, pointed at
by $DOCKER_HOST and $DBUS_SYSTEM_BUS_ADDRESS, so every probe finds something; the manual
look-around then uses `docker -H` and `systemctl` inside the machine.

Run: .venv/bin/python bench/first_run.py [--full] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_COUNT = re.compile(r"[●?▲✓] (\d+) (?:crit|unkn?|warn|ok)")


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False,
                   stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def manual(env: dict[str, str], machine_pid: int | None) -> float:
    """The look-around an admin types, run back to back."""
    systemctl = ["systemctl", "--failed", "--no-pager"]
    if machine_pid:
        systemctl = ["nsenter", "-t", str(machine_pid), "-a", *systemctl]
    commands = [systemctl, ["redis-cli", "--scan", "--count", "1000"], ["docker", "ps"],
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-l"], ["ss", "-ltnp"]]
    started = time.monotonic()
    for command in commands:
        if shutil.which(command[0]) is None:
            continue  # not installed: the admin would notice at once, count it as free
        subprocess.run(command, env=env, capture_output=True, timeout=60, check=False,
                       stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def expected_checks(env: dict[str, str]) -> tuple[int, str]:
    """How many checks a full overview holds (from one headless check), and their targets."""
    result = subprocess.run([sys.executable, "-m", "console.cli", "--headless", "check",
                             "--format", "json"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    checks = json.loads(result.stdout)["checks"]
    return len(checks), " ".join(sorted({c["target"] for c in checks}))


def tui_first_overview(env: dict[str, str], expected: int) -> float:
    """Seconds from starting `opsconsole` in a terminal to every check counted in its top bar."""
    session = f"first-run-{os.getpid()}"
    command = ["env", *(f"{k}={v}" for k, v in env.items() if k in (
        "HOME", "PYTHONPATH", "OPSCONSOLE_STATE_DIR", "DOCKER_HOST",
        "DBUS_SYSTEM_BUS_ADDRESS", "PATH")), sys.executable, "-m", "console.cli"]
    started = time.monotonic()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48",
                    shlex.join(command)], check=True, timeout=10)
    try:
        while time.monotonic() - started < 30:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True, timeout=5).stdout
            top = screen.splitlines()[0] if screen else ""
            if sum(int(n) for n in _COUNT.findall(top)) >= expected:
                return time.monotonic() - started
            time.sleep(0.02)
        raise SystemExit(f"the overview never showed {expected} checks:\n{screen}")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False, timeout=10)


def scenario(title: str, env: dict[str, str], runs: int, machine_pid: int | None) -> None:
    tui, check, look = [], [], []
    expected, backends = expected_checks(env)
    for _ in range(runs):
        tui.append(tui_first_overview(env, expected))
        check.append(timed([sys.executable, "-m", "console.cli", "--headless", "check"], env))
        look.append(manual(env, machine_pid))
    t, c, m = (statistics.median(x) for x in (tui, check, look))
    print(f"\n{title} (median of {runs})")
    print(f"  discovered targets ({expected} checks): {backends}")
    print(f"  opsconsole (no config) -> full overview : {t:6.2f} s")
    print(f"  opsconsole --headless check (no config)  : {c:6.2f} s")
    print(f"  manual look-around, one after another    : {m:6.2f} s")
    print(f"  ratio console / manual: {t / m:.2f}x   check / manual: {c / m:.2f}x")
    print("  (the manual look-around only lists things; the console also polls and judges them)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also start dockerd and systemd")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="opsconsole-bench-home-"))
    env = dict(os.environ, HOME=str(home), PYTHONPATH=str(ROOT),
               OPSCONSOLE_STATE_DIR=str(home / "state"))
    for key in ("OPSCONSOLE_CONFIG", "DOCKER_HOST", "DBUS_SYSTEM_BUS_ADDRESS"):
        env.pop(key, None)
    scenario("This machine as it is (no systemd, no Docker)", env, args.runs, None)
    if not args.full:
        return
    sys.path.insert(0, str(ROOT))
    from console.sandbox.docker_engine import DockerEngine
    from console.sandbox.systemd_machine import SystemdMachine

    with DockerEngine() as engine, SystemdMachine() as machine:
        client = engine.client()
        client.containers.run("opsconsole-test/busybox:latest", ["sleep", "600"],
                              name="bench-app", detach=True, init=True, network_mode="none")
        client.close()
        machine.add_unit("bench-app.service", "[Service]\nExecStart=/bin/sleep infinity\n")
        machine.daemon_reload()
        machine.systemctl("start", "bench-app.service")
        full = dict(env, DOCKER_HOST=engine.host, DBUS_SYSTEM_BUS_ADDRESS=machine.bus_address)
        scenario("Test bed: + dockerd and systemd", full, args.runs, machine.leader_pid)


if __name__ == "__main__":
    main()
