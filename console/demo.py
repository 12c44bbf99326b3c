"""`opsconsole demo`: a disposable real stack on loopback, and the console opened on it.

Runs the sandbox's services (console.sandbox and its install.sh), the same ones the test
suite starts:
Redis with a queue family holding work and failures, a Celery worker with failed tasks,
a PostgreSQL cluster with a database, a private dockerd with a healthy container (which is
also the HTTP endpoint) and a crash-looping one, and systemd booted in a container with a
healthy, a failed and a flapping unit. Everything is stopped on exit; `--down` removes what
a demo that was killed left behind. Needs root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from console.core.errors import one_line

INSTALLER = Path(__file__).resolve().parent / "sandbox" / "install.sh"
PID_FILE = Path("/run/opsconsole-demo.pid")
WORKDIR_PREFIX = "opsconsole-demo-"
BINARIES = ("redis-server", "dockerd", "containerd", "runc", "systemd-nspawn", "busctl",
            "nsenter")
PLAN = """opsconsole demo starts, on loopback only, as root:
  - redis-server on a free port: queue family demo:jobs (work, in progress, failed items)
  - a Celery worker (console/sandbox/celeryapp.py) with a few failed tasks
  - a PostgreSQL cluster (initdb in a temp dir) with a database "demo"
  - a private dockerd (no bridge, no iptables): a healthy web container and a crash loop
  - systemd booted in systemd-nspawn (private network): healthy, failed and flapping units
  - an HTTP health endpoint (served by the web container)
Everything lives under /tmp/octb and is stopped when you leave the console."""


class DemoError(Exception):
    """The demo cannot run here; the message says what to do."""


def missing_prerequisites() -> list[str]:
    from console.sandbox.docker_engine import BUSYBOX_ROOTFS
    from console.sandbox.postgres_cluster import postgres_bin_dir
    from console.sandbox.processes import ServiceError
    from console.sandbox.systemd_machine import SYSTEMD_ROOTFS

    missing = [b for b in BINARIES if shutil.which(b) is None]
    try:
        postgres_bin_dir()
    except ServiceError:
        missing.append("PostgreSQL server (initdb)")
    for cached in (BUSYBOX_ROOTFS, SYSTEMD_ROOTFS):
        if not Path(cached).exists():
            missing.append(str(cached))
    return missing


def run_demo(*, down: bool, headless: bool, assume_yes: bool, read_only: bool) -> int:
    if read_only:
        print("opsconsole: --read-only: the demo installs packages and starts (or, with "
              "--down, stops) services, so it does not run; leave out --read-only",
              file=sys.stderr)
        return 3
    if os.geteuid() != 0:
        print("opsconsole: demo needs root (it starts dockerd, systemd-nspawn and a "
              "PostgreSQL cluster): run `sudo opsconsole demo`", file=sys.stderr)
        return 3
    try:
        if down:
            return tear_down_leftovers()
        print(PLAN, flush=True)
        if not install(assume_yes):
            return 3
        return run_stack(headless=headless, read_only=read_only)
    except DemoError as exc:
        print(f"opsconsole: {exc}", file=sys.stderr)
        return 2


def install(assume_yes: bool) -> bool:
    """Run the test bed's installer when something is missing (after asking)."""
    from console.sandbox.processes import run

    missing = missing_prerequisites()
    if not missing:
        return True
    print(f"\nMissing: {', '.join(missing)}.\nbash {INSTALLER} will install "
          "Debian packages (postgresql redis-server docker.io systemd-container ...), build "
          "the busybox and systemd root filesystems (about 1 minute), and start PostgreSQL "
          "(local connections trusted) and Redis on 127.0.0.1.", flush=True)
    if not assume_yes:
        if not sys.stdin.isatty():
            print("opsconsole: not installing without a terminal: pass --yes",
                  file=sys.stderr)
            return False
        if input("Install now? [y/N] ").strip().lower() not in ("y", "yes"):
            print("opsconsole: nothing installed, demo not started", file=sys.stderr)
            return False
    result = run(["bash", str(INSTALLER)], timeout=900, check=False)
    if result.returncode != 0:
        raise DemoError(f"install.sh failed: {(result.stderr or result.stdout).strip()[-300:]}")
    return True


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_stack(*, headless: bool, read_only: bool) -> int:
    from console.sandbox.processes import OWNER_FILE

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    PID_FILE.write_text(str(os.getpid()))
    stack = DemoStack()
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    (workdir / OWNER_FILE).write_text(str(os.getpid()))
    try:
        started = time.monotonic()
        stack.start()
        config_path = workdir / "config.toml"
        from console.init import write_private

        write_private(config_path, stack.config_text(workdir / "state"))
        print(f"Stack up in {time.monotonic() - started:.1f}s; config: {config_path}",
              flush=True)
        for label, path in stack.dirs():
            print(f"  {label}: {path}", flush=True)
        from console.config import load_config

        config = load_config(str(config_path))
        if headless:
            from console import headless as runner

            code = runner.run_check(config, fmt="text", only=[], timeout=None)
            print("Demo is up: press Enter (or send SIGTERM) to stop it.", flush=True)
            with contextlib.suppress(EOFError):
                sys.stdin.readline()
            return code
        from console.tui import run_tui

        return run_tui(config, read_only=read_only)
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the cleanup finish
        print("Stopping the demo stack...", flush=True)
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            PID_FILE.unlink()
        signal.signal(signal.SIGTERM, previous)
        print("Demo stopped; nothing left running.", flush=True)


