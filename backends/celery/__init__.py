"""Celery: workers, tasks, queues, failed tasks that survive restarts, retry, revoke, beat."""

from __future__ import annotations

from backends.base import Backend, BackendKind, Runtime
from backends.celery.config import CeleryConfig, parse, validate


def build(entries: list[CeleryConfig], runtime: Runtime) -> list[Backend]:
    from backends.celery.backend import CeleryBackend

    return [CeleryBackend(entry, runtime) for entry in entries]


KIND = BackendKind(section="celery", parse=parse, build=build, validate=validate)
