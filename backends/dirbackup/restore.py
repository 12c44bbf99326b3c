"""Putting an archive's paths back: in their original places, or under another directory.

The archive is verified first (its .sha256, then read in full). Every path is unpacked beside
its destination (`.NAME.opsconsole-restore-new`, same file system); only when all of them are
unpacked is each destination's old content moved aside (`.NAME.opsconsole-restore-old`) and
the new one renamed into place. The old content is deleted once every path is in place; if a
swap fails, the paths already swapped get their old content back.

A restore killed in the middle of its swap is undone by the next one: before swapping, a
record of every destination (and whether it had content) is written in the backup
directory; the old contents are renamed `.NAME.opsconsole-restore-done` once all paths are in
place, and removing the record is the moment the restore counts as done. A record found
later puts every listed path back as it was; `-done` content without a record is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from backends.dirbackup.archive import BackupError, BackupFile, Log, verify
from backends.dirbackup.config import DirBackupConfig
from console.core.files import fsync_directory, private_dir, remove_durably, write_durably

NEW = ".opsconsole-restore-new"
OLD = ".opsconsole-restore-old"
DONE = ".opsconsole-restore-done"
RECORD = ".opsconsole-restore-swap"  # `.NAME` + this, in the backup directory


@dataclass
class _Staged:
    arcname: str
    dest: Path
    stage: Path

    @property
    def old(self) -> Path:
        return self.dest.parent / f".{self.dest.name}{OLD}"

    @property
    def done(self) -> Path:
        return self.dest.parent / f".{self.dest.name}{DONE}"

    @property
    def unpacked(self) -> Path:
        return self.stage / self.arcname


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def restore(config: DirBackupConfig, backup: BackupFile, to: str | None, log: Log) -> list[str]:
    """Restore `backup`; returns the destinations written. Raises BackupError."""
    undo_interrupted(config, log)
    log(f"verifying {backup.name}")
    verify(backup)
    root = Path(to) if to else Path("/")
    with tarfile.open(backup.path, "r:gz") as tar:
        names = tar.getnames()
    tops = [p.lstrip("/") for p in config.paths
            if any(n == p.lstrip("/") or n.startswith(p.lstrip("/") + "/") for n in names)]
    if not tops:
        raise BackupError(f"{backup.name} holds none of {', '.join(config.paths)}")
    staged: list[_Staged] = []
    try:
        for arcname in tops:
            dest = root / arcname
            private_dir(dest.parent)
            item = _Staged(arcname, dest, dest.parent / f".{dest.name}{NEW}")
            if os.path.lexists(item.old):
                raise BackupError(f"an earlier restore was interrupted: the previous content of "
                                  f"{dest} is in {item.old}; move it back or delete it, then "
                                  "retry")
            if os.path.lexists(item.done):
                _remove(item.done)
                log(f"removed {item.done}, the previous content of {dest} left by a restore "
                    "that had finished")
            _remove(item.stage)  # left by an earlier run that failed while unpacking
            item.stage.mkdir(mode=0o700)
            staged.append(item)
            log(f"unpacking {'/' + arcname} beside {dest}")
            with tarfile.open(backup.path, "r:gz") as tar:
                members = [m for m in tar.getmembers()
                           if m.name == arcname or m.name.startswith(arcname + "/")]
                tar.extractall(item.stage, members=members, filter="tar")
        record = _record_path(config)
        write_durably(record, json.dumps([{"dest": str(item.dest),
                                           "had_old": os.path.lexists(item.dest)}
                                          for item in staged]))
        try:
            swapped = _swap(staged)
        except OSError:
            remove_durably(record)
            raise
        _commit(swapped, record, log)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"restore from {backup.name} failed ({exc}); nothing was replaced "
                          "that was not put back") from None
    finally:
        for item in staged:
            _remove(item.stage)
    return [str(item.dest) for item in staged]


def _record_path(config: DirBackupConfig) -> Path:
    return Path(config.dir) / f".{config.name}{RECORD}"


def _swap(staged: list[_Staged]) -> list[tuple[_Staged, bool]]:
    """Move each old content aside and the new one in; on a failure, put back what was
    swapped and raise. Returns (item, had old content) for every path."""
    done: list[tuple[_Staged, bool]] = []
    try:
        for item in staged:
            had_old = os.path.lexists(item.dest)
            if had_old:
                os.rename(item.dest, item.old)
            try:
                os.rename(item.unpacked, item.dest)
            except OSError:
                if had_old:
                    os.rename(item.old, item.dest)
                raise
            done.append((item, had_old))
            fsync_directory(item.dest.parent)
    except OSError:
        for item, had_old in reversed(done):  # put back what was already swapped
            os.rename(item.dest, item.unpacked)
            if had_old:
                os.rename(item.old, item.dest)
        raise
    return done


def _commit(swapped: list[tuple[_Staged, bool]], record: Path, log: Log) -> None:
    """Every path is in place: mark the old contents done, remove the record (from here on
    the restore counts as done), then delete the old contents."""
    for item, had_old in swapped:
        if had_old:
            os.rename(item.old, item.done)
            fsync_directory(item.dest.parent)
    remove_durably(record)
    for item, had_old in swapped:
        log(f"restored {item.dest}" + (" (its previous content was replaced)" if had_old else ""))
        if had_old:
            _remove(item.done)


def _swap_record(config: DirBackupConfig) -> list[tuple[Path, bool]] | None:
    """(destination, had content) of each path of a restore killed during its swap; None
    when there was none. Raises ValueError (or OSError) when the record cannot be read."""
    try:
        entries = json.loads(_record_path(config).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    try:
        return [(Path(entry["dest"]), bool(entry["had_old"])) for entry in entries]
    except (TypeError, KeyError) as exc:
        raise ValueError(f"not a list of paths ({exc})") from None


def interrupted(config: DirBackupConfig) -> list[str]:
    """The destinations of a restore killed during its swap (none when there was none)."""
    try:
        return [str(dest) for dest, _ in _swap_record(config) or []]
    except (OSError, ValueError):
        return [str(_record_path(config))]


def undo_interrupted(config: DirBackupConfig, log: Log) -> None:
    """Put every path a restore killed during its swap had listed back as it was before."""
    record = _record_path(config)
    try:
        entries = _swap_record(config)
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read {record}, left by an interrupted restore: {exc}; "
                          "check the restored paths by hand, then delete it") from None
    if entries is None:
        return
    for dest, had_old in entries:
        item = _Staged("", dest, dest)
        aside = next((p for p in (item.old, item.done) if os.path.lexists(p)), None)
        if had_old and aside is not None:
            _remove(dest)  # the new content, when its rename had happened
            os.rename(aside, dest)
            log(f"put back the previous content of {dest}, moved aside by an interrupted "
                "restore")
        elif not had_old and os.path.lexists(dest):
            _remove(dest)
            log(f"removed {dest}, put there by an interrupted restore")
        fsync_directory(dest.parent)
    remove_durably(record)
