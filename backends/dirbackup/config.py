"""`[[backup]]` entries: which directories and files go into one archive, where, how many kept."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class DirBackupConfig:
    name: str
    paths: tuple[str, ...]  # absolute, normalised; each is archived under its own path
    excludes: tuple[str, ...]  # globs matched against full paths and base names
    dir: str
    keep: int
    keep_days: float | None  # in seconds (configured in days): younger backups are kept too
    before: tuple[tuple[str, ...], ...]
    after: tuple[tuple[str, ...], ...]
    max_age: float | None  # WARNING when the newest verified backup is older
    command_timeout: float
    interval: float


def parse(table: Table) -> DirBackupConfig:
    name = table.name()
    table.check(bool(_NAME.match(name)), "name",
                "use letters, digits, '.', '_' and '-' (it names the backup files)")
    paths = table.str_list("paths")
    table.check(bool(paths), "paths", 'needs at least one path, such as ["/opt/app/media"]')
    for path in paths:
        table.check(path.startswith("/") and posixpath.normpath(path) != "/", "paths",
                    f"{path!r} must be an absolute path below / (not / itself)")
    normal = tuple(posixpath.normpath(p) for p in paths)
    table.check(len(set(normal)) == len(normal), "paths", "lists a path twice")
    for path in normal:
        inside = [other for other in normal if other != path and other.startswith(path + "/")]
        table.check(not inside, "paths", f"{inside[0] if inside else ''!r} is inside {path!r}: "
                                         "list the outer one only")
    directory = table.text("dir", what="an absolute directory for the archives")
    table.check(directory.startswith("/"), "dir", "must be an absolute path")
    keep_days = table.number("keep_days", None, minimum=0)
    config = DirBackupConfig(
        name=name, paths=normal, excludes=tuple(table.str_list("excludes", [])),
        dir=posixpath.normpath(directory), keep=table.integer("keep", 7, minimum=1),
        keep_days=None if keep_days is None else keep_days * 86400.0,
        before=tuple(tuple(c) for c in table.argv_list("before", [])),
        after=tuple(tuple(c) for c in table.argv_list("after", [])),
        max_age=table.duration("max_age", None),
        command_timeout=table.duration("command_timeout", 300.0),
        interval=table.duration("interval", 60.0))
    for path in normal:
        table.check(not (config.dir + "/").startswith(path + "/"), "dir",
                    f"is inside {path!r}, which is backed up: put the archives elsewhere")
    table.done()
    return config


def validate(entries: list[DirBackupConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("backup", [entry.name for entry in entries])
