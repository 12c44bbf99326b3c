"""Indicators: a service's expectations, written as a runbook writes them, parsed at load.

One indicator is one line of words, `KIND NAME TEST [else warning|critical]`:

    queue crawl/auto_record depth not growing for 15m
    queue crawl/auto_record processing <= 2
    sql auto-prices >= 1
    unit crawl-scheduler.service active
    celery ujmp workers all online
    log app no ERROR in 5m
    http api ok
    http api perf api_latency < 0.5

The language is small and typed: each form is parsed into a frozen dataclass when the config
loads (nothing is evaluated as code), checked against the other sections (the queue, the SQL
check, the log exist; a log's window is the span asked for), and evaluated on the board's
facts after each poll. A failed indicator is CRITICAL unless it ends in `else warning`; an
indicator whose target has not answered is UNKNOWN.
"""

from __future__ import annotations

import dataclasses
import operator
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from console.core.counts import counted
from console.core.durations import clock, format_span, parse_duration
from console.core.errors import ConfigError
from console.core.model import Status

ErrorAt = Callable[[str, str], ConfigError]  # Table.error: (key, message) -> ConfigError

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
KINDS = ("queue", "unit", "celery", "sql", "log", "http", "container", "file", "command",
         "postgres", "process", "program", "cron", "deploy")
# numeric fields each kind offers: field -> what it reads
FIELDS: dict[str, dict[str, str]] = {
    "queue": {"depth": "items waiting", "processing": "items being processed",
              "failed": "failed items", "pending": "stream entries not acknowledged"},
    "unit": {"restarts": "restarts within the restarts window"},
    "celery": {"workers": "workers online", "failed": "failed tasks in the last hour"},
    "sql": {"value": "the query's number"},
    "log": {"errors": "error lines in the log's window", "lines": "lines in the window"},
    "http": {"latency": "seconds to answer", "code": "the HTTP status code"},
}
FORMS = ("KIND NAME ok; queue NAME depth|processing|failed|pending OP N; "
         "queue NAME not growing for 15m; unit NAME active; unit NAME restarts OP N; "
         "celery NAME workers all online; celery NAME workers|failed OP N; sql NAME OP N; "
         "log NAME no errors [in 5m]; log NAME errors OP N; http NAME latency|code OP N; "
         "KIND NAME perf LABEL OP N; with OP one of < <= > >= == !=, and optionally "
         "'else warning'")


@dataclass(frozen=True)
class Outcome:
    """An indicator's verdict: its status and what was seen."""

    status: Status
    seen: str


@dataclass(frozen=True)
class Indicator:
    """One parsed indicator line."""

    text: str
    kind: str
    name: str
    test: str  # "ok", "compare", "perf", "not_growing", "active", "all_online", "no_errors"
    field: str = ""
    op: str = ""
    value: float = 0.0
    span: float | None = None  # seconds, for "not growing for" and "no errors in"
    word: str = ""
    fail: Status = Status.CRITICAL

    @property
    def target(self) -> str:
        return f"{self.kind}:{self.name}"


# -- parsing -------------------------------------------------------------------------------
def parse_indicator(text: str, error: ErrorAt, index: int) -> Indicator:
    """Parse one line; a ConfigError naming `indicators` #index and the forms otherwise."""
    def bad(why: str) -> ConfigError:
        return error("indicators", f"#{index} {text!r}: {why} (forms: {FORMS})")

    words = text.split()
    fail = Status.CRITICAL
    if len(words) >= 2 and words[-2] == "else":
        choice = {"warning": Status.WARNING, "warn": Status.WARNING,
                  "critical": Status.CRITICAL, "crit": Status.CRITICAL}.get(words[-1])
        if choice is None:
            raise bad(f"'else {words[-1]}': write 'else warning' or 'else critical'")
        fail, words = choice, words[:-2]
    if len(words) < 3:
        raise bad("write KIND NAME TEST")
    kind, name, rest = words[0], words[1], words[2:]
    if kind not in KINDS:
        raise bad(f"{kind!r} is not a kind: use one of {', '.join(KINDS)}")
    base = Indicator(text, kind, name, "ok", fail=fail)
    if rest == ["ok"]:
        return base
    if rest[0] == "perf":
        if len(rest) != 4:
            raise bad("write perf LABEL OP NUMBER")
        return _with(base, "perf", rest[1], rest[2], rest[3], bad)
    if kind == "unit" and rest == ["active"]:
        return _replace(base, test="active")
    if kind == "celery" and rest == ["workers", "all", "online"]:
        return _replace(base, test="all_online")
    if kind == "queue" and rest[:2] == ["depth", "not"]:
        rest = rest[1:]
    if kind == "queue" and rest[:2] == ["not", "growing"]:
        span = 0.0
        if len(rest) == 4 and rest[2] == "for":
            span = _span(rest[3], bad)
        elif len(rest) != 2:
            raise bad("write 'not growing' or 'not growing for 15m'")
        return _replace(base, test="not_growing", span=span)
    if kind == "log" and rest[0] == "no":
        if len(rest) == 2:
            return _replace(base, test="no_errors", word=rest[1])
        if len(rest) == 4 and rest[2] == "in":
            return _replace(base, test="no_errors", word=rest[1], span=_span(rest[3], bad))
        raise bad("write 'no errors' or 'no ERROR in 5m'")
    if kind == "sql" and len(rest) == 2:
        rest = ["value", *rest]
    if len(rest) == 3 and rest[0] in FIELDS.get(kind, {}):
        return _with(base, "compare", rest[0], rest[1], rest[2], bad)
    fields = FIELDS.get(kind, {})
    offered = f"{kind} offers: ok, {', '.join(fields)}" if fields else f"{kind} offers: ok, perf"
    raise bad(f"cannot read {' '.join(rest)!r} ({offered})")


