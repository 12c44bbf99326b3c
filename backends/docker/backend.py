"""The docker backend itself: reading, checks and actions (see __init__ for its kind)."""


from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from backends.base import Backend, Runtime
from backends.docker.config import (
    VOLUME_PATTERN,
    BackupSettings,
    DockerConfig,
)
from backends.docker.crashloop import (
    FailedRunLogs,
    crash_loop,
    restart_samples,
    start_times,
    with_crash,
)
from backends.docker.engine import Engine
from backends.docker.events import EventWatcher
from backends.docker.history import container_events
from backends.docker.inspect import ContainerInfo, Inspector, selected
from backends.docker.logs import ContainerLogSource
from backends.docker.snapshot import DockerSnapshot, VolumeState
from backends.docker.stats import StatsCollector
from backends.docker.volumes import list_backups
from console.core.actions import ActionSpec
from console.core.counters import CounterHistory
from console.core.counts import counted
from console.core.durations import format_age, format_span
from console.core.loglines import LineSource
from console.core.model import CheckResult, Perf, Status
from console.core.timeline import TimelineEvent


class DockerBackend(Backend[DockerSnapshot]):
    kind = "docker"
    unreachable_status = Status.CRITICAL

    def __init__(self, config: DockerConfig, runtime: Runtime) -> None:
        super().__init__(config.name, interval=config.interval, timeout=config.timeout + 2.0)
        self.config = config
        self.engine = Engine(config.host, config.timeout)
        self.inspector = Inspector(config)
        self.history = CounterHistory(runtime.state_dir, self.id, config.crash_window)
        self.failed_logs = FailedRunLogs(config.log_lines)
        self.stats: StatsCollector | None = None
        self.events: EventWatcher | None = None
        self.last: DockerSnapshot | None = None

    # -- targets --------------------------------------------------------------------------
    def targets(self) -> list[str]:
        known = [f"container:{name}" for name in self.config.exact_names]
        if self.last is not None:
            known += [c.target for c in self.last.containers]
            known += [f"volume:{v.name}" for v in self.last.volumes]
        known += [f"volume:{v.name}" for v in self.config.volumes]
        return list(dict.fromkeys(known))

    def answers_for(self, target: str) -> bool:
        kind, _, name = target.partition(":")
        if kind == "container":
            return selected(self.config, name, None) or bool(self.config.labels) \
                or any(fnmatch.fnmatchcase(name, p) for p in self.config.containers)
        if kind == "volume":
            return bool(VOLUME_PATTERN.match(name)) and self.backup_settings(name) is not None
        return target in self.targets()

    def log_sources(self, target: str | None = None) -> list[LineSource]:
        """The logs of the containers seen in the last poll, or of one container (its last
        200 lines first)."""
        if target is not None:
            kind, _, name = target.partition(":")
            if kind != "container" or not self.answers_for(target):
                return []
            return [ContainerLogSource(self.engine, name, tail_lines=200)]
        names = [c.name for c in self.last.containers] if self.last is not None else []
        return [ContainerLogSource(self.engine, name) for name in names]

    def backup_settings(self, volume: str) -> BackupSettings | None:
        entry = self.config.volume(volume)
        return entry.backup if entry is not None else self.config.backup

    # -- reading --------------------------------------------------------------------------
    async def collect(self) -> DockerSnapshot:
        snapshot = await self.engine.run(self._read)
        self.last = snapshot
        return snapshot

    def _read(self, client: Any) -> DockerSnapshot:
        infos, missing = self.inspector.read(client)
        now = time.time()
        def engine_record(names: list[str], since: float) -> dict[str, list[float]]:
            return start_times(client, names, since, now, self.config.timeout)

        restarts = self.history.record(restart_samples(infos), now, engine_record)
        cfg = self.config
        shown: list[ContainerInfo] = []
        for info in infos:
            restarted = restarts.get(info.name, 0)
            if crash_loop(info, restarted, cfg.crash_restarts, cfg.crash_window, now):
                lines = self.failed_logs.get(client, info)
                info = replace(info, crash=with_crash(info, restarted, cfg.crash_window, lines))
            elif not info.running and info.exit_code != 0:
                lines = self.failed_logs.get(client, info)
                info = replace(info, crash=None if not lines else
                               with_crash(info, 0, cfg.crash_window, lines))
            if self.stats is not None:
                info = replace(info, usage=self.stats.usage(info.id))
            shown.append(info)
        unmatched = tuple(p for p in cfg.containers if cfg.is_glob(p)
                          and not any(fnmatch.fnmatchcase(i.name, p) for i in infos))
        return DockerSnapshot(
            host=cfg.host, collected_at=now, containers=tuple(shown), missing=tuple(missing),
            unmatched=unmatched, volumes=tuple(self._volumes(infos)),
            events_connected=self.events.connected if self.events is not None else None)

    def _volumes(self, infos: list[ContainerInfo]) -> list[VolumeState]:
        names = [v.name for v in self.config.volumes]
        if self.config.backup is not None:
            names += [v for info in infos for v in info.volumes]
        states = []
        for name in dict.fromkeys(names):
            settings = self.backup_settings(name)
            if settings is None:
                continue
            users = tuple(i.name for i in infos if name in i.volumes)
            states.append(VolumeState(name, users, settings.dir, settings.keep,
                                      settings.max_age,
                                      tuple(list_backups(settings.dir, name))))
        return states

    # -- checks ---------------------------------------------------------------------------
    def evaluate(self, snapshot: DockerSnapshot) -> list[CheckResult]:
        results = [self._container_check(info, snapshot.collected_at) for info in snapshot.containers]
        for name in snapshot.missing:
            results.append(CheckResult(
                f"container:{name}", Status.CRITICAL,
                f"no container named {name} on {snapshot.host}",
                details="listed in [[docker]] containers; create it or fix the name"))
        for pattern in snapshot.unmatched:
            results.append(CheckResult(f"container:{pattern}", Status.WARNING,
                                       f"no container matches {pattern!r} on {snapshot.host}"))
        results += [self._volume_check(v, snapshot.collected_at) for v in snapshot.volumes]
        return results

    def _container_check(self, info: ContainerInfo, now: float) -> CheckResult:
        perf = [Perf(f"{info.name}_restarts", info.restart_count, "", None, None, 0)]
        if info.usage is not None and info.usage.cpu_percent is not None:
            perf.append(Perf(f"{info.name}_cpu", info.usage.cpu_percent, "%", min=0))
        if info.usage is not None and info.usage.memory is not None:
            perf.append(Perf(f"{info.name}_memory", info.usage.memory, "B", min=0,
                             max=info.usage.memory_limit))
        status, summary = self._verdict(info, now)
        details = "\n".join(f"{line.source}: {line.text}" for line in info.crash.lines) \
            if info.crash is not None else ""
        return CheckResult(info.target, status, summary, perfdata=tuple(perf), details=details)

    def _verdict(self, info: ContainerInfo, now: float) -> tuple[Status, str]:
        crash = info.crash
        quoted = f' · "{_cut(crash.headline)}"' if crash is not None and crash.headline else ""
        if crash is not None and (crash.restarting or crash.restarts or info.running):
            how_often = (f"restarted {crash.restarts}× in {_span(crash.window)}"
                         if crash.restarts else f"{counted(info.restart_count, 'restart')}, "
                         f"the last {format_age(info.finished_at, now)}")
            state = "restarting" if crash.restarting else f"{info.state}"
            return Status.CRITICAL, f"crash loop: {state}, {how_often}{quoted}"
        if info.state == "running":
            uptime = format_span(now - info.started_at) if info.started_at else "?"
            restarts = counted(info.restart_count, "restart")
            if info.health == "unhealthy":
                probe = info.health_log[-1].output if info.health_log else ""
                return Status.CRITICAL, f"unhealthy · up {uptime}" + (
                    f' · "{_cut(probe)}"' if probe else "")
            if info.health == "starting":
                return Status.WARNING, f"up {uptime} · health starting · {restarts}"
            health = f" · {info.health}" if info.health else ""
            return Status.OK, f"up {uptime}{health} · {restarts}"
        if info.state == "paused":
            return Status.WARNING, "paused"
        ended = f" {format_age(info.finished_at, now)}" if info.finished_at else ""
        oom = " (out of memory)" if info.oom_killed else ""
        return Status.CRITICAL, f"{info.state} (exit {info.exit_code}){oom}{ended}{quoted}"

    def _volume_check(self, volume: VolumeState, now: float) -> CheckResult:
        target = f"volume:{volume.name}"
        good = volume.last_good
        count = len(volume.backups)
        perf: tuple[Perf, ...] = ()
        if good is None:
            return CheckResult(target, Status.WARNING,
                               f"no verified backup yet in {volume.backup_dir}",
                               details=f"used by {', '.join(volume.used_by) or 'no container'}")
        age = now - good.created
        perf = (Perf(f"{volume.name}_backup_age", round(age), "s", volume.max_age, None, 0),)
        status = Status.WARNING if volume.max_age is not None and age > volume.max_age \
            else Status.OK
        return CheckResult(target, status,
                           f"last backup {format_age(good.created, now)} · {count} kept "
                           f"(keep {volume.keep})", perfdata=perf,
                           details=f"{good.path}; used by {', '.join(volume.used_by) or '-'}")

    # -- actions --------------------------------------------------------------------------
    def actions(self, snapshot: DockerSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        from backends.docker.actions import container_actions, volume_actions  # only when acting

        kind, _, name = target.partition(":")
        if kind == "container":
            return container_actions(self, snapshot, name)
        if kind == "volume":
            return volume_actions(self, snapshot, name, options or {})
        return []

    # -- push -----------------------------------------------------------------------------
    async def timeline_events(self, since: float, until: float, limit: int) -> list[TimelineEvent]:
        """Deaths, OOM kills, starts, stops and health changes in the window, from the
        engine's own events."""
        return await self.engine.run(container_events, self.config, since, until, limit)

    def watch(self, changed: Callable[[], None]) -> None:
        def on_event(container_id: str, name: str, labels: dict[str, str]) -> None:
            if selected(self.config, name, labels):
                self.inspector.mark_dirty(container_id)
                changed()

        def on_reconnect() -> None:
            self.inspector.mark_dirty()
            changed()

        events = EventWatcher(self.engine, on_event, on_reconnect)
        self.events = events
        self.inspector.incremental = lambda: events.connected
        events.start()
        if self.config.stats:
            self.stats = StatsCollector(self.engine, self.inspector.running_ids,
                                        self.config.stats_interval)
            self.stats.start()

    async def close(self) -> None:
        if self.events is not None:
            self.events.close()
        if self.stats is not None:
            self.stats.close()
        self.inspector.close()
        self.engine.close()


def _span(seconds: float) -> str:
    """A window as people write it: "10m", "2h", else the console's span."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return format_span(seconds)


def _cut(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
