"""Typed values back from their JSON: the inverse of `report.to_jsonable`, driven by type hints.

A snapshot crosses the bridge as JSON; the console rebuilds the very dataclass the backend's
`collect()` made (enums from their names, tuples, sets, dicts with typed keys, Optional and
unions, paths, bytes, datetimes), so a view reads a remote host's snapshot as a local one.
Anything that does not fit its annotation is a `RebuildError` naming where, never a value of
the wrong type handed to a view.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from console.core.errors import ConsoleError


class RebuildError(ConsoleError):
    """A JSON value that does not fit the type it should become."""


def rebuild(hint: Any, data: Any, where: str = "$") -> Any:
    """`data` (as json.loads gave it) made into a value of type `hint`."""
    if hint is Any or hint is object:
        return data
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return _union(typing.get_args(hint), data, where)
    if origin is typing.Literal:
        if data in typing.get_args(hint):
            return data
        raise RebuildError(f"{where}: {data!r} is none of {typing.get_args(hint)}")
    if origin is not None:
        return _generic(origin, typing.get_args(hint), data, where)
    if isinstance(hint, type):
        return _plain(hint, data, where)
    if isinstance(hint, typing.TypeVar):
        return data
    raise RebuildError(f"{where}: cannot rebuild a value of type {hint!r}")


def _union(options: tuple[Any, ...], data: Any, where: str) -> Any:
    if data is None and type(None) in options:
        return None
    # the exact JSON type first, so `int | str` keeps "5" a string and 5 an int
    ordered = sorted(options, key=lambda t: not (isinstance(t, type) and isinstance(data, t)))
    problems = []
    for option in ordered:
        if option is type(None):
            continue
        try:
            return rebuild(option, data, where)
        except RebuildError as exc:
            problems.append(str(exc))
    raise RebuildError(problems[0] if len(problems) == 1 else
                       f"{where}: {_shown(data)} fits none of {len(problems)} types")


def _generic(origin: Any, args: tuple[Any, ...], data: Any, where: str) -> Any:
    if origin in (list, tuple, set, frozenset, Sequence) or origin is typing.Sequence:
        if not isinstance(data, list):
            raise RebuildError(f"{where}: expected a list, got {_shown(data)}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(data):
                raise RebuildError(f"{where}: expected {len(args)} items, got {len(data)}")
            return tuple(rebuild(a, v, f"{where}[{i}]") for i, (a, v) in
                         enumerate(zip(args, data, strict=True)))
        item = args[0] if args else Any
        items = [rebuild(item, v, f"{where}[{i}]") for i, v in enumerate(data)]
        return items if origin in (list, Sequence) else origin(items)
    if origin in (dict, Mapping):
        if not isinstance(data, dict):
            raise RebuildError(f"{where}: expected an object, got {_shown(data)}")
        key_hint, value_hint = args if args else (Any, Any)
        return {_key(key_hint, k, where): rebuild(value_hint, v, f"{where}.{k}")
                for k, v in data.items()}
    if origin is type:
        raise RebuildError(f"{where}: a type cannot come from JSON")
    return rebuild(origin, data, where)


def _key(hint: Any, key: str, where: str) -> Any:
    """JSON keys are strings; a dict keyed by numbers or enums gets its keys back."""
    if hint in (int, float):
        try:
            return hint(key)
        except ValueError:
            raise RebuildError(f"{where}: key {key!r} is not a number") from None
    return rebuild(hint, key, f"{where}.<key>")


def _plain(hint: type, data: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint, data, where)
    if issubclass(hint, enum.Enum):
        if isinstance(data, str) and data in hint.__members__:
            return hint[data]
        try:
            return hint(data)
        except ValueError:
            raise RebuildError(f"{where}: {_shown(data)} is not a {hint.__name__}") from None
    if hint is bool:
        if isinstance(data, bool):
            return data
    elif hint is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
    elif hint is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif hint is str:
        if isinstance(data, str):
            return data
    elif hint is bytes:
        if isinstance(data, str):
            return data.encode("utf-8", "surrogateescape")
    elif hint is type(None):
        if data is None:
            return None
    elif issubclass(hint, PurePath):
        if isinstance(data, str):
            return hint(data)
    elif hint in (datetime.datetime, datetime.date, datetime.time):
        if isinstance(data, str):
            try:
                return hint.fromisoformat(data)
            except ValueError:
                pass
    elif hint in (list, tuple, set, frozenset, dict):
        return _generic(hint, (), data, where)
    else:
        raise RebuildError(f"{where}: cannot rebuild a value of type {hint.__name__}")
    raise RebuildError(f"{where}: expected {hint.__name__}, got {_shown(data)}")


def _dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise RebuildError(f"{where}: expected an object for {cls.__name__}, got {_shown(data)}")
    hints = field_types(cls)
    values: dict[str, Any] = {}
    late: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            if (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING):
                raise RebuildError(f"{where}.{field.name}: missing")
            continue
        value = rebuild(hints[field.name], data[field.name], f"{where}.{field.name}")
        (values if field.init else late)[field.name] = value
    made = cls(**values)
    for name, value in late.items():  # fields outside __init__ (derived, cached)
        object.__setattr__(made, name, value)
    return made


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """A dataclass's field annotations as types (string annotations resolved in its module)."""
    module = sys.modules.get(cls.__module__)
    namespace = dict(vars(module)) if module else {}
    namespace.setdefault("Path", Path)
    return typing.get_type_hints(cls, globalns=namespace)


def _shown(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."
