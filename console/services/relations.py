"""Built-in relations between a service's members, declared or inferred.

- a queue and what consumes it (a unit, program, process or Celery app): `consumer = ...`
  in the service, else the service's only member of those kinds, else the one whose name
  contains the queue's name;
- an endpoint and the unit or container serving it: `served_by = ...`, else the service's
  only member of those kinds;
- a Celery app and the Redis server of its broker (same host and port), from the config;
- a deploy and the units it restarts, from the `[[deploy]]` entry.

Each link says how it was found, so the details can say "declared" or "inferred: ...".
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from console.services.facts import TargetFacts
from console.services.spec import CONSUMER_KINDS, SERVER_KINDS, ServiceSpec


@dataclass(frozen=True)
class Link:
    """`subject` depends on `other`: when `other` is unwell it explains `subject`."""

    subject: str
    role: str  # "consumer", "served by", "broker", "unit"
    other: str
    how: str  # "declared", "inferred: ...", "from [[deploy]] ..."

    def text(self) -> str:
        return f"{self.subject} {self.role} {self.other} ({self.how})"


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def links(spec: ServiceSpec, members: list[str], facts: Mapping[str, TargetFacts]
          ) -> list[Link]:
    """Every relation among a service's members (targets that exist on the board)."""
    found: list[Link] = []
    for subject in members:
        kind = subject.split(":", 1)[0]
        if kind == "queue":
            found.extend(_one(spec, "consumer", subject, members, CONSUMER_KINDS, "consumer"))
        elif kind == "http":
            found.extend(_one(spec, "served_by", subject, members, SERVER_KINDS, "served by"))
        elif kind == "celery":
            found.extend(_broker(subject, facts))
        elif kind == "deploy":
            found.extend(_deploy_units(subject, facts))
    return found


def _one(spec: ServiceSpec, role: str, subject: str, members: list[str],
         kinds: tuple[str, ...], word: str) -> list[Link]:
    declared = [r.other for r in spec.relations
                if r.role == role and fnmatch.fnmatchcase(subject, r.subject)]
    if declared:
        return [Link(subject, word, other, "declared") for other in declared]
    candidates = [m for m in members if m.split(":", 1)[0] in kinds]
    if len(candidates) == 1:
        return [Link(subject, word, candidates[0],
                     f"inferred: the service's only {'/'.join(kinds)} member")]
    short = _normal(subject.split(":", 1)[1].split("/")[-1])
    named = [m for m in candidates if short and short in _normal(m.split(":", 1)[1])]
    if len(named) == 1:
        return [Link(subject, word, named[0], "inferred: its name contains the queue's")]
    return []


def _host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        return (parts.hostname or "localhost", parts.port or 6379)
    except ValueError:
        return None


def _broker(subject: str, facts: Mapping[str, TargetFacts]) -> list[Link]:
    me = facts.get(subject)
    broker = getattr(getattr(me.backend if me else None, "config", None), "broker", None)
    if not isinstance(broker, str) or not broker.startswith(("redis://", "rediss://")):
        return []
    want = _host_port(broker)
    servers = {f.backend.id: f.backend for f in facts.values()
               if getattr(f.backend, "kind", "") == "redis"}
    matching = [bid for bid, b in servers.items()
                if _host_port(str(getattr(getattr(b, "config", None), "url", ""))) == want]
    if len(matching) != 1:
        return []
    return [Link(subject, "broker", matching[0], "inferred: same host and port as its broker")]


def _deploy_units(subject: str, facts: Mapping[str, TargetFacts]) -> list[Link]:
    me = facts.get(subject)
    units: Any = getattr(getattr(me.backend if me else None, "config", None), "units", ())
    return [Link(subject, "unit", f"unit:{u}", f"from [[deploy]] {subject.split(':', 1)[1]}")
            for u in units if isinstance(u, str)]
