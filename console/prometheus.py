"""A check run as a node_exporter textfile, written with prometheus_client and renamed into place.

One `opsconsole_status` gauge per target (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), every
perfdata value as `opsconsole_perfdata`, whether a target is silenced, and the run's duration
and end time. The collector reads the file while cron rewrites it, so it is written to a
temporary name, synced and renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from console.core.files import fsync_directory
from console.core.model import CheckResult
from console.transitions import target_statuses


def render(checks: list[CheckResult], silenced: set[str], duration: float,
           finished: float) -> bytes:
    """The textfile's content in the Prometheus text format."""
    registry = CollectorRegistry()
    status = Gauge("opsconsole_status", "Target status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
                   ["target"], registry=registry)
    silence = Gauge("opsconsole_silenced", "1 while the target is silenced or in maintenance",
                    ["target"], registry=registry)
    perf = Gauge("opsconsole_perfdata", "A check's perfdata value, in its unit",
                 ["target", "check", "label", "unit"], registry=registry)
    for target, (value, _) in sorted(target_statuses(checks).items()):
        status.labels(target=target).set(int(value))
        silence.labels(target=target).set(1 if target in silenced else 0)
    seen: set[tuple[str, str, str]] = set()
    for check in checks:
        for item in check.perfdata:
            key = (check.target, check.check, item.label)
            if key in seen:
                continue
            seen.add(key)
            perf.labels(target=check.target, check=check.check, label=item.label,
                        unit=item.uom).set(item.value)
    Gauge("opsconsole_check_duration_seconds", "How long the check run took",
          registry=registry).set(duration)
    Gauge("opsconsole_check_timestamp_seconds", "When the check run ended (Unix time)",
          registry=registry).set(finished)
    return generate_latest(registry)


def write_textfile(path: Path, content: bytes) -> None:
    """Replace `path` atomically. 0644: node_exporter reads it as its own user; no secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(part, 0o644)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)
