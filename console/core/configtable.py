"""Typed, validated reading of one TOML table, with errors that name the file and key.

Each backend parses its own `[[section]]` with a `Table`: every getter checks the type,
`done()` rejects keys nobody asked for, and every error reads like
`config.toml: [[redis]] #1 'url': expected a redis:// URL, got 'localhost'`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from console.core.durations import parse_duration
from console.core.errors import ConfigError
from console.core.secrets import (
    Redactor,
    SecretError,
    expand_env,
    read_secret_file,
    url_passwords,
)

T = TypeVar("T")
_MISSING: Any = object()
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


class Table:
    """One TOML table (a dict) being read by a parser, remembering which keys were used."""

    def __init__(self, data: dict[str, Any], where: str, file: str, redactor: Redactor) -> None:
        self.data = data
        self.where = where
        self.file = file
        self.redactor = redactor
        self._used: set[str] = set()

    # -- errors ---------------------------------------------------------------------------
    def error(self, key: str | None, message: str) -> ConfigError:
        place = f"{self.where} '{key}'" if key else self.where
        return ConfigError(f"{self.file}: {place}: {message}")

    def _wrong(self, key: str, expected: str, value: object) -> ConfigError:
        shown = value if not isinstance(value, str) else self.redactor(value)
        return self.error(key, f"expected {expected}, got {shown!r}")

    # -- raw access -----------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: Any) -> Any:
        self._used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error(key, "is required")
        return default

    def done(self) -> None:
        """Reject keys that no getter asked for (usually a typo)."""
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            known = ", ".join(sorted(self._used)) or "none"
            raise self.error(unknown[0], f"unknown key (known keys here: {known})")

    # -- scalars --------------------------------------------------------------------------
    def text(self, key: str, default: Any = _MISSING, *, choices: Iterable[str] | None = None,
            pattern: re.Pattern[str] | None = None, what: str = "a string") -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            raise self._wrong(key, what, value)
        if choices is not None and value not in set(choices):
            raise self._wrong(key, "one of " + ", ".join(repr(c) for c in choices), value)
        if pattern is not None and not pattern.match(value):
            raise self._wrong(key, what, value)
        return value

    def name(self, key: str = "name", default: Any = _MISSING) -> Any:
        return self.text(key, default, pattern=NAME_PATTERN,
                        what="a name of letters, digits and _ . @ - (no spaces or slashes)")

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "a whole number", value)
        if minimum is not None and value < minimum:
            raise self._wrong(key, f"a number of at least {minimum}", value)
        return value

    def number(self, key: str, default: Any = _MISSING, *, minimum: float | None = None) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number", value)
        if minimum is not None and value < minimum:
            raise self._wrong(key, f"a number of at least {minimum}", value)
        return float(value)

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if not isinstance(value, bool) and value is not default:
            raise self._wrong(key, "true or false", value)
        return value

    def duration(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value if value is None else parse_duration(value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self._wrong(key, str(exc).removeprefix("expected "), value) from None

    def str_list(self, key: str, default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._wrong(key, "a list of strings", value)
        return list(value)

    def int_list(self, key: str, default: Any = _MISSING, *, minimum: int = 0,
                 maximum: int | None = None, what: str = "a list of whole numbers") -> Any:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= minimum
                and (maximum is None or v <= maximum) for v in value):
            raise self._wrong(key, what, value)
        return list(value)

    def argv(self, key: str, default: Any = _MISSING) -> Any:
        """A command as an argument list (never a shell string)."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, str) for v in value)):
            raise self._wrong(key, 'an argument list such as ["prog", "--flag"]', value)
        return list(value)

    def argv_list(self, key: str, default: Any = _MISSING) -> Any:
        """Several commands, each an argument list: [["prog", "arg"], ["other"]]."""
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, list) or not all(
                isinstance(c, list) and c and all(isinstance(a, str) for a in c) for c in value):
            raise self._wrong(key, 'a list of argument lists such as [["venv/bin/pip", '
                                   '"install", "-r", "requirements.txt"]]', value)
        return [list(c) for c in value]

    def url(self, key: str, schemes: Iterable[str], default: Any = _MISSING) -> Any:
        """A URL with one of the given schemes; `${ENV}` is expanded and its password redacted."""
        allowed = tuple(schemes)
        raw = self.text(key, default)
        if raw is None or (raw is default and default is not _MISSING):
            return raw
        value = self.expand(key, raw)
        parts = urlsplit(value)
        if parts.scheme not in allowed or not (parts.netloc or parts.path):
            expected = " or ".join(f"a {s}:// URL" for s in allowed)
            raise self._wrong(key, expected, value)
        self.redactor.add(*url_passwords(value))
        return value

    # -- secrets --------------------------------------------------------------------------
    def expand(self, key: str, text: str) -> str:
        """Expand `${ENV}` references in a value, registering what they bring as secrets."""
        try:
            expanded, values = expand_env(text)
        except SecretError as exc:
            raise self.error(key, f"{exc}: export it or write the value in a *_file") from None
        self.redactor.add(*values)
        return expanded

    def secret(self, key: str, file_key: str | None = None) -> str | None:
        """A secret from `key` (with `${ENV}` expansion) or read from the file named by `file_key`."""
        file_key = file_key or f"{key}_file"
        direct = self.text(key, None)
        path = self.text(file_key, None)
        if direct is not None and path is not None:
            raise self.error(key, f"give either '{key}' or '{file_key}', not both")
        if path is not None:
            try:
                value: str | None = read_secret_file(path)
            except SecretError as exc:
                raise self.error(file_key, str(exc)) from None
            self.redactor.files.append(Path(path).expanduser())
        elif direct is not None:
            value = self.expand(key, direct)
        else:
            value = None
        self.redactor.add(value)
        return value

    # -- nesting --------------------------------------------------------------------------
    def table(self, key: str, required: bool = False) -> Table | None:
        value = self._get(key, _MISSING if required else None)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._wrong(key, "a table such as { key = value }", value)
        return Table(value, f"{self.where} '{key}'", self.file, self.redactor)

    def tables(self, key: str) -> list[Table]:
        value = self._get(key, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._wrong(key, f"a list of tables ([[{key}]])", value)
        prefix = "" if self.where == "top level" else f"{self.where} "
        return [Table(v, f"{prefix}[[{key}]] #{i}", self.file, self.redactor)
                for i, v in enumerate(value, start=1)]

    def thresholds(self, key: str) -> tuple[float | None, float | None]:
        """A `{ warn = N, crit = M }` table (either may be left out)."""
        sub = self.table(key)
        if sub is None:
            return (None, None)
        warn = sub.number("warn", None)
        crit = sub.number("crit", None)
        sub.done()
        return (warn, crit)

    def mapping(self, key: str) -> dict[str, Any]:
        """A table of free-form keys (for example expected JSON fields), taken as it is."""
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise self._wrong(key, "a table such as { key = value }", value)
        return dict(value)

    def check(self, condition: bool, key: str, message: str) -> None:
        if not condition:
            raise self.error(key, message)

    def each(self, key: str, parse: Callable[[Table], T]) -> list[T]:
        """Parse every `[[key]]` sub-table with `parse` (which calls `done()` itself)."""
        return [parse(t) for t in self.tables(key)]
