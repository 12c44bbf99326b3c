"""Reading crontabs into jobs with python-crontab (schedules checked and stepped by croniter).

Each line is handed to python-crontab on its own, so every job keeps its file and line
number: its target is `cron:FILE:LINE` (`cron:backup:3` for line 3 of /etc/cron.d/backup).
Files under a `crontabs` spool directory are user crontabs (no user field, the file's name
is the user); the others are system crontabs with a user field, as cron reads them.
"""

from __future__ import annotations

import glob
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from console.core.loglines import printable

# cron itself skips /etc/cron.d files whose names are not run-parts names (backup.dpkg-old...)
RUN_PARTS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
DEFAULT_CRONTABS = ("/etc/crontab", "/etc/cron.d/*", "/var/spool/cron/crontabs/*")
_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CronJob:
    """One crontab line that cron would run."""

    name: str  # `FILE:LINE`, or the name given in config
    file: str
    line: int
    schedule: str  # as written: `*/5 * * * *`, `@daily`
    user: str
    command: str  # as cron logs it (CMD (...)): everything after the user field
    shell_command: str = ""  # what cron hands to the shell (before a `%`)
    stdin: str = ""  # what follows the first `%`, fed to the command's stdin
    reboot: bool = False

    @property
    def target(self) -> str:
        return f"cron:{self.name}"

    def previous_run(self, now: datetime) -> datetime | None:
        """The latest scheduled time at or before `now` (None for @reboot)."""
        if self.reboot:
            return None
        from croniter import croniter

        return croniter(self.schedule, now).get_prev(datetime)  # type: ignore[no-any-return]

    def next_run(self, now: datetime) -> datetime | None:
        if self.reboot:
            return None
        from croniter import croniter

        return croniter(self.schedule, now).get_next(datetime)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class TabProblem:
    file: str
    message: str


def expand(patterns: tuple[str, ...]) -> list[str]:
    """The crontab files the patterns name; a glob skips names cron itself would skip."""
    files: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(p for p in glob.glob(pattern)
                           if Path(p).is_file() and RUN_PARTS_NAME.match(Path(p).name))
        else:
            found = [pattern] if Path(pattern).exists() else []
        files.extend(f for f in found if f not in files)
    return files


def is_user_crontab(path: str) -> bool:
    return Path(path).parent.name == "crontabs"


def read_file(path: str) -> tuple[list[CronJob], list[TabProblem]]:
    """The jobs of one crontab file, and the lines cron would reject."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_BYTES)
    except OSError as exc:
        return [], [TabProblem(path, f"cannot read {path}: {exc.strerror or exc}")]
    from crontab import CronTab  # here, so discovery's import of this module stays cheap

    # python-crontab logs a bad line to stderr; the caller reports it as a problem instead
    logging.getLogger("crontab").addHandler(logging.NullHandler())
    logging.getLogger("crontab").propagate = False

    user_tab = is_user_crontab(path)
    owner = Path(path).name if user_tab else None
    base = Path(path).name
    jobs: list[CronJob] = []
    problems: list[TabProblem] = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or _is_assignment(line):
            continue
        tab = CronTab(tab=line, user=owner if user_tab else False)
        items = list(tab)
        item = items[0] if items else None
        if item is None or not item.is_valid() or not item.is_enabled():
            problems.append(TabProblem(path, f"{base}:{number}: cron cannot read this line: "
                                             f"{printable(line, 200)}"))
            continue
        schedule = item.slices.render()
        user = owner if user_tab else str(item.user)
        jobs.append(CronJob(f"{base}:{number}", path, number, schedule, str(user),
                            printable(_command_as_written(line, str(item.command)), 1000),
                            str(item.command), str(getattr(item, "stdin", "") or ""),
                            reboot=schedule == "@reboot"))
    return jobs, problems


def _is_assignment(line: str) -> bool:
    """`SHELL=/bin/sh`, `MAILTO=""`: an environment line, not a job."""
    name, sep, _ = line.partition("=")
    return bool(sep) and " " not in name.strip() and not name[:1].isdigit() and name[:1] not in "*@"


def _command_as_written(line: str, parsed: str) -> str:
    """The command as cron runs and logs it: python-crontab cuts it at ` #` and `%`."""
    start = line.find(parsed) if parsed else -1
    return line[start:].strip() if start >= 0 else parsed
