"""Checks for one unit: failed, unexpectedly inactive, flapping, a timer whose last run failed."""

from __future__ import annotations

import time

from backends.systemd.config import SystemdConfig
from backends.systemd.listing import UnitState
from console.core.durations import clock, format_span
from console.core.model import CheckResult, Perf, Status, by_thresholds


def memory_text(unit: UnitState) -> str:
    if unit.memory is None:
        return "n/a"
    size = float(unit.memory)
    for suffix in ("B", "K", "M", "G"):
        if size < 1024 or suffix == "G":
            return f"{size:.0f}{suffix}" if suffix == "B" else f"{size:.1f}{suffix}"
        size /= 1024
    return "n/a"


def cpu_text(unit: UnitState) -> str:
    if unit.cpu_nsec is None:
        return "n/a"
    return f"{unit.cpu_nsec / 1e9:.1f}s"


def since_text(unit: UnitState, now: float | None = None) -> str:
    """How long the unit has been in its state, "3h 12m", or "" when systemd does not say."""
    moment = unit.active_since if unit.active == "active" else unit.changed_at
    if moment is None:
        return ""
    return format_span((now or time.time()) - moment)


def window_text(seconds: float) -> str:
    """A config window as written: "10m", "1h", "90s"."""
    whole = int(seconds)
    for size, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{suffix}"
    return format_span(seconds)


def _in(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    delta = moment - now
    return f"in {format_span(delta)}" if delta >= 0 else f"{format_span(-delta)} ago"


def timer_text(unit: UnitState, now: float | None = None) -> str:
    now = now or time.time()
    target = unit.triggers[0] if unit.triggers else "?"
    last = "never" if unit.last_trigger is None else _in(unit.last_trigger, now)
    return f"next {_in(unit.next_trigger, now)} · last {last} · runs {target}"


def last_run_text(unit: UnitState) -> str:
    """The last run of a timer's service: `success in 2.1s`, `failed (exit 3) after 0.2s`."""
    ran = unit.triggered
    if ran is None:
        return ""
    if ran.active in ("activating", "deactivating", "reloading") or (
            ran.active == "active" and ran.duration is None):
        return "running now"
    if ran.started is None:
        return "never ran"
    took = ran.duration
    if ran.active == "failed" or ran.result not in ("", "success"):
        why = f"exit {ran.status}" if ran.status else ran.result or ran.active
        return f"failed ({why})" + (f" after {_took(took)}" if took is not None else "")
    return "success" + (f" in {_took(took)}" if took is not None else "")


def _took(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else format_span(seconds)


def unit_checks(unit: UnitState, config: SystemdConfig) -> list[CheckResult]:
    target = unit.target
    state = f"{unit.active} ({unit.sub})"
    perf: tuple[Perf, ...] = ()
    if unit.restarts is not None:
        perf = (Perf(f"{unit.name}_restarts", unit.restarts_in_window, "",
                     config.restarts_warn, config.restarts_crit, 0),)
    if unit.load == "not-found":
        return [CheckResult(target, Status.CRITICAL,
                            f"no such unit on {config.bus_label}: check the name in the config")]
    if unit.load == "masked":
        return [CheckResult(target, Status.OK, "masked (disabled on purpose)")]
    cause = f' · "{unit.cause}"' if unit.cause else ""
    if unit.active == "failed":
        why = f"exit {unit.exit_status}" if unit.exit_status else unit.result or "failed"
        when = f" since {clock(unit.changed_at)}" if unit.changed_at else ""
        return [CheckResult(target, Status.CRITICAL, f"failed{when} ({why}){cause}",
                            perfdata=perf, details=_details(unit))]
    if unit.kind == "timer":
        return [_timer_check(unit)]
    if unit.active == "inactive":
        if unit.expected_inactive:
            return [CheckResult(target, Status.OK, f"{state}, runs when triggered"
                                + (f" by {', '.join(unit.triggered_by)}"
                                   if unit.triggered_by else ""), perfdata=perf)]
        return [CheckResult(target, Status.CRITICAL, f"{state}: not running",
                            perfdata=perf, details=unit.description)]
    flapping = by_thresholds(unit.restarts_in_window, config.restarts_warn,
                             config.restarts_crit)
    window = window_text(config.restarts_window)
    if flapping is not Status.OK:
        return [CheckResult(target, flapping,
                            f"{state} but flapping: restarted {unit.restarts_in_window}× in "
                            f"{window} ({unit.restarts} in all){cause}", perfdata=perf,
                            details=_details(unit))]
    if unit.sub == "auto-restart":
        return [CheckResult(target, Status.WARNING,
                            f"{state}: exited, systemd restarts it{cause}", perfdata=perf,
                            details=_details(unit))]
    parts = [state]
    since = since_text(unit)
    if since:
        parts.append(since)
    if unit.restarts is not None:
        parts.append(f"{unit.restarts} restarts")
    if unit.main_pid:
        parts.append(f"PID {unit.main_pid}")
    return [CheckResult(target, Status.OK, " · ".join(parts), perfdata=perf,
                        details=unit.description)]


def _details(unit: UnitState) -> str:
    lines = [unit.description] if unit.description else []
    if unit.cause:
        lines.append(f"last error line in its journal: {unit.cause}")
    return "\n".join(lines)


def _timer_check(unit: UnitState) -> CheckResult:
    text = timer_text(unit)
    last_run = last_run_text(unit)
    if last_run:
        text += f" · last run {last_run}"
    ran = unit.triggered
    if unit.active != "active":
        return CheckResult(unit.target, Status.CRITICAL, f"{unit.active} ({unit.sub}): the timer "
                           f"is not armed · {text}")
    if ran is not None and (ran.active == "failed" or ran.result not in ("", "success")):
        why = f"exit {ran.status}" if ran.status else ran.result or ran.active
        return CheckResult(unit.target, Status.CRITICAL,
                           f"last run of {ran.name} failed ({why}) · {text}")
    return CheckResult(unit.target, Status.OK, f"{unit.sub} · {text}")
