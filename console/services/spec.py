"""The `[[service]]` config section: a name, members by target globs, relations, indicators.

A service is not a backend: it polls nothing. Its members are targets other sections watch,
chosen by `KIND:GLOB` per member key (`units = ["crawl-*.service"]`); member keys for kinds no
section offers yet (processes, programs, cron) are accepted and match nothing until such
targets exist. Relations say which unit, program, process or Celery app consumes a queue
(`consumer`) and which unit or container serves an endpoint (`served_by`); where they are not
declared they are inferred when unambiguous (see console.services.relations).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.core.configtable import Table
from console.core.errors import ConfigError
from console.services.indicators import Indicator, parse_indicator, validate_indicator

# member key -> target kind (`units` -> `unit:`)
MEMBER_KEYS: dict[str, str] = {
    "units": "unit", "queues": "queue", "processes": "process", "programs": "program",
    "containers": "container", "celery": "celery", "http": "http", "sql": "sql",
    "logs": "log", "files": "file", "cron": "cron", "postgres": "postgres",
    "deploys": "deploy", "commands": "command", "volumes": "volume",
}
CONSUMER_KINDS = ("unit", "program", "process", "celery")
SERVER_KINDS = ("unit", "container", "program", "process")


@dataclass(frozen=True)
class Relation:
    """`subject` (a target or glob) relates to `other` (a `KIND:NAME` target)."""

    subject: str
    role: str  # "consumer" or "served_by"
    other: str


@dataclass(frozen=True)
class ServiceSpec:
    """One `[[service]]` entry as written."""

    name: str
    description: str
    members: tuple[str, ...]  # KIND:GLOB patterns, in config order
    relations: tuple[Relation, ...] = ()
    indicators: tuple[Indicator, ...] = ()

    @property
    def target(self) -> str:
        return f"service:{self.name}"

    def member_kinds(self) -> set[str]:
        return {m.split(":", 1)[0] for m in self.members}

    def selects(self, target: str) -> bool:
        """Whether a `KIND:NAME` target is one of this service's members."""
        return any(fnmatch.fnmatchcase(target, pattern) for pattern in self.members)


def parse_service(table: Table) -> ServiceSpec:
    """Read one `[[service]]` table; errors name the key and the fix."""
    name = table.name()
    table.where = f"[[service]] {name!r}"
    description = table.text("description", "")
    members: list[str] = []
    for key, kind in MEMBER_KEYS.items():
        for glob in table.str_list(key, []):
            table.check(bool(glob.strip()) and not glob.startswith(f"{kind}:"), key,
                        f"{glob!r}: write a name or glob without the kind, "
                        f"e.g. {key} = [\"myapp*\"]")
            members.append(f"{kind}:{glob}")
    relations = [*_relations(table, "consumer", CONSUMER_KINDS, "queue"),
                 *_relations(table, "served_by", SERVER_KINDS, "http")]
    indicators = []
    for index, text in enumerate(table.str_list("indicators", []), start=1):
        indicators.append(parse_indicator(text, table.error, index))
    table.done()
    table.check(bool(members or indicators), "units",
                "a service needs members (units, queues, containers, http, ...) or indicators")
    for indicator in indicators:
        if not any(fnmatch.fnmatchcase(indicator.target, m) for m in members):
            members.append(indicator.target)  # what an indicator reads is a member too
    for relation in relations:
        if relation.other not in members:
            members.append(relation.other)
    return ServiceSpec(name, description, tuple(members), tuple(relations), tuple(indicators))


def _relations(table: Table, key: str, kinds: tuple[str, ...], subject_kind: str
               ) -> list[Relation]:
    """`consumer = "unit:NAME"` (for every queue of the service) or
    `consumer = { "crawl/auto_record" = "unit:NAME" }` (per queue)."""
    if not table.has(key):
        return []
    value = table.data[key]
    pairs: list[tuple[str, Any]]
    if isinstance(value, str):
        table.text(key)
        pairs = [(f"{subject_kind}:*", value)]
    elif isinstance(value, dict):
        pairs = [(f"{subject_kind}:{k}", v) for k, v in table.mapping(key).items()]
    else:
        raise table.error(key, f'expected "KIND:NAME" or {{ "NAME" = "KIND:NAME" }}, got {value!r}')
    relations = []
    for subject, other in pairs:
        kind, _, name = other.partition(":") if isinstance(other, str) else ("", "", "")
        if kind not in kinds or not name:
            raise table.error(key, f"{other!r}: write KIND:NAME with KIND one of "
                                   f"{', '.join(kinds)}, e.g. \"{kinds[0]}:myapp.service\"")
        relations.append(Relation(subject, key, other))
    return relations


def parse_services(tables: list[Table], sections: Mapping[str, list[Any]]) -> list[ServiceSpec]:
    """Every `[[service]]`, checked against the other sections (names and indicators)."""
    specs = [parse_service(table) for table in tables]
    seen: set[str] = set()
    for spec, table in zip(specs, tables, strict=True):
        if spec.name in seen:
            raise ConfigError(f"{table.file}: [[service]] name {spec.name!r} is used twice: "
                              "names must be unique")
        seen.add(spec.name)
        for index, indicator in enumerate(spec.indicators, start=1):
            validate_indicator(indicator, sections, table.error, index)
    return specs
