"""Plain, frozen data a Celery poll produces: workers, tasks, queues, failed tasks, beat."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Worker:
    name: str
    online: bool
    since: float | None = None          # online since (from uptime), or offline since
    pool_size: int | None = None
    processed: int | None = None
    load: tuple[float, ...] | None = None
    active: int = 0
    reserved: int = 0
    scheduled: int = 0
    queues: tuple[str, ...] = ()
    pool_restarts: bool | None = None   # None: the worker's config is unknown
    registered: tuple[str, ...] = ()    # task names the worker can run
    stats: tuple[tuple[str, str], ...] = ()  # `inspect stats`, flattened for the details


@dataclass(frozen=True)
class Task:
    """A task a worker holds now: running ("active"), prefetched ("reserved") or with an ETA."""

    task_id: str
    name: str
    state: str
    worker: str
    args: str = ""
    kwargs: str = ""
    started: float | None = None
    eta: str | None = None


@dataclass(frozen=True)
class QueueDepth:
    name: str
    waiting: int                        # messages in the queue's lists, all priorities
    by_priority: tuple[int, ...] = ()
    unacked: int = 0                    # reserved or ETA messages held by workers for it
    problem: str | None = None          # why its depth could not be read (this queue only)


@dataclass(frozen=True)
class FailedTask:
    task_id: str
    name: str
    failed_at: float
    exception: str
    traceback: str
    args: str                           # shown on screen (exact JSON or the event's repr)
    kwargs: str
    resendable: bool
    why_not: str                        # why it cannot be re-sent, when it cannot
    worker: str = ""
    queue: str = ""
    source: str = ""
    retried_at: float | None = None
    retry_task_id: str | None = None
    retry_state: str | None = None

    @property
    def exception_type(self) -> str:
        return self.exception.split("(", 1)[0].split(":", 1)[0].strip()


@dataclass(frozen=True)
class BeatEntry:
    name: str
    task: str
    schedule: str
    last_run: float | None
    runs: int
    args: str


@dataclass(frozen=True)
class BeatSchedule:
    path: str
    entries: tuple[BeatEntry, ...] = ()
    modified: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class CelerySnapshot:
    app: str
    collected_at: float
    workers: tuple[Worker, ...]
    tasks: tuple[Task, ...]
    queues: tuple[QueueDepth, ...]
    unacked_total: int
    failed: tuple[FailedTask, ...]
    failed_last_hour: int
    results_note: str = ""
    events_note: str = ""
    inspect_note: str = ""
    beat: BeatSchedule | None = None

    @property
    def online(self) -> tuple[Worker, ...]:
        return tuple(w for w in self.workers if w.online)

    def failed_task(self, task_id: str) -> FailedTask | None:
        return next((f for f in self.failed if f.task_id == task_id), None)
