"""Writing a discovered config as commented TOML in the shape of DESIGN.md's example."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from backends.discovery.model import DiscoveryReport
from console import registry
from console.discovered import entries
from console.services.proposals import propose


def value(item: Any) -> str:
    """One TOML value: strings (JSON escapes are valid TOML basic strings), numbers, lists."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int | float):
        return repr(item)
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False)
    if isinstance(item, list | tuple):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"cannot write {type(item).__name__} to TOML")


def _table_lines(header: str, table: dict[str, Any], indent: str = "") -> list[str]:
    lines = [f"{indent}[[{header}]]"]
    nested = {k: v for k, v in table.items()
              if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)}
    for key, item in table.items():
        if key not in nested:
            lines.append(f"{indent}{key} = {value(item)}")
    for key, rows in nested.items():
        for row in rows:
            lines.append("")
            lines.extend(_table_lines(f"{header}.{key}", row, indent + "  "))
    return lines


def render(report: DiscoveryReport) -> str:
    """The config file text: findings as sections, what was not found as comments."""
    host = socket.gethostname().split(".")[0]
    lines = [
        f"# opsconsole config for {host}, written by `opsconsole init` on "
        f"{time.strftime('%Y-%m-%d %H:%M')} from what discovery found.",
        "# Edit freely: every key is described in the README. Secrets stay in the environment",
        "# as ${VAR} placeholders (or use password_file = \"/path\").",
        "",
        "[console]",
        'refresh = "2s"',
        "read_only = false",
    ]
    if report.missing:
        lines += ["", "# Not found on this machine:"]
        lines += [f"#   {r.probe}: {r.where}: {r.missing}" for r in report.missing]
    for section, table, note in entries(report):
        lines += ["", f"# {section}: {note}"]
        if registry.init_hint(section):
            lines.append(f"# more: {registry.init_hint(section)}")
        lines += _table_lines(section, table)
    proposals = propose((section, table) for section, table, _ in entries(report))
    if proposals:
        lines += ["", "# Services: what discovery found under one name, proposed as one rollup.",
                  "# Uncomment to use; add indicators such as",
                  '#   indicators = ["queue REDIS/QUEUE depth not growing for 15m"]']
        for proposal in proposals:
            lines.append("")
            lines += [f"# {line}" for line in _table_lines("service", proposal)]
    return "\n".join(lines) + "\n"
