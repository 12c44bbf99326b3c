"""Private, durable files: 0600 files and 0700 dirs whatever the umask, never via a symlink.

A backup is written under a temporary name, its sidecars are written atomically, and only
then is it renamed to its final name and the directory synced, so a crash at any moment
leaves either the complete file or a temporary that does not look like one. Every file the
console creates is opened with O_NOFOLLOW (and O_EXCL when it must be new), so a link
planted by another user never redirects a write onto a file of root's.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from console.core.errors import ConfigError

PART = ".part"
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) 0700; an existing dir is left as it is."""
    missing = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for created in missing:
        os.chmod(created, DIR_MODE)  # mkdir's mode is cut by the umask; make it exact
    return path


def open_private(path: Path, flags: int, *, new: bool = False) -> int:
    """A file descriptor on `path`, created 0600, never through a symlink (`new`: O_EXCL)."""
    flags |= os.O_NOFOLLOW | os.O_CLOEXEC | os.O_CREAT | (os.O_EXCL if new else 0)
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(exc.errno, f"{path} is a symbolic link; refusing to follow it") \
                from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EISDIR, f"{path} is not a regular file")
        if stat.S_IMODE(info.st_mode) != FILE_MODE and info.st_uid == os.geteuid():
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_state_dir(path: Path) -> Path:
    """Create the state dir 0700, or refuse one another user could tamper with.

    It holds the audit log, the locks and the plans of actions run as root: a dir owned by
    someone else, or writable by group or others, lets them plant links or records there.
    """
    private_dir(path)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"state dir {path} is not a directory (a symlink?): remove it or "
                          "set [console] state_dir")
    if info.st_uid != os.geteuid():
        raise ConfigError(f"state dir {path} belongs to uid {info.st_uid}, not to this user "
                          f"(uid {os.geteuid()}): chown {os.geteuid()} {path} or set "
                          "[console] state_dir")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(f"state dir {path} is writable by other users: chmod 700 {path}")
    return path


def fsync_directory(directory: Path) -> None:
    """Make renames and new names in `directory` survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checksum_line(digest: str, name: str) -> str:
    """A sha256 sidecar's content, in `sha256sum` format (`sha256sum -c` can check it)."""
    return f"{digest}  {name}\n"


def write_durably(path: Path, text: str, temporary: Path | None = None) -> None:
    """Write a small file atomically: to `temporary` (default `path` + .part), fsync, rename."""
    temporary = temporary or path.with_name(path.name + PART)
    try:
        os.unlink(temporary)  # a leftover (or a planted link) is replaced, never followed
    except FileNotFoundError:
        pass
    fd = open_private(temporary, os.O_WRONLY, new=True)
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def remove_durably(path: Path) -> None:
    """Remove a small file (a record of work in progress) so that its removal survives a
    crash; one already gone is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    fsync_directory(path.parent)


def publish(part: Path, final: Path) -> None:
    """Give a finished, synced file its final name, and sync the directory holding it."""
    os.replace(part, final)
    fsync_directory(final.parent)


CHECKSUM = ".sha256"  # beside an archive: "<sha256 hex>  <name>", as sha256sum writes it


def recorded_checksum(path: Path) -> str | None:
    """The sha256 recorded beside an archive (`NAME.sha256`), or None when there is none."""
    try:
        text = Path(str(path) + CHECKSUM).read_text(errors="replace")
    except OSError:
        return None
    digest = text.split(maxsplit=1)[0] if text.strip() else ""
    return digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None


def unused_name(directory: Path, stem: str, suffix: str) -> str:
    """`STEM SUFFIX`, else `STEM-2 SUFFIX`, `STEM-3 SUFFIX`...: the first name no file in
    `directory` uses yet, as an archive, a partial file or a sidecar.

    Two backups started within the same second must not share a name: the second would
    overwrite the first's sidecars before its own archive is ready.
    """
    try:
        present = [entry.lstrip(".") for entry in os.listdir(directory)]
    except FileNotFoundError:
        present = []
    number = 1
    while True:
        name = f"{stem}{suffix}" if number == 1 else f"{stem}-{number}{suffix}"
        if not any(entry == name or entry.startswith(name + ".") for entry in present):
            return name
        number += 1


def remove_leftovers(directory: Path, archive: re.Pattern[str]) -> list[str]:
    """Remove what interrupted backups of one entry left in `directory`; the names removed.

    That is every partial file (`NAME.part` or `.NAME.part`) and every sidecar
    (`NAME.sha256`, `NAME.json`) whose archive was never published. `archive` matches exactly
    the entry's archive names, so entry `app` never takes `app-data`'s files. The caller holds
    the target's lock: no live run of the entry is writing here.
    """
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return []
    present = set(entries)
    removed = []
    for entry in sorted(entries):
        bare = entry.removesuffix(PART)
        partial = bare != entry
        if partial:
            bare = bare.removeprefix(".")
        if archive.fullmatch(bare):
            published = True
        else:
            head, dot, _ = bare.rpartition(".")
            if not dot or not archive.fullmatch(head):
                continue
            published = head in present
        if partial or not published:
            try:
                os.unlink(directory / entry)
            except FileNotFoundError:
                continue
            removed.append(entry)
    if removed:
        fsync_directory(directory)
    return removed
