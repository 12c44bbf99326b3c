"""Targets are `KIND:NAME` strings; this module splits and matches them.

Which KINDs exist is the registry's business (`console.registry.parse_target` checks them).
"""

from __future__ import annotations

import fnmatch

from console.core.errors import ConfigError


def split_target(target: str) -> tuple[str, str]:
    """`queue:crawl/auto_record` -> ("queue", "crawl/auto_record"); a usage error otherwise."""
    kind, sep, name = target.partition(":")
    if not sep or not name or not kind:
        raise ConfigError(f"{target!r} is not a target: write KIND:NAME, e.g. unit:app.service")
    return kind, name


def matches(target: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether a target is selected by `--only` patterns (exact, `KIND`, `KIND:` or a glob)."""
    for pattern in patterns:
        if pattern == target or fnmatch.fnmatchcase(target, pattern):
            return True
        if pattern.rstrip(":") == target.split(":", 1)[0]:
            return True
    return False
