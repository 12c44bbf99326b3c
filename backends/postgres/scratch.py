"""Names of the databases a restore creates, and the ones restores left behind.

A restore works in `DB_restore_STAMP_RANDOM` and renames the original to
`DB_before_restore_STAMP_RANDOM`. The first kind is gone when a restore ends well; one that
stays was left by a restore that was killed, one that failed its proof, or a test-restore
(both kept for inspection). The last two say so in the database's comment (`NOTES`).
"""

from __future__ import annotations

import calendar
import re
import secrets
import time

MAX_IDENT = 63
RESTORE = "restore"
KEPT = "before_restore"
# A restore connects to its scratch database for all but a few milliseconds between steps;
# one nobody is connected to and older than this is not being worked on.
GRACE = 600.0
# A test-restore's proven copy is kept for someone to look at: reported after a day.
TESTED_GRACE = 86400.0
# COMMENT ON DATABASE of a scratch copy kept on purpose, and how `check` describes each.
TESTED = "opsconsole: a test-restore's proven copy, kept for inspection"
PROOF_FAILED = "opsconsole: a restore's copy that failed its proof, kept for inspection"
NOTES = {TESTED: "a test-restore's copy", PROOF_FAILED: "failed its proof",
         "": "restore stopped or failed"}
_STAMP_FORMAT = "%Y%m%d%H%M%S"


def scratch_name(database: str, label: str, now: float) -> str:
    """`DB_LABEL_YYYYmmddHHMMSS_RANDOM`: readable when listed, and unique even for two
    restores (or a restore and a test-restore) started within the same second."""
    stamp = time.strftime(_STAMP_FORMAT, time.gmtime(now))
    suffix = f"_{label}_{stamp}_{secrets.token_hex(3)}"
    return database[:MAX_IDENT - len(suffix)] + suffix


def _made_at(database: str, label: str, name: str) -> float | None:
    """When `name` was made as `database`'s scratch of that label; None if it is not one."""
    prefix = database[:MAX_IDENT - len(f"_{label}_YYYYmmddHHMMSS_RANDOM")]
    match = re.fullmatch(re.escape(prefix) + f"_{label}_" + r"(\d{14})_[0-9a-f]{6}", name)
    if match is None:
        return None
    try:
        return float(calendar.timegm(time.strptime(match[1], _STAMP_FORMAT)))
    except ValueError:
        return None


def left_behind(database: str, candidates: tuple[tuple[str, bool, str], ...],
                now: float) -> list[tuple[str, float, str]]:
    """The restore scratch databases of `database` no restore is working on: (name, made at,
    what it is, from NOTES), oldest first. `candidates` are (name, someone is connected to
    it, its comment); a test-restore's copy counts only after TESTED_GRACE."""
    found = []
    for name, in_use, comment in candidates:
        made = _made_at(database, RESTORE, name)
        grace = TESTED_GRACE if comment == TESTED else GRACE
        if made is not None and not in_use and now - made >= grace:
            found.append((name, made, NOTES.get(comment, NOTES[""])))
    return sorted(found, key=lambda item: item[1])
