"""Child program for the systemd probe: two D-Bus calls, one JSON line on stdout.

`python -m backends.discovery.systemd_reader [ADDRESS]` prints every loaded service and timer
(ListUnitsByPatterns) and where each unit file lives (ListUnitFilesByPatterns). It runs in
its own process because pystemd blocks the whole interpreter while a call waits: the probe
kills it when its timeout passes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from backends.systemd.dbus_calls import Connection, classify, plain

PATTERNS = ["*.service", "*.timer"]


def read(address: str | None) -> dict[str, Any]:
    conn = Connection(address)
    try:
        listed = conn.manager("ListUnitsByPatterns", "asas", [[], PATTERNS])
        units = [{"name": plain(row[0]), "load": plain(row[2]), "active": plain(row[3]),
                  "sub": plain(row[4])} for row in listed]
        files = {plain(path).rsplit("/", 1)[-1]: plain(path) for path, _state in
                 conn.manager("ListUnitFilesByPatterns", "asas", [[], PATTERNS])}
    finally:
        conn.close()
    return {"units": units, "files": files}


def main() -> None:
    address = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
    try:
        reply: dict[str, Any] = {"ok": read(address)}
    except Exception as exc:  # pystemd raises its own classes; classify() names the cause
        failure = classify(exc)
        reply = {"error": {"kind": failure.kind, "message": str(failure)}}
    sys.stdout.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
