"""A fleet of 20 simulated hosts (one real sshd each on 127.A.B.K): the fleet machinery's cost.

Measures, in the same run:
- `opsconsole --headless check --hosts all` (bridges over ssh, one per host, at once), cold
  (no shared connection yet) and warm (ControlPersist connections up), against today's
  single-host check fanned out to the same hosts at once over plain ssh
  (`ssh HOST opsconsole --headless check`, all started together, wall time to the last);
- the time from starting the console to the first full Fleet view (every host up with its
  checks), in Textual's headless driver;
- the console's idle CPU with 20 hosts watched, and one bridge's idle CPU.
Every host has its own config with 3 HTTP endpoints on a local server.

Needs root and openssh-server (bash console/sandbox/install.sh).
Run: .venv/bin/python bench/fleet_check.py [--hosts 20] [--runs 3] [--idle 20]
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.support import delayed_server  # noqa: E402
from console.sandbox.sshd_host import SimulatedFleet  # noqa: E402


def fleet_check(config: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "console.cli", "--config", str(config),
                             "--headless", "check", "--hosts", "all"], capture_output=True,
                            text=True, timeout=300, check=False, cwd=ROOT)
    took = time.perf_counter() - started
    if result.returncode == 3:  # a host missed: the figure would not be a full check
        raise SystemExit(f"fleet check failed ({result.returncode}): {result.stdout[:500]}"
                         f"{result.stderr[-500:]}")
    return took


def plain_fan_out(fleet: SimulatedFleet) -> float:
    remote = [*shlex.split(fleet.remote_command), "--headless", "check"]
    started = time.perf_counter()
    procs = [subprocess.Popen(["ssh", "-F", str(fleet.client.ssh_config), "-o", "BatchMode=yes",
                               "-T", name, shlex.join(remote)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
             for name in fleet.hosts]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        if proc.returncode not in (0, 1, 2):
            raise SystemExit(f"plain ssh check failed ({proc.returncode}): {out[:300]!r}{err[-300:]!r}")
    return time.perf_counter() - started


async def first_full_view(config: Path, hosts: int,
                          idle: float) -> tuple[float, float, float, float]:
    """Seconds to a Fleet view with every host up and reporting; then idle CPU (% of a core)
    of the console's own process, of its ssh clients, and of the simulated hosts' side (their
    sshd and bridges: children of this process too, as the fleet is simulated here)."""
    from console.config import load_config
    from screens.app import OpsConsoleApp

    started = time.perf_counter()
    app = OpsConsoleApp(load_config(str(config)))
    async with app.run_test(size=(180, 50)) as pilot:
        await pilot.press("H")
        fleet = app.fleet
        assert fleet is not None
        while not all(h.state == "up" and h.results for h in fleet.hosts.values()):
            if time.perf_counter() - started > 300:
                raise SystemExit("the fleet view did not fill within 300s")
            await pilot.pause(0.05)
        await pilot.pause(0.2)  # the redraw that shows it
        full = time.perf_counter() - started
        await pilot.pause(3)
        me = psutil.Process()
        family = [me, *me.children(recursive=True)]  # the console and its ssh clients

        def cpu(procs: list[psutil.Process]) -> float:
            total = 0.0
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            return total

        own = [me]
        clients = [p for p in family[1:] if p.name() == "ssh"]
        far = [p for p in family[1:] if p.name() != "ssh"]
        before = [cpu(own), cpu(clients), cpu(far)]
        clock = time.perf_counter()
        await pilot.pause(idle)
        took = time.perf_counter() - clock
        own_cpu, clients_cpu, far_cpu = ((cpu(group) - used) / took * 100 for group, used in
                                         zip((own, clients, far), before, strict=True))
    return full, own_cpu, clients_cpu, far_cpu


def bridge_idle_cpu(fleet: SimulatedFleet, idle: float) -> float:
    """A bridge watching one host's 3 endpoints, with nothing asked of it."""
    name = next(iter(fleet.hosts))
    remote = [*shlex.split(fleet.remote_command), "bridge"]
    proc = subprocess.Popen(["ssh", "-F", str(fleet.client.ssh_config), "-o", "BatchMode=yes",
                             "-T", name, shlex.join(remote)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdout.readline()  # hello
    proc.stdin.write(b'{"type":"hello","operator":"bench@console"}\n'
                     b'{"type":"watch","id":1}\n')
    proc.stdin.flush()
    bridge = None
    deadline = time.monotonic() + 30
    while bridge is None and time.monotonic() < deadline:
        for candidate in psutil.process_iter(["cmdline"]):
            cmdline = candidate.info["cmdline"] or []
            if cmdline[-1:] == ["bridge"] and "console.cli" in cmdline:
                bridge = candidate
        time.sleep(0.2)
    assert bridge is not None, "the bridge process was not found"
    time.sleep(3)
    before = sum(bridge.cpu_times()[:2])
    time.sleep(idle)
    used = sum(bridge.cpu_times()[:2]) - before
    proc.stdin.close()
    proc.wait(timeout=30)
    return used / idle * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=20.0)
    args = parser.parse_args()
    with delayed_server(0.02) as url:
        fleet = SimulatedFleet()
        try:
            started = time.perf_counter()
            for i in range(args.hosts):
                endpoints = "".join(f'[[http]]\nname = "e{j}"\nurl = "{url}/h{i}e{j}"\n'
                                    f'interval = "10s"\nlatency_warn = "30s"\nlatency_crit = "60s"\n'
                                    for j in range(3))
                fleet.add(f"host{i:02d}", endpoints)
            print(f"{args.hosts} simulated hosts up in {time.perf_counter() - started:.1f}s")
            config = fleet.console_config(deadline=120, connect_timeout=30)
            cold = fleet_check(config)
            fleet_warm, plain = [], []
            for _ in range(args.runs):  # alternated, so both see the same machine load
                plain.append(plain_fan_out(fleet))
                fleet_warm.append(fleet_check(config))
            warm_median, plain_median = statistics.median(fleet_warm), statistics.median(plain)
            print(f"plain ssh fan-out of `opsconsole --headless check`: median {plain_median:.2f}s "
                  f"({', '.join(f'{s:.2f}' for s in plain)})")
            print(f"fleet check --hosts all, cold (new connections): {cold:.2f}s "
                  f"= {cold / plain_median:.2f}x")
            print(f"fleet check --hosts all, warm (shared connections): median {warm_median:.2f}s"
                  f" ({', '.join(f'{s:.2f}' for s in fleet_warm)}) = "
                  f"{warm_median / plain_median:.2f}x the plain fan-out")
            full, own, clients, far = asyncio.run(first_full_view(config, args.hosts, args.idle))
            print(f"first full Fleet view ({args.hosts} hosts up, every check in): {full:.2f}s")
            print(f"console idle CPU with {args.hosts} hosts on the Fleet view: {own:.2f}% of a "
                  f"core, its {args.hosts} ssh clients {clients:.2f}% (over {args.idle:g}s); "
                  f"the simulated hosts' sshd and bridges {far:.2f}%")
            print(f"one bridge's idle CPU (3 endpoints every 10s): "
                  f"{bridge_idle_cpu(fleet, args.idle):.2f}% of a core over {args.idle:g}s")
        finally:
            fleet.stop()


if __name__ == "__main__":
    main()
