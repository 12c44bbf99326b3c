"""The backup catalogue of a directory and the retention rule that prunes it.

A backup is `NAME-YYYYmmddTHHMMSSZ.dump` with its `.sha256` sidecar and `.json` manifest.
Retention deletes backups older than `keep_days`, but never the newest verified one and
never so many that fewer than `keep_min` remain.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

from backends.postgres.snapshot import BackupInfo
from console.core.files import remove_leftovers, unused_name

SUFFIX = ".dump"
PART = ".part"
_STAMP = "%Y%m%dT%H%M%SZ"


def backup_name(name: str, started: float) -> str:
    return f"{name}-{time.strftime(_STAMP, time.gmtime(started))}{SUFFIX}"


def new_backup_name(directory: Path, name: str, started: float) -> str:
    """`backup_name`, with `-2`, `-3`... when a backup of the same second is there."""
    return unused_name(directory, f"{name}-{time.strftime(_STAMP, time.gmtime(started))}",
                       SUFFIX)


def _archive_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"-(\d{8}T\d{6}Z)(?:-(\d+))?" + re.escape(SUFFIX))


def sidecars(path: Path) -> tuple[Path, Path]:
    """The sha256 sidecar and the JSON manifest of a backup file."""
    return path.with_name(path.name + ".sha256"), path.with_name(path.name + ".json")


def read_manifest(path: Path) -> dict[str, object] | None:
    try:
        document = json.loads(sidecars(path)[1].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def list_backups(directory: Path, name: str) -> tuple[BackupInfo, ...]:
    """Every finished backup of `name` in `directory`, newest first."""
    pattern = _archive_pattern(name)
    found: list[tuple[int, BackupInfo]] = []  # with the -N of backups of one second
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return ()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if not match or not entry.is_file():
            continue
        path = Path(entry.path)
        started = float(calendar.timegm(time.strptime(match.group(1), _STAMP)))
        manifest = read_manifest(path)
        verified = bool(manifest and manifest.get("verified") is True)
        note = "" if manifest else "no manifest"
        found.append((int(match.group(2) or 1),
                      BackupInfo(str(path), started, entry.stat().st_size, verified,
                                 str(manifest.get("sha256", "")) if manifest else "", note)))
    found.sort(key=lambda item: (item[1].started, item[0]), reverse=True)
    return tuple(backup for _, backup in found)


def newest_verified(backups: Sequence[BackupInfo]) -> BackupInfo | None:
    return next((b for b in backups if b.verified), None)


def expired(backups: Sequence[BackupInfo], keep_days: float, keep_min: int,
            now: float | None = None) -> list[BackupInfo]:
    """The backups retention would delete (newest-first input)."""
    now = time.time() if now is None else now
    ordered = sorted(backups, key=lambda b: b.started, reverse=True)
    protected = newest_verified(ordered)
    doomed: list[BackupInfo] = []
    remaining = len(ordered)
    for backup in reversed(ordered):  # oldest first
        if remaining <= keep_min:
            break
        if backup is protected or now - backup.started <= keep_days:
            continue
        doomed.append(backup)
        remaining -= 1
    return doomed


def delete_backup(path: Path) -> None:
    for file in (*sidecars(path), path):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


def apply_retention(directory: Path, name: str, keep_days: float, keep_min: int) -> list[str]:
    """Delete what `expired` picks; returns the deleted file names."""
    doomed = expired(list_backups(directory, name), keep_days, keep_min)
    for backup in doomed:
        delete_backup(Path(backup.path))
    return [Path(b.path).name for b in doomed]


def remove_stale_parts(directory: Path, name: str) -> list[str]:
    """Partial files and orphaned sidecars left by a backup that was killed (the target lock
    rules out a live one)."""
    return remove_leftovers(directory, _archive_pattern(name))
