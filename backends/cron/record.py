"""cron's own record of its runs: the CRON lines journald (or syslog through it) keeps.

One `journalctl SYSLOG_IDENTIFIER=CRON --since=@T -o json` call per poll, with a timeout.
Every line of one run comes from the same CRON process, so lines are grouped by that PID:
`(user) CMD (command)` starts a run; `(CRON) error (grandchild #N failed with exit status S)`
says it failed (cron logs it with `-L 4`); `(user) END (command)` says it ended (`-L 2`).
With `-L 8` the command carries the job's PID as `[N] command`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from console.core.errors import ConsoleError
from console.core.journalctl import journal_output
from console.core.loglines import printable

_JOB_LINE = re.compile(r"^\((?P<user>[^)]*)\) (?P<what>CMD|END) \((?:\[(?P<pid>\d+)\] )?"
                       r"(?P<command>.*)\)$", re.S)
_FAILED = re.compile(r"^\(CRON\) error \(grandchild #(?P<pid>\d+) failed with exit status "
                     r"(?P<status>\d+)\)")
_DISCARDED = "No MTA installed, discarding output"


@dataclass(frozen=True)
class Run:
    """One run of a job as cron recorded it."""

    started: float
    user: str
    command: str
    ended: bool = False
    exit_status: int | None = None  # None: cron logged no failure
    output_discarded: bool = False

    @property
    def failed(self) -> bool:
        return self.exit_status is not None and self.exit_status != 0


def parse_runs(entries: list[dict[str, object]]) -> list[Run]:
    """Runs from journal entries (MESSAGE, SYSLOG_PID/_PID, __REALTIME_TIMESTAMP), oldest first."""
    runs: list[dict[str, object]] = []
    current: dict[str, dict[str, object]] = {}  # a CRON PID's latest run (PIDs are reused)
    for entry in entries:
        message = entry.get("MESSAGE")
        if not isinstance(message, str):
            continue
        pid = str(entry.get("SYSLOG_PID") or entry.get("_PID") or "")
        try:
            ts = int(str(entry.get("__REALTIME_TIMESTAMP"))) / 1e6
        except ValueError:
            continue
        job = _JOB_LINE.match(message)
        if job and job["what"] == "CMD":
            current[pid] = {"started": ts, "user": job["user"], "command": job["command"]}
            runs.append(current[pid])
            continue
        run = current.get(pid)
        if run is None:
            continue
        if job and job["what"] == "END":
            run["ended"] = True
        elif failed := _FAILED.match(message):
            run["exit_status"] = int(failed["status"])
            run["ended"] = True
        elif _DISCARDED in message:
            run["output_discarded"] = True
    found = [Run(float(str(run["started"])), printable(str(run["user"]), 100),
                 printable(str(run["command"]), 1000), bool(run.get("ended")),
                 _int_or_none(run.get("exit_status")), bool(run.get("output_discarded")))
             for run in runs]
    return sorted(found, key=lambda r: r.started)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


SYSTEM_JOURNALS = (Path("/var/log/journal"), Path("/run/log/journal"))


def has_journal(journal_dir: Path | None) -> bool:
    """Whether there are journal files to read (journalctl says nothing when there are none)."""
    for root in (journal_dir,) if journal_dir is not None else SYSTEM_JOURNALS:
        if root.is_dir() and (any(root.glob("*.journal")) or any(root.glob("*/*.journal"))):
            return True
    return False


async def read_runs(journal_dir: Path | None, since: float, timeout: float) -> list[Run]:
    """The runs cron recorded since `since` (Unix time)."""
    if not await asyncio.to_thread(has_journal, journal_dir):
        where = journal_dir or " or ".join(map(str, SYSTEM_JOURNALS))
        raise ConsoleError(f"no journal files in {where}: cron's runs cannot be read "
                           "(set journal_dir, or run journald)")
    args = ["journalctl", "--no-pager", "-o", "json",
            "--output-fields=MESSAGE,SYSLOG_PID,_PID", f"--since=@{int(since)}",
            "SYSLOG_IDENTIFIER=CRON"]
    if journal_dir is not None:
        args.insert(1, f"--directory={journal_dir}")
    out = await journal_output(args, timeout, "cron's record is read from the journal; "
                                              "install systemd's journalctl")
    entries = []
    for raw in out.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(raw)
            if isinstance(entry, dict):
                entries.append(entry)
    return parse_runs(entries)
