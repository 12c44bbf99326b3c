"""Who the fleet console's operator is, as the bridges record it: `user@console-host`."""

from __future__ import annotations

import re
import socket

from console.core.identity import Identity

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def operator_name(identity: Identity) -> str:
    user = _UNSAFE.sub("_", identity.user)[:64] or "unknown"
    host = _UNSAFE.sub("_", socket.gethostname())[:255] or "unknown"
    return f"{user}@{host}"
