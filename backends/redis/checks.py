"""Check results for queue families: depth, processing and failed with thresholds and trends."""

from __future__ import annotations

from backends.redis.snapshot import FamilySnapshot
from console.core.durations import format_span
from console.core.model import CheckResult, Perf, Status, by_thresholds, worst

DEFAULT_FAILED_WARN = 1.0


def rate_text(rate: float | None) -> str:
    if rate is None:
        return "rate n/a"
    if abs(rate) < 0.05:
        return "steady"
    per_min = f"{abs(rate):.1f}" if abs(rate) < 10 else f"{abs(rate):,.0f}"
    return f"{'growing' if rate > 0 else 'draining'} {per_min}/min"


def family_check(family: FamilySnapshot, now: float) -> CheckResult:
    cfg = family.config
    label = family.name.replace(":", "_")
    if family.problems:
        return CheckResult(family.target, Status.CRITICAL, "; ".join(family.problems),
                           details=", ".join(cfg.keys()))
    statuses = [by_thresholds(family.depth, cfg.warn, cfg.crit)]
    parts = [f"depth {family.depth:,}"]
    trend = family.trend
    if trend.rate_per_min is not None:
        parts.append(rate_text(trend.rate_per_min))
    if trend.drain_seconds is not None:
        parts.append(f"empty in ~{format_span(trend.drain_seconds)}")
    if cfg.growing_for is not None and trend.growing_since is not None \
            and trend.growing_for(now) >= cfg.growing_for:
        statuses.append(Status.WARNING)
        parts.append(f"growing for {format_span(trend.growing_for(now))}")
    perf = [Perf(f"{label}_depth", family.depth, "", cfg.warn, cfg.crit, 0)]
    if family.pending is not None:
        parts.append(f"pending {family.pending:,}")
        perf.append(Perf(f"{label}_pending", family.pending, "", None, None, 0))
    if family.processing is not None:
        parts.append(f"processing {family.processing:,}")
        stuck = trend.stuck_for(now)
        if cfg.stuck_for is not None and family.processing and stuck >= cfg.stuck_for:
            statuses.append(Status.WARNING)
            parts.append(f"STUCK: unchanged for {format_span(stuck)}")
        perf.append(Perf(f"{label}_processing", family.processing, "", None, None, 0))
    if family.failed is not None:
        failed_warn = cfg.failed_warn if cfg.failed_warn is not None or cfg.failed_crit \
            is not None else DEFAULT_FAILED_WARN
        statuses.append(by_thresholds(family.failed, failed_warn, cfg.failed_crit))
        parts.append(f"failed {family.failed:,}")
        perf.append(Perf(f"{label}_failed", family.failed, "", failed_warn, cfg.failed_crit, 0))
    return CheckResult(family.target, worst(statuses), " · ".join(parts), perfdata=tuple(perf),
                       details=", ".join(cfg.keys()))
