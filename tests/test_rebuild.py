"""Snapshots rebuilt from their JSON: every backend kind's snapshot type makes the round trip.

Each snapshot type is filled with seeded random values driven by its own type hints (every
optional field both empty and set, across runs of the seed), sent through `to_jsonable` and
JSON text as the bridge sends it, and rebuilt; the copy must equal the original.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import importlib
import inspect
import json
import os
import pkgutil
import random
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

import pytest

import backends
from backends.base import Backend
from console.core.rebuild import RebuildError, field_types, rebuild
from console.report import to_jsonable

SEED = int(os.environ.get("OPSCONSOLE_SEED", "20261130"))


def backend_classes() -> list[type[Backend[Any]]]:
    found: set[type[Backend[Any]]] = set()
    for info in pkgutil.walk_packages(backends.__path__, "backends."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Backend) and cls is not Backend and not inspect.isabstract(cls):
                found.add(cls)
    return sorted(found, key=lambda c: c.kind)


def sample(hint: Any, rng: random.Random, depth: int = 0) -> Any:
    """A random value of type `hint` (strings printable, as the bridge sends them)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        choices = [a for a in args if a is not type(None)]
        if type(None) in args and rng.random() < 0.3:
            return None
        return sample(rng.choice(choices), rng, depth)
    if origin is typing.Literal:
        return rng.choice(args)
    if origin in (list, tuple, set, frozenset, Sequence):
        count = 0 if depth > 3 else rng.randint(0, 3)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(sample(a, rng, depth + 1) for a in args)
        items = [sample(args[0] if args else str, rng, depth + 1) for _ in range(count)]
        return items if origin in (list, Sequence) else origin(items)
    if origin in (dict, Mapping):
        key_hint, value_hint = args or (str, str)
        return {sample(key_hint, rng, depth + 1): sample(value_hint, rng, depth + 1)
                for _ in range(0 if depth > 3 else rng.randint(0, 3))}
    if dataclasses.is_dataclass(hint):
        hints = field_types(hint)  # type: ignore[arg-type]
        made = hint(**{f.name: sample(hints[f.name], rng, depth + 1)  # type: ignore[operator]
                       for f in dataclasses.fields(hint) if f.init})
        return made
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return rng.choice(list(hint))
    if hint is bool:
        return rng.random() < 0.5
    if hint is int:
        return rng.randint(-5, 10**6)
    if hint is float:
        return round(rng.uniform(0, 10**6), 3)
    if hint is str:
        return rng.choice(["", "ok", "crawl:auto_record:queue", "ünïcode 語", "a b\tc"])
    if hint is bytes:
        return rng.choice([b"", b"payload", b"\xffraw"])
    if isinstance(hint, type) and issubclass(hint, PurePath):
        return hint(rng.choice(["/opt/backups/x.dump", "relative/file"]))
    if hint is datetime.datetime:
        return datetime.datetime(2026, 11, rng.randint(1, 30), 3, 12, 5,
                                 tzinfo=datetime.UTC)
    if hint is typing.Any or hint is object:
        return rng.choice([None, 1, "x", [1, 2], {"k": "v"}])
    raise AssertionError(f"the sampler does not know {hint!r}")


def over_the_wire(value: Any) -> Any:
    return json.loads(json.dumps(to_jsonable(value), default=str))


@pytest.mark.parametrize("cls", backend_classes(), ids=lambda c: c.kind)
def test_every_kinds_snapshot_survives_the_bridge(cls: type[Backend[Any]]) -> None:
    print(f"seed {SEED} (OPSCONSOLE_SEED)")
    snapshot_type = cls.snapshot_type()
    assert dataclasses.is_dataclass(snapshot_type), f"{cls.__name__}: no typed snapshot"
    rng = random.Random(f"{SEED}:{cls.kind}")
    for _ in range(40):
        original = sample(snapshot_type, rng)
        copy = rebuild(snapshot_type, over_the_wire(original))
        assert type(copy) is snapshot_type
        assert copy == original


@dataclasses.dataclass(frozen=True)
class Inner:
    depth: int
    paths: tuple[Path, ...] = ()


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str
    queues: list[Inner]
    by_port: dict[int, str]


def test_a_value_that_does_not_fit_names_where() -> None:
    made = rebuild(Outer, {"name": "crawl", "queues": [{"depth": 3, "paths": ["/a"]}],
                           "by_port": {"8080": "web"}})
    assert made == Outer("crawl", [Inner(3, (Path("/a"),))], {8080: "web"})
    with pytest.raises(RebuildError, match=r"^\$\.queues\[0\]\.depth: expected int, got 'x'"):
        rebuild(Outer, {"name": "crawl", "queues": [{"depth": "x"}], "by_port": {}})
    with pytest.raises(RebuildError, match=r"^\$\.by_port: expected an object"):
        rebuild(Outer, {"name": "crawl", "queues": [], "by_port": []})
    with pytest.raises(RebuildError, match=r"^\$\.name: missing"):
        rebuild(Outer, {"queues": [], "by_port": {}})
