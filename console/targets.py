"""Targets are `KIND:NAME` strings; this module parses and matches them."""

from __future__ import annotations

import fnmatch

from console.errors import ConfigError

KINDS = ("unit", "queue", "celery", "container", "volume", "postgres", "http", "host", "deploy",
         "log", "sql", "file", "command")


def split_target(target: str) -> tuple[str, str]:
    """`queue:crawl/auto_record` -> ("queue", "crawl/auto_record"); a usage error otherwise."""
    kind, sep, name = target.partition(":")
    if not sep or not name or kind not in KINDS:
        raise ConfigError(
            f"{target!r} is not a target: write KIND:NAME with KIND one of {', '.join(KINDS)}")
    return kind, name


def matches(target: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Whether a target is selected by `--only` patterns (exact, `KIND`, `KIND:` or a glob)."""
    for pattern in patterns:
        if pattern == target or fnmatch.fnmatchcase(target, pattern):
            return True
        if pattern.rstrip(":") == target.split(":", 1)[0]:
            return True
    return False
