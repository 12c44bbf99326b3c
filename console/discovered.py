"""Findings -> config sections: each finding's table goes through its backend's own parse().

So a discovered config is exactly what the same tables written to config.toml would give.
The host entry is always there, watching the ports discovery found servers on.
"""

from __future__ import annotations

from typing import Any

from backends.discovery.model import DiscoveryReport, Finding
from console import registry
from console.core.configtable import Table
from console.core.secrets import Redactor


def host_table(report: DiscoveryReport) -> dict[str, Any]:
    """The host entry: disks and memory as always, plus the ports of servers found."""
    watched: set[int] = set()
    for finding in report.findings:
        watched.update(_ports_of(finding))
    listening = {p for r in report.results for p in r.extra.get("ports", [])}
    ports = sorted(watched & listening) if listening else sorted(watched)
    return {"ports": ports} if ports else {}


def _ports_of(finding: Finding) -> list[int]:
    from urllib.parse import urlsplit

    for key in ("url", "dsn"):
        value = finding.table.get(key)
        if isinstance(value, str) and "://" in value and not value.startswith("${"):
            parts = urlsplit(value)
            if parts.hostname in ("127.0.0.1", "localhost", "::1") and parts.port:
                return [parts.port]
            if parts.scheme.startswith("postgres") and "host=/" in parts.query:
                port = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
                return [int(port.get("port", 5432))]
    return []


def entries(report: DiscoveryReport) -> list[tuple[str, dict[str, Any], str]]:
    """(section, table, note) for every entry a discovered config holds, in file order."""
    found = [(f.section, f.table, f.note) for f in report.findings]
    found.append(("host", host_table(report), "disks, memory, load and the ports found"))
    order = {section: i for i, section in enumerate(registry.section_order())}
    return sorted(found, key=lambda e: order.get(e[0], len(order)))


def parse_sections(report: DiscoveryReport,
                   redactor: Redactor) -> dict[str, list[Any]]:
    """Parsed config entries by section, built by each backend's parse()."""
    sections: dict[str, list[Any]] = {}
    for index, (section, table, _note) in enumerate(entries(report)):
        kind = registry.load_kind(section)
        where = f"[[{section}]] (discovered #{index + 1})"
        sections.setdefault(section, []).append(
            kind.parse(Table(dict(table), where, "(discovery)", redactor)))
    for section, parsed in sections.items():
        kind = registry.load_kind(section)
        if kind.validate is not None:
            kind.validate(parsed, sections)
    return sections
