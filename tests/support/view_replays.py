"""Backends that replay recorded snapshots, so every view can be pictured the same way twice.

Each replay class is the real backend class with `collect()` answering a snapshot recorded
from the test bed (tests/support/view_recordings.py): the real `evaluate()` judges it and the
real screens draw it. Nothing here connects to a service: `close()` and `watch()` do nothing,
and log sources hand back recorded lines once.

The Deploy snapshot is written by hand in the shape the Deploy backend reads from git and its
plan store (a deploy that failed its health check and was rolled back), since the test bed has
no application repository to record.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.base import Backend
from backends.celery.backend import CeleryBackend
from backends.cron.backend import CronBackend
from backends.deploy.backend import DeployBackend, DeploySnapshot
from backends.deploy.git import Commit, ReflogEntry
from backends.deploy.plans import Plan, Step
from backends.docker.backend import DockerBackend
from backends.host import HostBackend
from backends.http.backend import HttpBackend
from backends.postgres.backend import PostgresBackend
from backends.process import ProcessBackend
from backends.redis.backend import RedisBackend
from backends.supervisor.backend import SupervisorBackend
from backends.systemd.backend import SystemdBackend
from console.assembly import build_backends
from console.config import Config, load_config
from console.core.loglines import LineSource, LogLine
from tests.support import view_recordings as rec

NOW = rec.RECORDED_AT

CONFIG = """\
[console]
title = "shop1"

[[systemd]]
units = ["demo-*.service"]

[[redis]]
name = "demo"
url = "redis://127.0.0.1:6379/0"
  [[redis.queues]]
  name = "jobs"
  queue = "demo:jobs:queue"
  processing = "demo:jobs:processing"
  failed = "demo:jobs:failed"
  warn = 30
  crit = 1000

[[celery]]
name = "demo"
broker = "redis://127.0.0.1:6379/1"
backend = "redis://127.0.0.1:6379/2"
expect_workers = 1
failed_per_hour = { warn = 1, crit = 50 }

[[docker]]
containers = ["demo-*"]

[[postgres]]
name = "shop"
dsn = "postgresql://postgres@127.0.0.1:5432/shop"

[[http]]
name = "api"
url = "http://127.0.0.1:41051/db-down"

[[http]]
name = "gateway"
url = "http://127.0.0.1:41051/gateway"

[[http]]
name = "health"
url = "http://127.0.0.1:41051/ok"

[[host]]
name = "vm"
disks = ["/"]

[[supervisor]]
name = "main"
url = "unix:///var/run/supervisor.sock"
programs = ["*"]

[[process]]
name = "steady-sleeper"
pattern = "sleep 3600"
min = 1
max = 3

[[process]]
name = "crawl-scheduler"
pattern = "manage.py run_crawl_scheduler"
min = 1

[[cron]]
name = "shop"
crontabs = ["/etc/cron.d/shop"]

[[deploy]]
name = "shop"
repo = "/opt/shop"
units = ["demo-web.service"]
health = "health"

