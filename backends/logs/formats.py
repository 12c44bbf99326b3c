"""Reading one raw line of a log: plain text, JSON lines, or nginx combined access logs.

Each format yields a `ParsedLine`: its time (Unix seconds, when the line says), a level
("error", "warning" or ""), the text to show (escaped for the terminal) and, for access
logs, the HTTP status and the request time (nginx's `$request_time` appended to the
combined format).
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.core.loglines import printable

_LEVEL_WORD = re.compile(rb"\b(CRITICAL|FATAL|ERROR|Traceback|WARNING|WARN)\b")
_ISO_START = re.compile(
    rb"^\[?(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?\s?(Z|[+-]\d{2}:?\d{2})?")
_NGINX = re.compile(
    rb'^(?P<addr>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    rb'(?P<status>\d{3}) (?P<bytes>\d+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?'
    rb'(?: (?P<rt>\d+(?:\.\d+)?|-))?')
_NGINX_TIME = "%d/%b/%Y:%H:%M:%S %z"
_JSON_TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "asctime", "date")
_JSON_LEVEL_KEYS = ("level", "levelname", "severity", "lvl")
_JSON_TEXT_KEYS = ("message", "msg", "event", "text")
_ERROR_LEVELS = {"critical", "fatal", "error", "err", "crit", "alert", "emerg", "emergency",
                 "traceback"}
_WARNING_LEVELS = {"warning", "warn"}


@dataclass(frozen=True, slots=True)
class ParsedLine:
    ts: float | None
    text: str
    level: str = ""
    status: int | None = None
    request_time: float | None = None


def level_of(word: str) -> str:
    lowered = word.lower()
    if lowered in _ERROR_LEVELS:
        return "error"
    if lowered in _WARNING_LEVELS:
        return "warning"
    return ""


def iso_time(text: str) -> float | None:
    """Unix time of an ISO-8601 timestamp (local time when it has no zone), or None."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp()


def _plain(raw: bytes) -> ParsedLine:
    ts = None
    match = _ISO_START.match(raw)
    if match:
        date, clock, fraction, zone = (g.decode() if g else "" for g in match.groups())
        ts = iso_time(f"{date}T{clock}{'.' + fraction[:6] if fraction else ''}{zone}")
    level_match = _LEVEL_WORD.search(raw, 0, 400)
    level = level_of(level_match.group(1).decode()) if level_match else ""
    return ParsedLine(ts, printable(raw), level)


def _json(raw: bytes) -> ParsedLine:
    try:
        document: Any = json.loads(raw)
    except ValueError:
        return _plain(raw)
    if not isinstance(document, dict):
        return _plain(raw)
    ts: float | None = None
    for key in _JSON_TIME_KEYS:
        value = document.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            ts = float(value) / (1000.0 if value > 1e11 else 1.0)  # seconds or milliseconds
            break
        if isinstance(value, str):
            ts = iso_time(value)
            if ts is not None:
                break
    level = ""
    for key in _JSON_LEVEL_KEYS:
        if isinstance(document.get(key), str):
            level = level_of(document[key])
            break
    text = next((document[k] for k in _JSON_TEXT_KEYS if isinstance(document.get(k), str)), None)
    if text is None:
        return ParsedLine(ts, printable(raw), level)
    if level:
        text = f"{level.upper()} {text}"
    return ParsedLine(ts, printable(text), level)


@functools.lru_cache(maxsize=4096)
def _nginx_time(text: bytes) -> float | None:
    """Lines of one second share their time text: parse each text once."""
    try:
        return datetime.strptime(text.decode(), _NGINX_TIME).timestamp()
    except ValueError:
        return None


def _nginx(raw: bytes) -> ParsedLine:
    match = _NGINX.match(raw)
    if match is None:
        return _plain(raw)
    ts = _nginx_time(match["time"])
    status = int(match["status"])
    rt_raw = match["rt"]
    request_time = float(rt_raw) if rt_raw and rt_raw != b"-" else None
    level = "error" if status >= 500 else "warning" if status >= 400 else ""
    return ParsedLine(ts, printable(raw), level, status, request_time)


_ACCESS_LINE = re.compile(
    rb'^\S+ \S+ \S+ \[([^\]\n]+)\] "[^"\n]*" (\d{3}) (?:[^\n]* (\d+\.\d+)|[^\n]*)$', re.M)


def access_summary(block: bytes) -> Counter[tuple[float | None, int, float | None]]:
    """(time, status, request time) -> number of lines, for a block of nginx lines.

    Counted by the regex engine in one pass (lines of a busy log repeat these three values
    often), so a megabyte costs about as much as `grep -c` on it.
    """
    counts: Counter[tuple[bytes, bytes, bytes]] = Counter(_ACCESS_LINE.findall(block))
    summary: Counter[tuple[float | None, int, float | None]] = Counter()
    for (stamp, status, request_time), number in counts.items():
        summary[(_nginx_time(stamp), int(status),
                 float(request_time) if request_time else None)] += number
    return summary


PARSERS = {"plain": _plain, "json": _json, "nginx": _nginx}


def parse_line(fmt: str, raw: bytes, error_pattern: re.Pattern[str] | None = None) -> ParsedLine:
    """Parse one raw line (without its newline) in the given format."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    line = PARSERS[fmt](raw)
    if error_pattern is not None and line.level != "error" and error_pattern.search(line.text):
        return ParsedLine(line.ts, line.text, "error", line.status, line.request_time)
    return line
