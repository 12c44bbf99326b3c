"""What systemd recorded about the watched units in a window: starts, stops, failures,
scheduled restarts and main-process exits, read from the journal by their message ids.

systemd (PID 1) writes each with the unit in its `UNIT` field, so units that no longer
exist, or matched only by a glob, are found too. One `journalctl` run, bounded by the
window, a line cap and a timeout.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from backends.systemd.journal import RESTART_SCHEDULED, run_journalctl
from console.core.loglines import printable
from console.core.model import Status
from console.core.timeline import EVENT, TimelineEvent

# sd-messages.h: message id -> (short word, how bad it is)
MESSAGES: dict[str, tuple[str, Status]] = {
    "39f53479d3a045ac8e11786248231fbf": ("started", Status.OK),
    "9d1aaa27d60140bd96365438aad20286": ("stopped", Status.WARNING),
    "be02cf6855d2428ba40df7e9d022f03d": ("failed", Status.CRITICAL),
    RESTART_SCHEDULED: ("restart", Status.WARNING),
    "98e322203f7a4ed290d09fe03c09fe15": ("exited", Status.WARNING),
    "7b05ebc668384222baa8881179cfda54": ("reloaded", Status.OK),
}


def unit_events(patterns: tuple[str, ...] | list[str], since: float, until: float,
                journal_dir: Path | None, timeout: float, limit: int) -> list[TimelineEvent]:
    """The units' state changes between `since` and `until`, oldest first, the newest
    `limit` kept (blocking: call it from a thread)."""
    args = ["journalctl", "--no-pager", "-o", "json", "--output-fields=UNIT,MESSAGE,MESSAGE_ID",
            f"--since=@{int(since)}", f"--until=@{int(until) + 1}", "_PID=1",
            *(f"MESSAGE_ID={m}" for m in MESSAGES)]
    if journal_dir is not None:
        args.append(f"--directory={journal_dir}")
    found: list[TimelineEvent] = []
    for entry in run_journalctl(args, timeout):
        unit, message_id = entry.get("UNIT"), entry.get("MESSAGE_ID")
        stamp, message = entry.get("__REALTIME_TIMESTAMP"), entry.get("MESSAGE")
        if not (isinstance(unit, str) and isinstance(message_id, str)
                and isinstance(stamp, str) and stamp.isdigit()):
            continue
        if message_id not in MESSAGES or not any(fnmatch.fnmatchcase(unit, p) for p in patterns):
            continue
        ts = int(stamp) / 1e6
        if not since <= ts <= until:
            continue
        what, status = MESSAGES[message_id]
        text = printable(message, 300) if isinstance(message, str) else what
        found.append(TimelineEvent(ts, f"unit:{printable(unit, 200)}", EVENT, what, text,
                                   status, source="journal"))
    found.sort(key=lambda e: e.ts)
    return found[-limit:]
