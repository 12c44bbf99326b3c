"""Durations: parsing config values ("2s", "10m", 5) and showing ages ("3h 12m")."""

from __future__ import annotations

import math
import re
import time

MAX_DURATION = 3650 * 86400.0  # ten years: anything longer is a typo, or no timeout at all
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as "90", "2s", "10m", "26h" or "1h30m".

    Raises ValueError with a message fit for a config error. `inf` and `nan` are refused, as
    is anything over ten years: a timeout must end, and waits that long overflow clocks.
    """
    seconds = _parse(value)
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        raise ValueError("expected a finite duration of at most ten years (\"3650d\")")
    return seconds


def _parse(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5, \"2s\", \"10m\" or \"26h\"")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("expected a duration that is not negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if seconds >= 0:
            return seconds
        pos, total = 0, 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if pos == len(text) and pos > 0:
            return total
    raise ValueError("expected a duration such as 5, \"2s\", \"10m\" or \"26h\"")


def format_span(seconds: float) -> str:
    """A short human span: "45s", "3m 05s", "12m", "3h 12m", "2d 4h".

    Past ten minutes the seconds are left out: an age on screen then changes once a minute,
    not on every poll, and nothing is redrawn for it in between.
    """
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m" if secs == 0 or minutes >= 10 else f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def format_age(timestamp: float | None, now: float | None = None) -> str:
    """How long ago a Unix timestamp was, or "never"."""
    if timestamp is None:
        return "never"
    now = time.time() if now is None else now
    return format_span(now - timestamp) + " ago"


def clock(timestamp: float | None) -> str:
    """Local wall-clock time of a timestamp, "03:12:05"."""
    if timestamp is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(timestamp))
