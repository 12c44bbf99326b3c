"""Putting an archive's paths back: in their original places, or under another directory.

The archive is verified first (its .sha256, then read in full). Every path is unpacked beside
its destination (`.NAME.opsconsole-restore-new`, same file system); only when all of them are
unpacked is each destination's old content moved aside (`.NAME.opsconsole-restore-old`) and
the new one renamed into place. The old content is deleted once every path is in place; if a
swap fails, the paths already swapped get their old content back.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from backends.dirbackup.archive import BackupError, BackupFile, Log, verify
from backends.dirbackup.config import DirBackupConfig
from console.core.files import fsync_directory, private_dir

NEW = ".opsconsole-restore-new"
OLD = ".opsconsole-restore-old"


@dataclass
class _Staged:
    arcname: str
    dest: Path
    stage: Path

    @property
    def old(self) -> Path:
        return self.dest.parent / f".{self.dest.name}{OLD}"

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
            _remove(item.stage)  # left by an earlier run that failed while unpacking
            item.stage.mkdir(mode=0o700)
            staged.append(item)
            log(f"unpacking {'/' + arcname} beside {dest}")
            with tarfile.open(backup.path, "r:gz") as tar:
                members = [m for m in tar.getmembers()
                           if m.name == arcname or m.name.startswith(arcname + "/")]
                tar.extractall(item.stage, members=members, filter="tar")
        _swap(staged, log)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"restore from {backup.name} failed ({exc}); nothing was replaced "
                          "that was not put back") from None
    finally:
        for item in staged:
            _remove(item.stage)
    return [str(item.dest) for item in staged]


def _swap(staged: list[_Staged], log: Log) -> None:
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
    for item, had_old in done:
        log(f"restored {item.dest}" + (" (its previous content was replaced)" if had_old else ""))
        if had_old:
            _remove(item.old)
