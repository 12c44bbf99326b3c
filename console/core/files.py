"""Finishing files durably: fsync, atomic small writes, sha256 sidecars, publishing a .part file.

A backup is written under a temporary name, its sidecars are written atomically, and only
then is it renamed to its final name and the directory synced, so a crash at any moment
leaves either the complete file or a temporary that does not look like one.
"""

from __future__ import annotations

import os
from pathlib import Path

PART = ".part"


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
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def publish(part: Path, final: Path) -> None:
    """Give a finished, synced file its final name, and sync the directory holding it."""
    os.replace(part, final)
    fsync_directory(final.parent)
