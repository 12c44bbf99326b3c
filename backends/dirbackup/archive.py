"""Writing, verifying, listing and pruning the tar.gz archives of one `[[backup]]` entry.

An archive is `NAME-YYYYmmddTHHMMSSZ.tar.gz` with a `.sha256` beside it (sha256sum format).
It is written to `.NAME-....tar.gz.part`, fsynced, read back in full (every member, so the
gzip checksums are checked too), and only then given its checksum file and its final name:
an interrupted or failed backup leaves nothing that looks complete. The checksum file is
written only for an archive that read back whole, so "has a .sha256" means "verified".
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from backends.dirbackup.config import DirBackupConfig
from console.core.files import (
    PART,
    checksum_line,
    fsync_directory,
    private_dir,
    publish,
    recorded_checksum,
    remove_leftovers,
    unused_name,
)

SUFFIX = ".tar.gz"
CHECKSUM = ".sha256"
_CHUNK = 1 << 20
_STAMP = r"\d{8}T\d{6}Z(?:-\d+)?"

Log = Callable[[str], None]


class BackupError(Exception):
    """A backup, verification or restore failed; the text says why and what was left."""


@dataclass(frozen=True)
class BackupFile:
    name: str
    path: str
    size: int
    created: float
    checksum: str | None  # recorded sha256; None: not verified (no .sha256 beside it)

    @property
    def verified(self) -> bool:
        return self.checksum is not None


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(name)}-{_STAMP}{re.escape(SUFFIX)}$")


def list_backups(config: DirBackupConfig) -> list[BackupFile]:
    """This entry's archives, newest first (no .part files: those are unfinished)."""
    pattern = _pattern(config.name)
    found = []
    try:
        entries = list(os.scandir(config.dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        if pattern.match(entry.name) and entry.is_file(follow_symlinks=False):
            stat = entry.stat()
            found.append(BackupFile(entry.name, entry.path, stat.st_size, stat.st_mtime,
                                    recorded_checksum(Path(entry.path))))
    found.sort(key=lambda b: (b.created, b.name), reverse=True)
    return found


def _new_name(config: DirBackupConfig, now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return unused_name(Path(config.dir), f"{config.name}-{stamp}", SUFFIX)


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self, doing: str) -> None:
        if time.monotonic() > self.at:
            raise BackupError(f"{doing} took longer than {self.seconds:g}s and was stopped")


def _open_private(path: Path) -> IO[bytes]:
    """A new file only the console's user can read (0600), never an existing one."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def write_backup(config: DirBackupConfig, log: Log, timeout: float) -> BackupFile:
    """Archive the entry's paths, verify the archive, publish it; raise BackupError on failure."""
    for path in config.paths:
        if not os.path.lexists(path):
            raise BackupError(f"{path} does not exist: nothing was written")
    directory = Path(config.dir)
    private_dir(directory)
    for stale in remove_leftovers(directory, _pattern(config.name)):
        log(f"removed {stale} left by an interrupted backup")
    name = _new_name(config, time.time())
    final = directory / name
    part = directory / f".{name}{PART}"
    sidecar = Path(str(final) + CHECKSUM)
    deadline = _Deadline(timeout)
    written = 0

    def keep(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
        nonlocal written
        deadline.check("the backup")
        full = "/" + member.name
        if any(fnmatch.fnmatchcase(full, p) or fnmatch.fnmatchcase(full.rsplit("/", 1)[-1], p)
               for p in config.excludes):
            return None
        written += 1
        return member

    try:
        with _open_private(part) as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                for path in config.paths:
                    log(f"adding {path}")
                    tar.add(path, arcname=path.lstrip("/"), recursive=True, filter=keep)
            raw.flush()
            os.fsync(raw.fileno())
        log(f"wrote {part.name}: {written} entries, {part.stat().st_size} bytes; reading it back")
        digest, members = read_back(part, deadline)
        if members != written:
            raise BackupError(f"read back {members} entries of the {written} written")
        with _open_private(Path(str(sidecar) + PART)) as handle:
            handle.write(checksum_line(digest, name).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(str(sidecar) + PART, sidecar)
        publish(part, final)
    except BaseException as exc:
        for leftover in (part, Path(str(sidecar) + PART), sidecar):
            leftover.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BackupError(f"writing {name} failed ({exc.strerror or exc}): nothing was "
                              f"kept") from None
        raise
    log(f"verified {name} (sha256 {digest[:12]}…) and published it")
    return BackupFile(name, str(final), final.stat().st_size, final.stat().st_mtime, digest)


class _Hashing:
    """A file reader that hashes what passes through it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def read_back(path: Path, deadline: _Deadline | None = None) -> tuple[str, int]:
    """(sha256 of the file, number of entries), reading every member's data in full."""
    members = 0
    with open(path, "rb") as handle:
        reader = _Hashing(handle)
        try:
            with tarfile.open(fileobj=reader, mode="r|gz") as tar:  # type: ignore[call-overload]
                for member in tar:
                    members += 1
                    if deadline is not None:
                        deadline.check("reading the archive back")
                    if member.isfile():
                        data = tar.extractfile(member)
                        while data is not None and data.read(_CHUNK):
                            pass
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BackupError(f"{path.name} does not read back: {exc}") from None
        while reader.read(_CHUNK):  # whatever follows the last member counts too
            pass
    return reader.digest.hexdigest(), members


def verify(backup: BackupFile) -> None:
    """Raise BackupError unless the archive matches its .sha256 and reads back whole."""
    if backup.checksum is None:
        raise BackupError(f"{backup.name} has no {CHECKSUM} file: it was never verified")
    digest, _ = read_back(Path(backup.path))
    if digest != backup.checksum:
        raise BackupError(f"{backup.name} is corrupt: its sha256 differs from {backup.name}"
                          f"{CHECKSUM}")


def apply_retention(config: DirBackupConfig, now: float | None = None) -> list[str]:
    """Delete verified archives beyond `keep` and older than `keep_days`; never the newest
    verified one. Unverified archives are left for a person to look at. Returns the names."""
    now = time.time() if now is None else now
    verified = [b for b in list_backups(config) if b.verified]
    removed = []
    for index, backup in enumerate(verified):
        if index == 0 or index < config.keep:
            continue
        if config.keep_days is not None and now - backup.created < config.keep_days:
            continue
        Path(backup.path).unlink(missing_ok=True)
        Path(backup.path + CHECKSUM).unlink(missing_ok=True)
        removed.append(backup.name)
    if removed:
        fsync_directory(Path(config.dir))
    return removed