def tear_down_leftovers() -> int:
    """Stop a demo still running, then reap what dead runs left (processes, mounts, dirs)."""
    from console.sandbox.processes import TEMP_ROOT
    from console.sandbox.reaping import reap_stale

    with contextlib.suppress(OSError, ValueError):
        pid = int(PID_FILE.read_text().strip())
        if _is_demo(pid):
            print(f"Stopping the running demo (pid {pid})...", flush=True)
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _is_demo(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _is_demo(pid):
                os.kill(pid, signal.SIGKILL)
                time.sleep(0.5)
    with contextlib.suppress(OSError):
        PID_FILE.unlink()
    for engine_dir in _orphaned(TEMP_ROOT.glob("docker-*")):
        _stop_orphaned_dockerd(engine_dir)
    reaped = reap_stale()
    for workdir in _orphaned(Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*")):
        shutil.rmtree(workdir, ignore_errors=True)
        reaped.append(workdir)
    for path in reaped:
        print(f"removed {path}")
    print(f"Demo leftovers cleaned ({len(reaped)} directories).")
    return 0


def _orphaned(paths: Any) -> list[Path]:
    """Directories whose owner process (the run that made them) is gone."""
    from console.sandbox.processes import OWNER_FILE

    found = []
    for path in paths:
        try:
            owner = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not Path(f"/proc/{owner}").exists():
            found.append(path)
    return found


def _stop_orphaned_dockerd(engine_dir: Path) -> None:
    """SIGTERM a dockerd whose demo died, so it stops its containers before it is reaped."""
    try:
        pid = int((engine_dir / "dockerd.pid").read_text().strip())
        with open(f"/proc/{pid}/comm") as comm:
            if comm.read().strip() != "dockerd":
                return
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def _is_demo(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
    except OSError:
        return False
    return b"demo" in argv and pid != os.getpid()


class DemoStack:
    """The demo's services, started in parallel and seeded with work, failures and units."""

    def __init__(self) -> None:
        from console.sandbox.docker_engine import DockerEngine
        from console.sandbox.postgres_cluster import PostgresCluster
        from console.sandbox.processes import free_port
        from console.sandbox.redis_server import RedisServer
        from console.sandbox.systemd_machine import SystemdMachine

        self.redis: Any = RedisServer()
        self.postgres: Any = PostgresCluster()
        self.docker: Any = DockerEngine()
        self.systemd: Any = SystemdMachine(name=f"ocdemo-{os.getpid()}")
        self.celery: Any = None
        self.web_port = free_port()

    def start(self) -> None:
        steps: list[Callable[[], None]] = [self._redis, self._postgres, self._docker,
                                           self._systemd]
        with ThreadPoolExecutor(len(steps)) as pool:
            futures = [pool.submit(step) for step in steps]
            errors = [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            raise DemoError(f"the demo stack did not start: {one_line(errors[0])}")

    def _redis(self) -> None:
        import redis

        from console.sandbox.celery_worker import CeleryWorker

        self.redis.start()
        client = redis.Redis.from_url(self.redis.url)
        client.rpush("demo:jobs:queue", *[f"job-{i}" for i in range(42)])
        client.sadd("demo:jobs:processing", "job-100", "job-101")
        client.sadd("demo:jobs:failed", *[f"job-{i}" for i in range(200, 205)])
        client.close()
        self.celery = CeleryWorker(
            broker_url=self.redis.url_for(1), backend_url=self.redis.url_for(2),
            name="demo@%h")
        self.celery.start()
        self._failed_tasks()

    def _failed_tasks(self) -> None:
        from celery import Celery  # type: ignore[import-untyped]

        app = Celery("opsconsole-demo", broker=self.redis.url_for(1),
                     backend=self.redis.url_for(2), set_as_current=False)
        app.conf.result_extended = True
        results = [app.send_task("testbed.fail", args=[f"demo failure {i}"]) for i in range(3)]
        results += [app.send_task("testbed.add", args=[i, i]) for i in range(2)]
        for result in results:
            with contextlib.suppress(Exception):
                result.get(timeout=20, propagate=False)
        app.close()

    def _postgres(self) -> None:
        self.postgres.start()
        self.postgres.create_database("demo")
        self.postgres.psql("CREATE TABLE orders (id serial PRIMARY KEY, item text); "
                           "INSERT INTO orders (item) SELECT 'item ' || g "
                           "FROM generate_series(1, 5000) g", dbname="demo")

    def _docker(self) -> None:
        from console.sandbox.docker_engine import BUSYBOX_IMAGE
        from console.sandbox.processes import wait_for

        self.docker.start()
        client = self.docker.client()
        image = BUSYBOX_IMAGE
        serve = (f"mkdir -p /www && echo ok > /www/health && "
                 f"exec httpd -f -p 127.0.0.1:{self.web_port} -h /www")
        client.containers.run(
            image, ["sh", "-c", serve], name="demo-web", detach=True, init=True,
            network_mode="host", restart_policy={"Name": "unless-stopped"},
            healthcheck={"test": ["CMD", "test", "-f", "/www/health"],
                         "interval": 1_000_000_000, "timeout": 1_000_000_000, "retries": 2})
        ledger = client.containers.run(
            image, ["sh", "-c", "echo 'Fatal: On start, ledger directory /data is not "
                                "empty'; sleep 1; exit 1"],
            name="demo-ledger", detach=True, init=True, network_mode="none",
            restart_policy={"Name": "always"})

        def ledger_restarted() -> bool:
            ledger.reload()
            return int(ledger.attrs.get("RestartCount") or 0) >= 1

        try:
            wait_for(self._web_answers, timeout=15, what="demo-web httpd")
            # The crash loop is the point of this container: show it already looping.
            wait_for(ledger_restarted, timeout=20, what="demo-ledger restart", interval=0.2)
        finally:
            client.close()

    def _web_answers(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health",
                                        timeout=0.5) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def _systemd(self) -> None:
        from console.sandbox.processes import wait_for

        machine = self.systemd
        machine.start()
        machine.add_unit("demo-web.service", "[Unit]\nDescription=Demo web app\n[Service]\n"
                         "ExecStart=/bin/sleep infinity\n")
        machine.add_unit("demo-broken.service", "[Unit]\nDescription=Demo records job\n"
                         "[Service]\nExecStart=/bin/sh -c 'echo Fatal: config missing; "
                         "exit 3'\n")
        machine.add_unit("demo-flappy.service", "[Unit]\nDescription=Demo flapping worker\n"
                         "StartLimitIntervalSec=0\n[Service]\nExecStart=/bin/sh -c "
                         "'sleep 1; exit 1'\nRestart=always\nRestartSec=1\n")
        machine.daemon_reload()
        machine.systemctl("start", "--no-block", "demo-web.service", "demo-broken.service",
                          "demo-flappy.service")
        wait_for(
            lambda: machine.systemctl("is-failed", "demo-broken.service",
                                      check=False).stdout.strip() == "failed",
            timeout=15, what="demo-broken.service to fail", interval=0.2)

    def config_text(self, state_dir: Path) -> str:
        return f'''# The opsconsole demo stack (throwaway: removed when the demo stops).
[console]
refresh = "2s"
state_dir = "{state_dir}"
title = "opsconsole demo"

[[systemd]]
units = ["demo-*.service"]
bus = "{self.systemd.bus_address}"
journal_dir = "{self.systemd.journal_dir}"

[[redis]]
name = "demo"
url = "{self.redis.url}"
  [[redis.queues]]
  name = "jobs"
  queue = "demo:jobs:queue"
  processing = "demo:jobs:processing"
  failed = "demo:jobs:failed"
  warn = 30
  crit = 1000

[[celery]]
name = "demo"
broker = "{self.redis.url_for(1)}"
backend = "{self.redis.url_for(2)}"
expect_workers = 1
failed_per_hour = {{ warn = 1, crit = 50 }}

[[docker]]
host = "{self.docker.host}"
containers = ["demo-*"]

[[postgres]]
name = "demo"
dsn = "{self.postgres.dsn("demo")}"
backup = {{ dir = "{state_dir.parent / "backups"}" }}

[[http]]
name = "web"
url = "http://127.0.0.1:{self.web_port}/health"

[[host]]
ports = [{self.redis.port}, {self.postgres.port}, {self.web_port}]
'''

    def dirs(self) -> list[tuple[str, Path]]:
        found = [("redis", self.redis.dir), ("postgres", self.postgres.dir),
                 ("docker", self.docker.dir), ("systemd", self.systemd.dir)]
        if self.celery is not None:
            found.append(("celery", self.celery.dir))
        return [(label, path) for label, path in found if path != Path()]

    def stop(self) -> None:
        for service in (self.celery, self.docker, self.systemd, self.postgres, self.redis):
            if service is not None:
                with contextlib.suppress(Exception):
                    service.stop()