[[service]]
name = "shop"
description = "the shop: web app, workers, queue, database and health endpoint"
units = ["demo-*.service"]
celery = ["demo"]
queues = ["demo/jobs"]
http = ["api"]
postgres = ["shop"]
"""


def _sha(n: int) -> str:
    return f"{n:x}" * (40 // len(f"{n:x}"))


DEPLOY_SHOP = DeploySnapshot(
    current=Commit(_sha(0xa1), "Fix price rounding in checkout", "Ana Costa", NOW - 5400),
    previous=Commit(_sha(0xb2), "Release 2025.11.3", "Ben Ito", NOW - 86400 * 2,
                    ("v2025.11.3",)),
    changes=(Commit(_sha(0xa1), "Fix price rounding in checkout", "Ana Costa", NOW - 5400),
             Commit(_sha(0xc3), "Add orders.discount column", "Ben Ito", NOW - 7200),
             Commit(_sha(0xd4), "Bump celery to 5.4", "Ana Costa", NOW - 9000)),
    migrations=("shop/migrations/0042_orders_discount.py",),
    dirty=False,
    history=(ReflogEntry(_sha(0xa1), "checkout: moving from b2b2 to a1a1", NOW - 1800),),
    plans=(
        Plan(id="p-0007", deploy="shop", created=NOW - 1500, who="root", from_rev=_sha(0xa1),
             to_rev=_sha(0xb2), state="failed", kind="rollback", finished=NOW - 1440,
             error="health check http:health failed: 503 in 12 ms",
             steps=[Step("checkout", "check out b2b2b2b2b2", "ok", NOW - 1500, NOW - 1498),
                    Step("restart", "restart demo-web.service", "ok", NOW - 1498, NOW - 1490),
                    Step("health", "wait for http:health to pass (2m)", "failed", NOW - 1490,
                         NOW - 1440, ["503 in 12 ms (expected 200)"])]),
        Plan(id="p-0006", deploy="shop", created=NOW - 1900, who="root", from_rev=_sha(0xb2),
             to_rev=_sha(0xa1), state="ok", kind="deploy", finished=NOW - 1800,
             steps=[Step("checkout", "check out a1a1a1a1a1", "ok", NOW - 1900, NOW - 1880)]),
    ),
)


class RecordedLines:
    """A log source that yields its recorded lines on the first read, then nothing."""

    def __init__(self, label: str, lines: list[LogLine]) -> None:
        self.label = label
        self._lines = lines

    @property
    def status(self) -> str | None:
        return None

    def read(self) -> list[LogLine]:
        lines, self._lines = self._lines, []
        return lines

    def close(self) -> None:
        return None


class Replay:
    """Answers the recorded snapshot; connects to nothing."""
    recorded: Any = None
    recorded_lines: tuple[LogLine, ...] = ()

    async def collect(self) -> Any:
        return self.recorded

    def watch(self, changed: Callable[[], None]) -> None:
        return None

    async def close(self) -> None:
        return None

    def log_sources(self, target: str | None = None) -> list[LineSource]:
        if not self.recorded_lines:
            return []
        name = getattr(self, "name", "replay")
        return [RecordedLines(name, list(self.recorded_lines))]


class ReplaySystemd(Replay, SystemdBackend):
    pass


class ReplayRedis(Replay, RedisBackend):
    pass


class ReplayCelery(Replay, CeleryBackend):
    pass


class ReplayDocker(Replay, DockerBackend):
    pass


class ReplayPostgres(Replay, PostgresBackend):
    pass


class ReplayHttp(Replay, HttpBackend):
    pass


class ReplayHost(Replay, HostBackend):
    pass


class ReplaySupervisor(Replay, SupervisorBackend):
    pass


class ReplayProcess(Replay, ProcessBackend):
    pass


class ReplayCron(Replay, CronBackend):
    pass


class ReplayDeploy(Replay, DeployBackend):
    pass


REPLAYS: dict[str, tuple[type[Replay], Any]] = {
    "systemd:system": (ReplaySystemd, rec.SYSTEMD_SYSTEM),
    "redis:demo": (ReplayRedis, rec.REDIS_DEMO),
    "celery:demo": (ReplayCelery, rec.CELERY_DEMO),
    "docker:docker": (ReplayDocker, rec.DOCKER_DOCKER),
    "postgres:shop": (ReplayPostgres, rec.POSTGRES_SHOP),
    "http:api": (ReplayHttp, rec.HTTP_API),
    "http:gateway": (ReplayHttp, rec.HTTP_GATEWAY),
    "http:health": (ReplayHttp, rec.HTTP_HEALTH),
    "host:vm": (ReplayHost, rec.HOST_VM),
    "supervisor:main": (ReplaySupervisor, rec.SUPERVISOR_MAIN),
    "process:steady-sleeper": (ReplayProcess, rec.PROCESS_STEADY_SLEEPER),
    "process:crawl-scheduler": (ReplayProcess, rec.PROCESS_CRAWL_SCHEDULER),
    "cron:shop": (ReplayCron, rec.CRON_SHOP),
    "deploy:shop": (ReplayDeploy, DEPLOY_SHOP),
}


def _journal(snapshot: Any) -> tuple[LogLine, ...]:
    """The journal lines the recorded causes came from, at the units' change times."""
    return tuple(LogLine(unit.changed_at, unit.cause, "err", unit.name)
                 for unit in snapshot.units if unit.cause)


def _container_lines(snapshot: Any) -> tuple[LogLine, ...]:
    return tuple(line for info in snapshot.containers if info.crash is not None
                 for line in info.crash.lines)


LINES: dict[str, Callable[[Any], tuple[LogLine, ...]]] = {
    "systemd:system": _journal, "docker:docker": _container_lines}


def write_config(directory: Path) -> Config:
    path = directory / "config.toml"
    path.write_text(CONFIG)
    os.chmod(path, 0o600)
    return load_config(str(path))


def replay_backends(config: Config) -> list[Backend[Any]]:
    """The configured backends, each turned into its replay (same config, recorded answer)."""
    replays: list[Backend[Any]] = []
    for built in build_backends(config):
        replay_class, snapshot = REPLAYS[built.id]
        # The backend as its kind built it from the config; only its answers are replaced.
        replay = replay_class.__new__(replay_class)
        replay.__dict__.update(built.__dict__)
        replay.recorded = snapshot
        lines = LINES.get(built.id)
        replay.recorded_lines = lines(snapshot) if lines else ()
        replays.append(replay)  # type: ignore[arg-type]
    return replays