def _replace(base: Indicator, **changes: Any) -> Indicator:
    return dataclasses.replace(base, **changes)


def _with(base: Indicator, test: str, field: str, op: str, number: str,
          bad: Callable[[str], ConfigError]) -> Indicator:
    if op not in OPS:
        raise bad(f"{op!r} is not a comparison: use one of {' '.join(OPS)}")
    try:
        value = parse_duration(number) if base.kind == "http" and field == "latency" \
            else float(number)
    except ValueError:
        raise bad(f"{number!r} is not a number") from None
    return _replace(base, test=test, field=field, op=op, value=value)


def _span(text: str, bad: Callable[[str], ConfigError]) -> float:
    try:
        return parse_duration(text)
    except ValueError:
        raise bad(f"{text!r} is not a duration such as 15m") from None


# -- checking against the other sections ---------------------------------------------------
def validate_indicator(indicator: Indicator, sections: Mapping[str, list[Any]],
                       error: ErrorAt, index: int) -> None:
    """Check that what an indicator reads is configured, and that it can be read as asked."""
    def bad(why: str) -> ConfigError:
        return error("indicators", f"#{index} {indicator.text!r}: {why}")

    def names(section: str) -> list[str]:
        return [str(getattr(e, "name", "")) for e in sections.get(section, [])]

    kind, name = indicator.kind, indicator.name
    if kind == "queue":
        queue = name.partition("/")[2]
        known = [f"{getattr(e, 'name', '')}/{q.name}" for e in sections.get("redis", [])
                 for q in getattr(e, "queues", ())]
        if not queue or name not in known:
            raise bad(f"no queue {name!r} in the [[redis]] sections; write REDIS/QUEUE "
                      f"(known: {', '.join(known) or 'none'})")
    elif kind == "unit" and not sections.get("systemd"):
        raise bad("no [[systemd]] section watches units: add one that lists this unit")
    elif kind in ("sql", "celery", "http", "log"):
        section = {"log": "logs"}.get(kind, kind)
        if name not in names(section):
            raise bad(f"no [[{section}]] entry named {name!r} "
                      f"(known: {', '.join(names(section)) or 'none'})")
    if kind == "log" and (indicator.test == "no_errors" or indicator.field == "errors"):
        _validate_log(indicator, sections, bad)


def _validate_log(indicator: Indicator, sections: Mapping[str, list[Any]],
                  bad: Callable[[str], ConfigError]) -> None:
    entry = next(e for e in sections.get("logs", []) if getattr(e, "name", "") == indicator.name)
    pattern = getattr(entry, "error_pattern", None)
    window = float(getattr(entry, "window", 0.0))
    if pattern is None:
        raise bad(f"[[logs]] {indicator.name!r} has no error_pattern to count: add "
                  'error_pattern = "ERROR|CRITICAL"')
    if indicator.word and indicator.word != "errors" and not pattern.search(indicator.word):
        raise bad(f"{indicator.word!r} is not what [[logs]] {indicator.name!r} counts "
                  f"(error_pattern {pattern.pattern!r}): write 'no errors' or change the pattern")
    if indicator.span is not None and abs(indicator.span - window) > 0.5:
        raise bad(f"[[logs]] {indicator.name!r} counts over its window of "
                  f"{format_span(window)}: write 'in {format_span(window)}' or set its window")


