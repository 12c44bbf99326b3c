"""Which module implements which config section, imported only when a config uses it."""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backends.base import BackendKind

# Section name -> module exposing `KIND: BackendKind`. Order is the overview's group order.
SECTION_MODULES: dict[str, str] = {
    "systemd": "backends.systemd",
    "redis": "backends.redis",
    "celery": "backends.celery",
    "docker": "backends.docker",
    "postgres": "backends.postgres",
    "http": "backends.http",
    "host": "backends.host",
    "deploy": "backends.deploy",
    "logs": "backends.logs",
    "sql": "backends.sql",
    "file": "backends.filecheck",
    "command": "backends.command",
}


def available_sections() -> list[str]:
    """Sections whose module is present in this installation."""
    found = []
    for section, module in SECTION_MODULES.items():
        if importlib.util.find_spec(module) is not None:
            found.append(section)
    return found


def load_kind(section: str) -> BackendKind:
    """Import the module for a section and return its BackendKind."""
    module = importlib.import_module(SECTION_MODULES[section])
    kind: BackendKind = module.KIND
    return kind
