"""A unit's journal: the last lines at once, then new lines as they are written.

Runs `journalctl --unit=NAME -o json` (with `--directory` for a journal kept elsewhere) as a
child process with an argument list, and turns each entry into a `LogLine` with its
priority as the level. Following (`JournalLineSource`) reads whatever whole chunks of
output are waiting, without blocking, so thousands of lines a second cost a few reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

from backends.systemd.config import UNIT_NAME
from console.core.errors import ConsoleError
from console.core.journalctl import journal_output
from console.core.loglines import LastTime, LogLine, printable

LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_FIELDS = "MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,_PID"
_CHUNK = 256 * 1024

_MAX_READ = 4 * 1024 * 1024  # per read, so one busy journal cannot starve the others


RESTART_SCHEDULED = "5eb03494b6584870a536b337290809b3"  # systemd: "Scheduled restart job"
_ERROR_WORDS = re.compile(r"error|fatal|exception|traceback|fail|denied|refused|cannot|can't|"
                          r"not found|no such|missing|invalid|killed|panic", re.IGNORECASE)
_MAX_ENTRIES = 100_000  # a window's restart records read at most


def run_journalctl(args: list[str], timeout: float) -> list[dict[str, object]]:
    """journalctl's JSON entries (blocking: call it from a thread)."""
    try:
        done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
    except OSError as exc:
        raise _missing(exc) from None
    except subprocess.TimeoutExpired:
        raise ConsoleError(f"journalctl gave no answer within {timeout:g}s") from None
    entries = []
    for raw in done.stdout.splitlines()[:_MAX_ENTRIES]:
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def restart_times(units: list[str], since: float, journal_dir: Path | None,
                  timeout: float) -> dict[str, list[float]]:
    """When systemd scheduled an automatic restart of each unit since `since`, from its
    journal: the system's own record, so a first poll sees a crash loop that began before."""
    args = ["journalctl", "--no-pager", "-o", "json", "--output-fields=UNIT",
            f"--since=@{int(since)}", f"MESSAGE_ID={RESTART_SCHEDULED}"]
    if journal_dir is not None:
        args.append(f"--directory={journal_dir}")
    wanted = set(units)
    times: dict[str, list[float]] = {}
    for entry in run_journalctl(args, timeout):
        unit = entry.get("UNIT")
        stamp = entry.get("__REALTIME_TIMESTAMP")
        if isinstance(unit, str) and unit in wanted and isinstance(stamp, str) and stamp.isdigit():
            times.setdefault(unit, []).append(int(stamp) / 1e6)
    return times


def last_error_line(unit: str, journal_dir: Path | None, timeout: float) -> str | None:
    """The line of a unit's recent journal that most likely says why it failed.

    The unit's own output is preferred (the last line that reads like an error, else its
    last line); without any, systemd's own last word on it ("Main process exited ...").
    """
    if not UNIT_NAME.match(unit):
        return None
    args = ["journalctl", "--no-pager", "-o", "json", "--output-fields=MESSAGE,_PID",
            "--lines=40", f"--unit={unit}"]
    if journal_dir is not None:
        args.append(f"--directory={journal_dir}")
    own: list[str] = []
    systemd: list[str] = []
    for entry in run_journalctl(args, timeout):
        message = entry.get("MESSAGE")
        if not isinstance(message, str) or not message.strip():
            continue
        (systemd if entry.get("_PID") == "1" else own).append(printable(message.strip(), 300))
    errors = [line for line in own if _ERROR_WORDS.search(line)]
    if errors or own:
        return (errors or own)[-1]
    exited = [line for line in systemd if "exited" in line]
    failed = [line for line in systemd if "Failed" in line]
    chosen = exited or failed or systemd
    return chosen[-1] if chosen else None


def journal_args(unit: str, journal_dir: Path | None, lines: int, follow: bool) -> list[str]:
    if not UNIT_NAME.match(unit):
        raise ConsoleError(f"{unit!r} is not a unit name")
    args = ["journalctl", "--no-pager", "-o", "json", f"--output-fields={_FIELDS}",
            f"--lines={lines}", f"--unit={unit}"]
    if journal_dir is not None:
        args.append(f"--directory={journal_dir}")
    if follow:
        args.append("--follow")
    return args


def parse_entry(raw: bytes | str) -> LogLine | None:
    """One `journalctl -o json` line as a LogLine (None for a line that is not an entry)."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    message = entry.get("MESSAGE")
    if isinstance(message, list):  # not valid UTF-8: journald sends the bytes
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256)
    text = printable(message) if isinstance(message, str | bytes) else ""
    try:
        level = LEVELS[int(entry.get("PRIORITY", 6))]
    except (ValueError, IndexError, TypeError):
        level = "info"
    try:
        ts: float | None = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
    except (KeyError, ValueError, TypeError):
        ts = None
    return LogLine(ts, text, level, str(entry.get("SYSLOG_IDENTIFIER") or ""))


def _missing(exc: OSError) -> ConsoleError:
    return ConsoleError(f"cannot run journalctl ({exc.strerror or exc}): install systemd's "
                        "journalctl or check PATH")


async def tail(unit: str, journal_dir: Path | None = None, lines: int = 200,
               timeout: float = 10.0) -> list[LogLine]:
    """The unit's last `lines` journal lines, oldest first."""
    args = journal_args(unit, journal_dir, lines, follow=False)
    out = await journal_output(args, timeout)
    return [line for line in map(parse_entry, out.splitlines()) if line is not None]


class JournalLineSource:
    """A unit's journal as a source of the Logs view, merged there with files and others.

    journalctl starts on the first read (so listing the sources costs nothing), and each
    read takes what arrived since, without blocking: it is called from a worker thread.
    """

    def __init__(self, unit: str, journal_dir: Path | None = None, lines: int = 50) -> None:
        self.label = f"unit:{unit}"
        self._args = journal_args(unit, journal_dir, lines, follow=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending = b""
        self._status: str | None = None
        self._last = LastTime()

    @property
    def status(self) -> str | None:
        return self._status

    def read(self) -> list[LogLine]:
        if self._proc is None and self._status is None:
            try:
                self._proc = subprocess.Popen(self._args, stdin=subprocess.DEVNULL,
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError as exc:
                self._status = str(_missing(exc))
                return []
            assert self._proc.stdout is not None
            os.set_blocking(self._proc.stdout.fileno(), False)
        if self._proc is None or self._proc.stdout is None:
            return []
        data = bytearray()
        while len(data) < _MAX_READ:
            try:
                chunk = os.read(self._proc.stdout.fileno(), _CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                self._status = "journalctl ended"
                break
            data += chunk
        complete, _, self._pending = (self._pending + bytes(data)).rpartition(b"\n")
        lines = []
        now = time.time()
        for raw in complete.split(b"\n") if complete else ():
            entry = parse_entry(raw)
            if entry is not None:
                lines.append(LogLine(self._last.stamp(entry.ts, now), entry.text, entry.level,
                                     self.label))
        return lines

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)
