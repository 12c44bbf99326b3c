"""A count with its noun, singular for one: `counted(1, "table")` -> "1 table"."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """`count` and `noun`, with an "s" unless the count is one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
