"""Celery beat's schedule, read from its PersistentScheduler file (a `shelve`).

The file's dbm flavour depends on the Python that wrote it; when this Python lacks that
flavour, or the entries need classes this process cannot import, say so instead of guessing.
"""

from __future__ import annotations

import dbm
import shelve
from datetime import datetime
from pathlib import Path
from typing import Any

from backends.celery.snapshot import BeatEntry, BeatSchedule

_FLAVOURS = ("dbm.gnu", "dbm.ndbm", "dbm.dumb", "dbm.sqlite3")


def read_schedule(path: Path) -> BeatSchedule:
    """The entries of a beat schedule file, or a BeatSchedule whose `error` says why not."""
    shown = str(path)
    candidates = [path, *(path.with_name(path.name + ext) for ext in (".db", ".dat", ".dir"))]
    if not any(p.exists() for p in candidates):
        return BeatSchedule(shown, error=f"{shown} does not exist: check beat_schedule "
                                         "(celery beat -s PATH)")
    modified = max(p.stat().st_mtime for p in candidates if p.exists())
    flavour = dbm.whichdb(str(path))
    if flavour is None:
        return BeatSchedule(shown, modified=modified,
                            error=f"{shown} is not a dbm/shelve file this Python can read")
    if flavour == "":
        return BeatSchedule(shown, modified=modified, error=(
            f"{shown} was written with a dbm flavour this Python cannot identify "
            f"(this Python has: {', '.join(_available())})"))
    try:
        with shelve.open(str(path), flag="r") as db:
            entries = db.get("entries") or {}
    except dbm.error as exc:
        return BeatSchedule(shown, modified=modified,
                            error=f"{shown} ({flavour}) cannot be opened by this Python: {exc}")
    except ModuleNotFoundError as exc:
        return BeatSchedule(shown, modified=modified, error=(
            f"{shown} ({flavour}) needs a module this Python lacks: {exc.name} "
            f"(this Python has: {', '.join(_available())})"))
    except Exception as exc:  # unpickling the user's schedule classes can fail in many ways
        return BeatSchedule(shown, modified=modified, error=(
            f"{shown} ({flavour}) cannot be read by this Python: "
            f"{type(exc).__name__}: {str(exc)[:160]}"))
    return BeatSchedule(shown, tuple(sorted((_entry(n, e) for n, e in entries.items()),
                                            key=lambda e: e.name)), modified)


def _entry(name: str, entry: Any) -> BeatEntry:
    last = getattr(entry, "last_run_at", None)
    return BeatEntry(name=str(name), task=str(getattr(entry, "task", "")),
                     schedule=_describe(getattr(entry, "schedule", None)),
                     last_run=last.timestamp() if isinstance(last, datetime) else None,
                     runs=int(getattr(entry, "total_run_count", 0) or 0),
                     args=repr(tuple(getattr(entry, "args", ()) or ()))[:200])


def _describe(schedule: Any) -> str:
    if schedule is None:
        return "?"
    seconds = getattr(schedule, "seconds", None)
    if isinstance(seconds, int | float) and type(schedule).__name__ == "schedule":
        return f"every {seconds:g}s"
    return str(schedule)[:80]


def _available() -> list[str]:
    found = []
    for flavour in _FLAVOURS:
        try:
            __import__(flavour)
        except ImportError:
            continue
        found.append(flavour)
    return found


def describe_age(schedule: BeatSchedule, now: float) -> str:
    if schedule.modified is None:
        return ""
    age = now - schedule.modified
    return f"file written {int(age)}s ago" if age < 600 else f"file written {int(age // 60)}m ago"

