"""Services `opsconsole init` proposes: discovered names across kinds sharing a prefix.

A unit `crawl-scheduler.service`, a queue `crawl/auto_record` and a container `crawl-db`
share the prefix `crawl`: they are proposed as one service, commented out for the user to
confirm. Only prefixes found in at least two kinds are proposed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from console.services.spec import MEMBER_KEYS

_GENERIC = {"redis", "postgres", "postgresql", "celery", "docker", "systemd", "host", "app",
            "api", "www", "default", "health", "healthz", "main", "local"}


def _prefix(name: str) -> str:
    first = re.split(r"[-_.:/@]", name.lower(), maxsplit=1)[0]
    return first if len(first) >= 3 and first not in _GENERIC else ""


def _names(section: str, table: dict[str, Any]) -> list[tuple[str, str]]:
    """(member key, name) for what one discovered entry watches."""
    if section == "systemd":
        return [("units", u) for u in table.get("units", []) if "*" not in u]
    if section == "redis":
        return [("queues", f"{table.get('name', '')}/{q.get('name', '')}")
                for q in table.get("queues", []) if isinstance(q, dict)]
    if section == "docker":
        return [("containers", c) for c in table.get("containers", []) if "*" not in c]
    if section in ("http", "celery", "sql"):
        return [(section, str(table.get("name", "")))]
    return []


def propose(found: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Proposed `[[service]]` tables (name and member lists), by shared prefix."""
    groups: dict[str, dict[str, list[str]]] = {}
    for section, table in found:
        for key, name in _names(section, table):
            # a queue's prefix is its family's, not the Redis entry's
            prefix = _prefix(name.split("/", 1)[-1]) if key == "queues" else _prefix(name)
            if prefix and name:
                members = groups.setdefault(prefix, {})
                if name not in members.setdefault(key, []):
                    members[key].append(name)
    proposals = []
    for prefix, members in sorted(groups.items()):
        if len(members) >= 2:
            ordered = {k: members[k] for k in MEMBER_KEYS if k in members}
            proposals.append({"name": prefix, "description": "proposed by opsconsole init",
                              **ordered})
    return proposals
