"""The one funnel for text from systems: every string masked and made printable.

A poll's checks and snapshot, an action's messages and the headless output pass through
`scrub` before anything shows them, so a secret the config knows never appears and a
server's control sequences (terminal title changes, cursor moves, bells, carriage returns)
never reach the terminal: they are shown escaped (`\\x1b]0;...`).
"""

from __future__ import annotations

import copy
import dataclasses
import operator
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_KEEP = "\t\n"
_WITHOUT_KEPT = str.maketrans("", "", _KEEP)
_ATOMS = frozenset({int, float, bool, type(None)})
DEEPEST = 40  # containers nested deeper than this are cut off and shown as CUT
CUT = "…"
_DATACLASSES: dict[type, tuple[tuple[str, ...], bool]] = {}  # class -> (field names, frozen)


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
    types; anything else (numbers, enums, paths, datetimes) is returned as it is. A container
    nested more than DEEPEST levels down (only a cycle or a hostile value is) becomes CUT. An
    immutable value (a string, tuple, frozenset or frozen dataclass) in which nothing needed
    scrubbing is returned itself, not copied: most polls bring nothing to mask or escape.
    """
    return _scrub(value, redact, 0)  # type: ignore[no-any-return]


def _scrub(value: Any, redact: Callable[[str], str] | None, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        return scrub_text(value, redact)
    if kind in _ATOMS:  # most fields of a snapshot: checked first, as they cost nothing
        return value
    if isinstance(value, str):
        return scrub_text(value, redact)
    if depth > DEEPEST:  # snapshots are shallow: a cycle, or nesting meant to get past
        return CUT
    shape = _DATACLASSES.get(kind) or _dataclass_shape(value)
    if shape is not None:
        names, frozen = shape
        old = [getattr(value, name) for name in names]
        new = [_scrub(v, redact, depth + 1) for v in old]
        if frozen and _same(new, old):
            return value
        clean = copy.copy(value)
        for name, item in zip(names, new, strict=True):
            object.__setattr__(clean, name, item)
        return clean
    if kind is bytes:
        return scrub_text(value.decode("utf-8", "backslashreplace"), redact)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple keeps its type
        items = [_scrub(v, redact, depth + 1) for v in value]
        return value if _same(items, value) else kind(*items)
    if kind in (tuple, frozenset):
        items = [_scrub(v, redact, depth + 1) for v in value]
        return value if _same(items, value) else kind(items)
    if kind in (list, set):
        return kind(_scrub(v, redact, depth + 1) for v in value)
    if isinstance(value, dict):
        return {_scrub(k, redact, depth + 1): _scrub(v, redact, depth + 1)
                for k, v in value.items()}
    return value


def _same(new: list[Any], old: Any) -> bool:
    """Whether scrubbing gave back every item itself (nothing was masked or escaped)."""
    return all(map(operator.is_, new, old))


def _dataclass_shape(value: Any) -> tuple[tuple[str, ...], bool] | None:
    """(field names, frozen) of a dataclass instance, worked out once per class; None for
    anything else."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return None
    kind = type(value)
    shape = (tuple(f.name for f in dataclasses.fields(kind)),
             bool(kind.__dataclass_params__.frozen))  # type: ignore[attr-defined]
    _DATACLASSES[kind] = shape
    return shape