# -- evaluating ----------------------------------------------------------------------------
def evaluate(indicator: Indicator, facts: Any, now: float | None = None) -> Outcome:
    """Judge an indicator on its target's facts (a console.services.facts.TargetFacts)."""
    now = time.time() if now is None else now
    if facts is None:
        return Outcome(Status.UNKNOWN, f"{indicator.target} is not on the board")
    if not facts.checks or facts.problem:
        return Outcome(Status.UNKNOWN, facts.problem or "no check answered")
    judge = _JUDGES[indicator.test]
    seen, passed = judge(indicator, facts, now)
    if passed is None:
        return Outcome(Status.UNKNOWN, seen)
    return Outcome(Status.OK if passed else indicator.fail, seen)


Judged = tuple[str, bool | None]


def _ok(ind: Indicator, facts: Any, now: float) -> Judged:
    return facts.summary, facts.status is Status.OK


def _compare(ind: Indicator, facts: Any, now: float) -> Judged:
    value = _field(ind, facts)
    if value is None:
        return f"{ind.field} not known", None
    return f"{ind.field} {value:g} (want {ind.op} {ind.value:g})", OPS[ind.op](value, ind.value)


def _perf(ind: Indicator, facts: Any, now: float) -> Judged:
    value = facts.perf(ind.field)
    if value is None:
        return (f"no perfdata {ind.field!r} (it has: "
                f"{', '.join(facts.perf_labels()) or 'none'})"), None
    return f"{ind.field} {value:g} (want {ind.op} {ind.value:g})", OPS[ind.op](value, ind.value)


def _not_growing(ind: Indicator, facts: Any, now: float) -> Judged:
    trend = getattr(facts.part, "trend", None)
    if trend is None:
        return "no depth history", None
    since = trend.growing_since
    if since is None:
        return f"depth {facts.part.depth:,} not growing", True
    grown = now - since
    seen = f"depth {facts.part.depth:,} growing since {clock(since)} ({format_span(grown)})"
    return seen, bool(ind.span) and grown < (ind.span or 0.0)


def _active(ind: Indicator, facts: Any, now: float) -> Judged:
    unit = facts.part
    if unit is None or not hasattr(unit, "active"):
        return "unit not listed", None
    return f"{unit.active} ({unit.sub})", unit.active == "active"


def _all_online(ind: Indicator, facts: Any, now: float) -> Judged:
    workers = getattr(facts.part, "workers", None)
    if workers is None:
        return "no worker list", None
    online = [w for w in workers if w.online]
    config = getattr(facts.backend, "config", None)
    expected = getattr(config, "expect_count", None)
    names = tuple(getattr(config, "expect_names", ()) or ())
    offline = [w.name for w in workers if not w.online]
    missing = [n for n in names if n not in {w.name for w in online}]
    want = max(expected or 0, len(workers), 1)
    seen = f"{len(online)}/{want} workers online"
    if offline or missing:
        seen += f" (offline: {', '.join([*offline, *missing])})"
    return seen, len(online) >= want and not missing


def _no_errors(ind: Indicator, facts: Any, now: float) -> Judged:
    files = getattr(facts.part, "files", None)
    if files is None:
        return "no log window", None
    count = sum(f.totals.matches for f in files)
    return f"{counted(count, 'error line')} in the window", count == 0


def _field(ind: Indicator, facts: Any) -> float | None:
    part = facts.part
    value: Any = None
    if ind.kind == "queue":
        value = getattr(part, ind.field, None)
    elif ind.kind == "unit":
        value = getattr(part, "restarts_in_window", None)
    elif ind.kind == "celery":
        workers = getattr(part, "workers", None)
        value = (sum(1 for w in workers if w.online) if workers is not None else None) \
            if ind.field == "workers" else getattr(part, "failed_last_hour", None)
    elif ind.kind == "sql":
        value = getattr(part, "value", None)
    elif ind.kind == "log":
        files = getattr(part, "files", None)
        key = "matches" if ind.field == "errors" else "lines"
        value = sum(getattr(f.totals, key) for f in files) if files is not None else None
    elif ind.kind == "http":
        value = getattr(part, "latency" if ind.field == "latency" else "status_code", None)
    return float(value) if isinstance(value, int | float) else None


_JUDGES: dict[str, Callable[[Indicator, Any, float], Judged]] = {
    "ok": _ok, "compare": _compare, "perf": _perf, "not_growing": _not_growing,
    "active": _active, "all_online": _all_online, "no_errors": _no_errors,
}
