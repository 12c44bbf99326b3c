"""The actions on containers (restart, stop, start) and volumes (backup, restore)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Protocol

from backends.docker.config import VOLUME_PATTERN, BackupSettings, DockerConfig
from backends.docker.engine import Engine, EngineError
from backends.docker.inspect import Inspector
from backends.docker.snapshot import DockerSnapshot
from backends.docker.volumes import (
    PAST,
    BackupFile,
    VolumeError,
    backup_volume,
    find_backup,
    list_backups,
    restore_volume,
)
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.durations import format_age
from console.core.errors import ActionFailed
from console.core.sizes import format_bytes


class DockerActionHost(Protocol):
    """What the actions need of the Docker backend they act through."""

    config: DockerConfig
    engine: Engine
    inspector: Inspector

    @property
    def id(self) -> str: ...

    def backup_settings(self, volume: str) -> BackupSettings | None: ...

RESTORE_CHOICES = 5  # restore entries offered in a menu (newest first)


def container_actions(backend: DockerActionHost, snapshot: DockerSnapshot | None,
                      name: str) -> list[ActionSpec]:
    info = snapshot.container(name) if snapshot is not None else None
    target = f"container:{name}"
    missing = None if info is not None or snapshot is None else \
        f"{target} does not exist on {backend.config.host}"
    engine = backend.engine
    stop_timeout = backend.config.stop_timeout

    def runner(verb: str):  # type: ignore[no-untyped-def]
        async def run(progress: Progress) -> ActionOutcome:
            progress.progress(None, None, f"{verb} {name}")
            try:
                state = await asyncio.to_thread(_container_verb, engine, name, verb,
                                                stop_timeout)
            except EngineError as exc:
                raise ActionFailed(f"{verb} {target} failed: {exc}") from None
            backend.inspector.mark_dirty()
            wanted = "exited" if verb == "stop" else "running"
            if state != wanted:
                raise ActionFailed(f"{verb} {target} ended with the container {state}")
            return ActionOutcome(True, f"{target} {_done[verb]}: now {state}")
        return run

    running = info.running if info is not None else None
    return [
        ActionSpec("restart", target, f"Restart container {name}",
                   f"docker restart {name} (stop, waiting up to {stop_timeout}s, then start)",
                   runner("restart"), backend.id, unavailable=missing),
        ActionSpec("stop", target, f"Stop container {name}",
                   f"docker stop {name}; it stays stopped (its restart policy will not start it)",
                   runner("stop"), backend.id,
                   unavailable=missing or (f"{target} is not running" if running is False
                                           else None)),
        ActionSpec("start", target, f"Start container {name}", f"docker start {name}",
                   runner("start"), backend.id,
                   unavailable=missing or (f"{target} is already running"
                                           if info is not None and info.state == "running"
                                           else None)),
    ]


_done = {"restart": "restarted", "stop": "stopped", "start": "started"}


def _container_verb(engine: Engine, name: str, verb: str, stop_timeout: int) -> str:
    """Run the verb with a read timeout long enough for the stop; the state afterwards."""
    client = engine.stream_client(stop_timeout + engine.timeout + 5)
    try:
        def act(_: Any) -> str:
            if verb == "restart":
                client.api.restart(name, timeout=stop_timeout)
            elif verb == "stop":
                client.api.stop(name, timeout=stop_timeout)
            else:
                client.api.start(name)
            state: str = client.api.inspect_container(name)["State"]["Status"]
            return state
        return engine.call(act)
    finally:
        client.close()


def volume_actions(backend: DockerActionHost, snapshot: DockerSnapshot | None, name: str,
                   options: Mapping[str, Any]) -> list[ActionSpec]:
    target = f"volume:{name}"
    settings = backend.backup_settings(name)
    if settings is None or not VOLUME_PATTERN.match(name):  # names end up in file names
        return []
    cfg = backend.config

    async def backup(progress: Progress) -> ActionOutcome:
        progress.progress(None, None, f"backing up {name}")
        try:
            made: BackupFile = await backend.engine.run(
                lambda client: backup_volume(
                    client, name, settings.dir, keep=settings.keep, image=cfg.helper_image,
                    quiesce=settings.quiesce, timeout=cfg.backup_timeout, log=progress.log))
        except EngineError as exc:
            raise ActionFailed(f"backup of {target} failed: {exc}") from None
        return ActionOutcome(True, f"backed up {target} to {made.path} ({format_bytes(made.size)})")

    specs = [ActionSpec(
        "backup", target, f"Back up volume {name}",
        f"a helper container ({cfg.helper_image}) writes a tar.gz of {name} to {settings.dir}; "
        f"the newest {settings.keep} are kept"
        + ("" if settings.quiesce == "none" else
           f"; containers using it are {PAST[settings.quiesce]} during the copy"),
        backup, backend.id)]

    chosen = options.get("from")
    state = snapshot.volume(name) if snapshot is not None else None
    backups = state.backups if state is not None else ()
    if chosen:
        try:
            picks = [find_backup(settings.dir, name, str(chosen))]
        except VolumeError as exc:
            specs.append(ActionSpec("restore", target, f"Restore volume {name}", str(exc),
                                    _refused(str(exc)), backend.id, unavailable=str(exc)))
            return specs
    else:
        picks = [b for b in (backups or tuple(list_backups(settings.dir, name))) if b.good]
        picks = picks[:RESTORE_CHOICES]
    for pick in picks:
        specs.append(ActionSpec(
            "restore", target,
            f"Restore volume {name} from {pick.name} ({format_bytes(pick.size)}, "
            f"{format_age(pick.created)})",
            f"verify {pick.name}'s sha256, stop the containers using {name}, replace its "
            f"content with the backup (the old content is kept aside until the restore "
            f"succeeded), then start them again",
            _restorer(backend, name, pick), backend.id, type_to_confirm=name,
            params={"from": pick.name}))
    return specs


def _refused(message: str):  # type: ignore[no-untyped-def]
    async def run(progress: Progress) -> ActionOutcome:
        raise ActionFailed(message)
    return run


def _restorer(backend: DockerActionHost, name: str, pick: BackupFile):  # type: ignore[no-untyped-def]
    cfg = backend.config

    async def run(progress: Progress) -> ActionOutcome:
        started = time.monotonic()
        progress.progress(None, None, f"restoring {name} from {pick.name}")
        try:
            restarted = await backend.engine.run(
                lambda client: restore_volume(client, name, pick, image=cfg.helper_image,
                                              stop_timeout=cfg.stop_timeout,
                                              timeout=cfg.backup_timeout, log=progress.log))
        except EngineError as exc:
            raise ActionFailed(f"restore of volume:{name} failed: {exc}") from None
        backend.inspector.mark_dirty()
        again = f"; started {', '.join(restarted)} again" if restarted else ""
        return ActionOutcome(True, f"restored volume:{name} from {pick.name} in "
                                   f"{time.monotonic() - started:.1f}s{again}")
    return run

