"""Celery actions: retry one failed task, bulk retry (with a dry run and a rate limit),
revoke, terminate, pool restart and shutdown of a worker. The dispatcher runs them all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backends.celery.client import CeleryClient
from backends.celery.snapshot import CelerySnapshot, FailedTask
from backends.celery.store import FailedStore
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.errors import ActionFailed

CONTROL_TIMEOUT = 2.0
_DRY_RUN_LISTED = 50


@dataclass(frozen=True)
class Selection:
    """Which failed tasks a bulk retry takes: not yet retried, optionally narrowed."""

    name: str | None = None
    exception: str | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Selection:
        def number(key: str) -> float | None:
            value = options.get(key)
            return float(value) if isinstance(value, int | float) else None

        return cls(options.get("name") or None, options.get("exception") or None,
                   number("since"), number("until"))

    def matches(self, task: FailedTask) -> bool:
        if task.retry_task_id is not None:
            return False
        if self.name and task.name != self.name:
            return False
        if self.exception and task.exception_type != self.exception:
            return False
        if self.since is not None and task.failed_at < self.since:
            return False
        return self.until is None or task.failed_at <= self.until

    def describe(self) -> str:
        parts = [f"task {self.name}" if self.name else "",
                 f"exception {self.exception}" if self.exception else "",
                 "in a time range" if self.since or self.until else ""]
        return ", ".join(p for p in parts if p) or "all not yet retried"


class CeleryActions:
    """Builds the ActionSpecs of one configured app."""

    def __init__(self, app_name: str, backend_id: str, client: CeleryClient, store: FailedStore,
                 retry_rate: float) -> None:
        self.app_name = app_name
        self.backend_id = backend_id
        self.client = client
        self.store = store
        self.retry_rate = retry_rate

    @property
    def target(self) -> str:
        return f"celery:{self.app_name}"

    def specs(self, snapshot: CelerySnapshot | None, options: Mapping[str, Any]) -> list[ActionSpec]:
        task_id = options.get("task")
        worker = options.get("worker")
        specs: list[ActionSpec] = []
        if task_id:
            known = snapshot.failed_task(str(task_id)) if snapshot else None
            specs.append(self.retry_one(str(task_id), known))
            specs += [self.revoke(str(task_id), terminate=False),
                      self.revoke(str(task_id), terminate=True)]
        else:
            specs.append(self.bulk_retry(Selection.from_options(options),
                                         dry_run=bool(options.get("dry_run"))))
        workers = [str(worker)] if worker else [w.name for w in snapshot.online] if snapshot else []
        for name in workers:
            restarts = next((w.pool_restarts for w in snapshot.workers if w.name == name),
                            None) if snapshot else None
            specs.append(self.pool_restart(name, restarts))
            specs.append(self.shutdown(name))
        return specs

    # -- retry ----------------------------------------------------------------------------
    def retry_one(self, task_id: str, known: FailedTask | None = None) -> ActionSpec:
        """Re-send one failed task; `known` is its record from the snapshot, when listed there.

        When it is not (an older task, asked for by id), the store is read when the action
        runs, never while the menu is built.
        """
        unavailable = None
        if known is not None and not known.resendable:
            unavailable = f"cannot retry task {task_id}: {known.why_not}"

        async def run(progress: Progress) -> ActionOutcome:
            record = known or await asyncio.to_thread(self.store.get, task_id)
            if record is None:
                raise ActionFailed(f"task {task_id} is not a known failed task of "
                                   f"{self.target} (the Celery screen lists them)")
            new_id = await asyncio.to_thread(self._resend, record)
            return ActionOutcome(True, f"re-sent {record.name} as task {new_id}")

        name = known.name if known else "the task"
        effect = (f"send {name} again with the same args, kwargs"
                  + (f" and queue {known.queue}" if known and known.queue else " and queue")
                  + f"; task {task_id} is then marked as retried")
        return ActionSpec(verb="retry", target=self.target, title=f"Retry task {task_id}",
                          effect=effect, run=run, backend_id=self.backend_id,
                          params={"task": task_id, "name": known.name if known else ""},
                          unavailable=unavailable)

    def _resend(self, record: FailedTask) -> str:
        if not record.resendable:
            raise ActionFailed(f"cannot retry task {record.task_id}: {record.why_not}")
        exact = self.store.exact_arguments(record.task_id)
        if exact is None:
            raise ActionFailed(f"cannot retry task {record.task_id}: {record.why_not}")
        args, kwargs = exact
        options: dict[str, Any] = {"queue": record.queue} if record.queue else {}
        result = self.client.app.send_task(record.name, args=args, kwargs=kwargs, **options)
        self.store.mark_retried(record.task_id, result.id)
        return str(result.id)

    def bulk_retry(self, selection: Selection, *, dry_run: bool) -> ActionSpec:
        def chosen() -> tuple[list[FailedTask], list[FailedTask]]:
            tasks = [t for t in self.store.recent(limit=100_000) if selection.matches(t)]
            return [t for t in tasks if t.resendable], [t for t in tasks if not t.resendable]

        async def preview(progress: Progress) -> ActionOutcome:
            ready, blocked = await asyncio.to_thread(chosen)
            for task in ready[:_DRY_RUN_LISTED]:
                progress.log(f"would re-send {task.task_id} {task.name} args={task.args} "
                             f"kwargs={task.kwargs}")
            if len(ready) > _DRY_RUN_LISTED:
                progress.log(f"... and {len(ready) - _DRY_RUN_LISTED} more")
            for task in blocked[:_DRY_RUN_LISTED]:
                progress.log(f"would skip {task.task_id} {task.name}: {task.why_not}")
            return ActionOutcome(True, f"dry run: {len(ready)} task(s) would be re-sent, "
                                       f"{len(blocked)} skipped ({selection.describe()})")

        async def run(progress: Progress) -> ActionOutcome:
            ready, blocked = await asyncio.to_thread(chosen)
            pause = 1.0 / self.retry_rate
            sent = 0
            for index, task in enumerate(ready, start=1):
                started = time.monotonic()
                new_id = await asyncio.to_thread(self._resend, task)
                sent += 1
                progress.log(f"re-sent {task.task_id} {task.name} as {new_id}")
                progress.progress(index, len(ready), f"{index}/{len(ready)} re-sent")
                await asyncio.sleep(max(0.0, pause - (time.monotonic() - started)))
            skipped = f", {len(blocked)} skipped (arguments unknown)" if blocked else ""
            return ActionOutcome(True, f"re-sent {sent} failed task(s){skipped}")

        scope = selection.describe()
        if dry_run:
            return ActionSpec(verb="retry", target=self.target,
                              title=f"Retry failed tasks of {self.app_name} (dry run)",
                              effect=f"list the failed tasks that would be re-sent ({scope})",
                              run=preview, backend_id=self.backend_id, mutating=False,
                              params={"dry_run": True, "selection": scope})
        return ActionSpec(verb="retry", target=self.target,
                          title=f"Retry failed tasks of {self.app_name}",
                          effect=(f"re-send every failed task not yet retried ({scope}) at "
                                  f"most {self.retry_rate:g} per second; tasks whose arguments "
                                  "are unknown are skipped"),
                          run=run, backend_id=self.backend_id, params={"selection": scope})

    # -- revoke / terminate ---------------------------------------------------------------
    def revoke(self, task_id: str, *, terminate: bool) -> ActionSpec:
        verb = "terminate" if terminate else "revoke"

        async def run(progress: Progress) -> ActionOutcome:
            replies = await asyncio.to_thread(
                self.client.app.control.revoke, task_id, terminate=terminate,
                signal="SIGTERM", reply=True, timeout=CONTROL_TIMEOUT)
            answered = sorted(n for reply in replies or [] for n in reply)
            if not answered:
                raise ActionFailed(f"{verb} {task_id}: no worker answered within "
                                   f"{CONTROL_TIMEOUT:g}s")
            return ActionOutcome(True, f"{verb}d task {task_id} ({len(answered)} worker(s) "
                                       "acknowledged)")

        effect = (f"kill the running task {task_id} with SIGTERM (its work stops half-way)"
                  if terminate else
                  f"tell every worker to discard task {task_id} when it comes up "
                  "(a task already running keeps running: use terminate for that)")
        return ActionSpec(verb=verb, target=self.target,
                          title=f"{verb.capitalize()} task {task_id}", effect=effect, run=run,
                          backend_id=self.backend_id, params={"task": task_id})

    # -- workers --------------------------------------------------------------------------
    def pool_restart(self, worker: str, enabled: bool | None) -> ActionSpec:
        async def run(progress: Progress) -> ActionOutcome:
            replies = await asyncio.to_thread(
                self.client.app.control.pool_restart, destination=[worker], reply=True,
                timeout=CONTROL_TIMEOUT * 2)
            answer = next((r[worker] for r in replies or [] if worker in r), None)
            if answer is None:
                raise ActionFailed(f"pool restart of {worker}: no answer")
            if "error" in answer:
                raise ActionFailed(f"pool restart of {worker}: {answer['error']} "
                                   "(start the worker with worker_pool_restarts=True)")
            return ActionOutcome(True, f"pool of {worker} restarted")

        unavailable = (f"pool restarts are not enabled on {worker}: set worker_pool_restarts"
                       " = True in its Celery config" if enabled is False else None)
        return ActionSpec(verb="pool-restart", target=self.target,
                          title=f"Restart the pool of {worker}",
                          effect=f"restart every pool process of {worker} (running tasks "
                                 "are finished first)",
                          run=run, backend_id=self.backend_id, type_to_confirm=worker,
                          params={"worker": worker}, unavailable=unavailable)

    def shutdown(self, worker: str) -> ActionSpec:
        async def run(progress: Progress) -> ActionOutcome:
            await asyncio.to_thread(self.client.app.control.shutdown, destination=[worker])
            # shutdown never replies: watch the worker go away instead
            for _ in range(20):
                await asyncio.sleep(0.5)
                alive = await asyncio.to_thread(self.client.ping, [worker], 0.5)
                if worker not in alive:
                    return ActionOutcome(True, f"{worker} shut down")
            raise ActionFailed(f"{worker} still answers 10s after the shutdown request "
                               "(it finishes running tasks first)")

        return ActionSpec(verb="shutdown", target=self.target, title=f"Shut down {worker}",
                          effect=f"stop the worker {worker} (warm shutdown; systemd may "
                                 "start it again)",
                          run=run, backend_id=self.backend_id, type_to_confirm=worker,
                          params={"worker": worker})
