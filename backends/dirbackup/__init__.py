"""`[[backup]]`: verified tar.gz backups of directories and files, with retention and restore.

Target `dir:NAME`. The check warns when the newest verified archive is older than `max_age`;
`backup` quiesces with the `before` commands, writes and verifies an archive, prunes old
ones and runs the `after` commands; `restore` puts an archive's paths back in place or under
another directory (`--to DIR`), keeping the old content aside until every path is restored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import Backend, BackendKind, Runtime
from backends.dirbackup import archive
from backends.dirbackup.archive import BackupError, BackupFile
from backends.dirbackup.commands import (
    after_pending,
    clear_after_pending,
    mark_after_pending,
    run_command,
)
from backends.dirbackup.config import DirBackupConfig, parse, validate
from backends.dirbackup.restore import interrupted, restore
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.durations import format_age, format_span
from console.core.errors import ActionFailed
from console.core.model import CheckResult, Perf, Status
from console.core.sizes import format_bytes

BACKUP_TIMEOUT = 3600.0


@dataclass(frozen=True)
class DirBackupSnapshot:
    backups: tuple[BackupFile, ...]  # newest first
    interrupted: tuple[str, ...] = ()  # the paths of a restore killed during its swap
    after_pending: bool = False  # a backup was stopped between its before and after commands

    @property
    def newest_verified(self) -> BackupFile | None:
        return next((b for b in self.backups if b.verified), None)


def build(entries: list[DirBackupConfig], runtime: Runtime) -> list[Backend]:
    return [DirBackupBackend(entry) for entry in entries]


class DirBackupBackend(Backend[DirBackupSnapshot]):
    kind = "dir"
    unreachable_status = Status.UNKNOWN

    def __init__(self, config: DirBackupConfig) -> None:
        super().__init__(config.name, interval=config.interval, timeout=10.0)
        self.config = config

    def targets(self) -> list[str]:
        return [f"dir:{self.name}"]

    async def collect(self) -> DirBackupSnapshot:
        def read() -> DirBackupSnapshot:
            return DirBackupSnapshot(tuple(archive.list_backups(self.config)),
                                     tuple(interrupted(self.config)), after_pending(self.config))

        # a thread: the backup directory may be on a slow or hung network mount
        async with asyncio.timeout(self.timeout):
            return await asyncio.to_thread(read)

    def evaluate(self, snapshot: DirBackupSnapshot) -> list[CheckResult]:
        cfg = self.config
        target = f"dir:{self.name}"
        details = f"{', '.join(cfg.paths)} -> {cfg.dir}"
        if snapshot.interrupted:
            return [CheckResult(target, Status.CRITICAL,
                                f"a restore was interrupted while swapping: "
                                f"{', '.join(snapshot.interrupted)} may mix old and restored "
                                "content; run the restore again (it first puts back what "
                                "was there)", details=details)]
        if snapshot.after_pending:
            owed = "; ".join(" ".join(argv) for argv in cfg.after)
            return [CheckResult(target, Status.CRITICAL,
                                f"a backup was stopped after its before commands: {owed} "
                                "never ran; run it, or back up again", details=details)]
        newest = snapshot.newest_verified
        if newest is None:
            status = Status.WARNING if cfg.max_age is not None else Status.OK
            return [CheckResult(target, status, f"no verified backup in {cfg.dir}",
                                details=details)]
        age = max(0.0, time.time() - newest.created)
        perf = (Perf(f"{self.name}_backup_age", round(age), "s", cfg.max_age, None, 0),)
        count = sum(1 for b in snapshot.backups if b.verified)
        summary = (f"newest verified backup {format_age(newest.created)}: {newest.name} "
                   f"({format_bytes(newest.size)}), {count} kept")
        if cfg.max_age is not None and age > cfg.max_age:
            return [CheckResult(target, Status.WARNING,
                                f"newest verified backup is {format_span(age)} old "
                                f"(max_age {format_span(cfg.max_age)}): {newest.name}",
                                perfdata=perf, details=details)]
        return [CheckResult(target, Status.OK, summary, perfdata=perf, details=details)]

    def actions(self, snapshot: DirBackupSnapshot | None, target: str,
                options: Mapping[str, Any] | None = None) -> list[ActionSpec]:
        if target != f"dir:{self.name}":
            return []
        options = options or {}
        specs = [self._backup_spec(target)]
        specs.append(self._restore_spec(target, snapshot, options.get("from"), options.get("to")))
        return specs

    # -- backup ---------------------------------------------------------------------------
    def _backup_spec(self, target: str) -> ActionSpec:
        cfg = self.config
        steps = []
        if cfg.before:
            steps.append("run " + "; ".join(" ".join(c) for c in cfg.before))
        steps.append(f"write a tar.gz of {', '.join(cfg.paths)}"
                     + (f" (without {', '.join(cfg.excludes)})" if cfg.excludes else "")
                     + f" to {cfg.dir}, read it back and record its sha256")
        keep = f"keep the newest {cfg.keep}"
        if cfg.keep_days is not None:
            keep += f" and those younger than {cfg.keep_days / 86400:g} days"
        steps.append(keep)
        if cfg.after:
            steps.append("run " + "; ".join(" ".join(c) for c in cfg.after)
                         + " (also when the backup failed)")
        return ActionSpec("backup", target, f"Back up {self.name}", "; then ".join(steps),
                          self._backup, self.id)

    async def _backup(self, progress: Progress) -> ActionOutcome:
        cfg = self.config
        log = progress.log
        made: BackupFile | None = None
        problems: list[str] = []
        try:
            if cfg.after:
                await asyncio.to_thread(mark_after_pending, cfg)
            for argv in cfg.before:
                await run_command(argv, cfg.command_timeout, log)
            progress.progress(None, None, f"archiving {', '.join(cfg.paths)}")
            made = await asyncio.to_thread(archive.write_backup, cfg, log, BACKUP_TIMEOUT)
        except BackupError as exc:
            problems.append(str(exc))
        # whatever `before` quiesced is started again, whether the backup worked or not
        for argv in cfg.after:
            try:
                await run_command(argv, cfg.command_timeout, log)
            except BackupError as exc:
                problems.append(f"after: {exc}")
        if cfg.after:
            await asyncio.to_thread(clear_after_pending, cfg)
        if made is None:
            raise ActionFailed(f"backup of dir:{self.name} failed: {'; '.join(problems)}")
        for name in await asyncio.to_thread(archive.apply_retention, cfg):
            log(f"retention: deleted {name}")
        message = (f"backed up dir:{self.name} to {made.path} ({format_bytes(made.size)}, "
                   "verified)")
        if problems:
            raise ActionFailed(f"{message}, but {'; '.join(problems)}")
        return ActionOutcome(True, message, details=f"sha256 {made.checksum}")

    # -- restore --------------------------------------------------------------------------
    def _restore_spec(self, target: str, snapshot: DirBackupSnapshot | None,
                      chosen: Any, to: Any) -> ActionSpec:
        cfg = self.config
        title = f"Restore {self.name}"
        try:
            pick = self._pick(snapshot, str(chosen) if chosen else None)
        except BackupError as exc:
            return ActionSpec("restore", target, title, str(exc), _refused(str(exc)), self.id,
                              unavailable=str(exc))
        if to is not None and not str(to).startswith("/"):
            problem = f"--to {to}: give an absolute directory"
            return ActionSpec("restore", target, title, problem, _refused(problem), self.id,
                              unavailable=problem)
        where = (f"write {', '.join(cfg.paths)} under {to}" if to else
                 f"replace {', '.join(cfg.paths)} with their content in the backup")
        effect = (f"verify {pick.name} ({format_bytes(pick.size)}, {format_age(pick.created)}) "
                  f"against its sha256 and read it in full, then {where}; the old content is "
                  "kept aside until every path is restored")
        left = snapshot.interrupted if snapshot else ()
        if left:
            effect = (f"first put {', '.join(left)} back as they were before the restore that "
                      f"was interrupted while swapping; then {effect}")

        async def run(progress: Progress) -> ActionOutcome:
            try:
                written = await asyncio.to_thread(restore, cfg, pick, str(to) if to else None,
                                                  progress.log)
            except BackupError as exc:
                raise ActionFailed(str(exc)) from None
            return ActionOutcome(True, f"restored {', '.join(written)} from {pick.name}")

        return ActionSpec("restore", target, f"{title} from {pick.name}", effect, run, self.id,
                          type_to_confirm=self.name,
                          params={"from": pick.name} | ({"to": str(to)} if to else {}))

    def _pick(self, snapshot: DirBackupSnapshot | None, chosen: str | None) -> BackupFile:
        backups = archive.list_backups(self.config)
        if chosen is None:
            newest = next((b for b in backups if b.verified), None)
            if newest is None:
                raise BackupError(f"no verified backup of {self.name} in {self.config.dir}")
            return newest
        wanted = Path(chosen)
        for backup in backups:
            if wanted.name == backup.name and (not wanted.is_absolute()
                                               or str(wanted.parent) == self.config.dir):
                return backup
        raise BackupError(f"{chosen}: not a backup of {self.name} in {self.config.dir} "
                          "(name one of its NAME-YYYYmmddTHHMMSSZ.tar.gz files)")


def _refused(reason: str) -> Any:
    async def run(progress: Progress) -> ActionOutcome:
        raise ActionFailed(reason)
    return run


KIND = BackendKind(section="backup", parse=parse, build=build, validate=validate)
