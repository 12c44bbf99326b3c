"""Log lines as plain data, so journals, container logs and files share one log view."""

from __future__ import annotations

from dataclasses import dataclass

# Levels a log view colours: "err" red, "warning" yellow, others plain.
ERROR_LEVELS = frozenset({"emerg", "alert", "crit", "err", "error", "critical", "fatal"})
WARNING_LEVELS = frozenset({"warning", "warn"})


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line: when (Unix time, or None), text (already safe to print), level, source."""

    ts: float | None
    text: str
    level: str = ""
    source: str = ""

    @property
    def is_error(self) -> bool:
        return self.level in ERROR_LEVELS

    @property
    def is_warning(self) -> bool:
        return self.level in WARNING_LEVELS


def printable(data: bytes | str, limit: int = 4000) -> str:
    """Text safe for a terminal: invalid UTF-8 and control characters escaped, length capped."""
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
    if len(text) > limit:
        text = text[:limit] + f"… (+{len(text) - limit} chars)"
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == "\t" else ascii(ch)[1:-1] for ch in text)
