"""The one funnel for text from systems: every string masked and made printable.

A poll's checks and snapshot, an action's messages and the headless output pass through
`scrub` before anything shows them, so a secret the config knows never appears and a
server's control sequences (terminal title changes, cursor moves, bells, carriage returns)
never reach the terminal: they are shown escaped (`\\x1b]0;...`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_KEEP = "\t\n"
_WITHOUT_KEPT = str.maketrans("", "", _KEEP)
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def printable_text(text: str) -> str:
    """`text` with every control or format character escaped; tabs and newlines kept."""
    if text.isprintable() or text.translate(_WITHOUT_KEPT).isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in _KEEP else ascii(ch)[1:-1] for ch in text)


def scrub_text(text: str, redact: Callable[[str], str] | None = None) -> str:
    """One string made safe to show: secrets masked first (they may contain controls)."""
    return printable_text(redact(text) if redact is not None else text)


def scrub(value: T, redact: Callable[[str], str] | None = None) -> T:
    """`value` (str, containers, dataclasses) with every string scrubbed.

    Frozen dataclasses are copied and their fields set directly, so snapshots keep their
    types; anything else (numbers, enums, paths, datetimes) is returned as it is. An
    immutable value (a string, tuple, frozenset or frozen dataclass) in which nothing needed
    scrubbing is returned itself, not copied: most polls bring nothing to mask or escape.
    """
    return _scrub(value, redact, 0)  # type: ignore[no-any-return]


def _scrub(value: Any, redact: Callable[[str], str] | None, depth: int) -> Any:
    if isinstance(value, str):
        return scrub_text(value, redact)
    if depth > 40:  # snapshots are shallow; a cycle or a huge nesting is left as it is
        return value
    if isinstance(value, bytes):
        return scrub_text(value.decode("utf-8", "backslashreplace"), redact)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple keeps its type
        items = [_scrub(v, redact, depth + 1) for v in value]
        return value if _same(items, value) else type(value)(*items)
    if type(value) in (tuple, frozenset):
        items = [_scrub(v, redact, depth + 1) for v in value]
        return value if _same(items, value) else type(value)(items)
    if type(value) in (list, set):
        return type(value)(_scrub(v, redact, depth + 1) for v in value)
    if isinstance(value, dict):
        return {_scrub(k, redact, depth + 1): _scrub(v, redact, depth + 1)
                for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _field_names(type(value))
        old = [getattr(value, name) for name in names]
        new = [_scrub(v, redact, depth + 1) for v in old]
        if _same(new, old) and value.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return value
        clean = copy.copy(value)
        for name, item in zip(names, new, strict=True):
            object.__setattr__(clean, name, item)
        return clean
    return value


def _same(new: list[Any], old: Any) -> bool:
    """Whether scrubbing gave back every item itself (nothing was masked or escaped)."""
    return all(a is b for a, b in zip(new, old, strict=True))


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names
