"""Docker refresh cost and idle CPU, against a private dockerd started for the run.

1. Refresh with 5 and 50 containers: the backend's collect() (events stream on, so only
   changed containers are inspected; and with every container inspected, as without events)
   against the runbook's way, `docker ps` + `docker inspect` per container from a loop.
2. Idle CPU of the console (the real TUI in a 160x48 tmux pane, Containers view shown) with
   50 containers, the events stream and the stats collector on, sampled for 30 s.

Run: .venv/bin/python bench/docker_refresh.py   (root; needs the test bed's busybox image)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.docker.backend import DockerBackend
from console.assembly import build_backends
from console.config import load_config
from console.sandbox.docker_engine import BUSYBOX_IMAGE, DockerEngine

ROUNDS = 10
IDLE_SECONDS = 30
PREFIX = "bench-refresh"


def write_config(directory: Path, host: str, extra: str = "") -> Path:
    path = directory / "config.toml"
    path.write_text(f'[[docker]]\nhost = "{host}"\ncontainers = ["{PREFIX}-*"]\n{extra}')
    path.chmod(0o600)
    return path


def make_containers(client: Any, count: int) -> None:
    have = len(client.containers.list(all=True, filters={"name": PREFIX}))
    for index in range(have, count):
        client.containers.run(BUSYBOX_IMAGE, ["sleep", "86400"], name=f"{PREFIX}-{index:03d}",
                              detach=True, init=True, network_mode="none",
                              restart_policy={"Name": "unless-stopped"})


def shell_loop(host: str) -> float:
    """`docker ps` then `docker inspect` of each container, as a runbook's loop does."""
    env = dict(os.environ, DOCKER_HOST=host)
    started = time.perf_counter()
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"name={PREFIX}"], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    for container in ids:
        subprocess.run(["docker", "inspect", container], env=env, capture_output=True,
                       timeout=60, check=True)
    return time.perf_counter() - started


async def collect_times(backend: DockerBackend, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await backend.collect()
        times.append(time.perf_counter() - started)
    return times


def refresh_figures(config_path: Path, host: str, count: int) -> None:
    backend = build_backends(load_config(str(config_path)))[0]
    assert isinstance(backend, DockerBackend)
    full = asyncio.run(collect_times(backend, ROUNDS))
    backend.watch(lambda: None)
    deadline = time.monotonic() + 10
    while not (backend.events and backend.events.connected) and time.monotonic() < deadline:
        time.sleep(0.05)

    async def incremental() -> list[float]:
        await backend.collect()  # the first read after connecting inspects everything
        return await collect_times(backend, ROUNDS)

    events = asyncio.run(incremental())
    asyncio.run(backend.close())
    loop = [shell_loop(host) for _ in range(3)]
    base = statistics.median(loop)
    print(f"{count:>3} containers: docker ps + inspect loop {base * 1000:8.1f} ms | "
          f"collect, all inspected {statistics.median(full) * 1000:6.1f} ms "
          f"(x{base / statistics.median(full):.1f} faster) | "
          f"collect, events on {statistics.median(events) * 1000:6.1f} ms "
          f"(x{base / statistics.median(events):.0f} faster)")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10,
                          check=False).stdout


def idle_cpu(config_path: Path, state_dir: Path, label: str) -> None:
    session = f"bench-docker-{os.getpid()}"
    env = dict(os.environ, OPSCONSOLE_STATE_DIR=str(state_dir))
    argv = [str(Path(sys.executable).parent / "opsconsole"), "--config", str(config_path)]
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", *argv],
                   env=env, timeout=10, check=True)
    try:
        process = psutil.Process(int(tmux("display-message", "-p", "-t", session,
                                          "#{pane_pid}").strip()))
        time.sleep(3)
        tmux("send-keys", "-t", session, "5")
        deadline = time.monotonic() + 30
        while "50 ok" not in tmux("capture-pane", "-p", "-t", session) \
                or f"{PREFIX}-000" not in tmux("capture-pane", "-p", "-t", session):
            if time.monotonic() > deadline:
                raise SystemExit("the Containers view never showed 50 containers:\n"
                                 + tmux("capture-pane", "-p", "-t", session))
            time.sleep(0.1)
        time.sleep(12)  # let the stats collector fill its first two rounds
        before = process.cpu_times()
        time.sleep(IDLE_SECONDS)
        after = process.cpu_times()
        used = (after.user + after.system) - (before.user + before.system)
        print(f"idle TUI, 50 containers, {label}, Containers view shown: "
              f"{used / IDLE_SECONDS * 100:.2f} % of one core over {IDLE_SECONDS} s")
    finally:
        tmux("kill-session", "-t", session)


def main() -> None:
    engine = DockerEngine().start()
    try:
        client = engine.client(timeout=60)
        with tempfile.TemporaryDirectory(prefix="bench-docker-") as scratch:
            directory = Path(scratch)
            config_path = write_config(directory, engine.host, "stats_interval = \"10s\"\n")
            for count in (5, 50):
                make_containers(client, count)
                refresh_figures(config_path, engine.host, count)
            idle_cpu(config_path, directory / "state", "events + stats every 10s")
            quiet = write_config(directory, engine.host, "stats = false\n")
            idle_cpu(quiet, directory / "state", "events on, stats off")
        client.close()
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
