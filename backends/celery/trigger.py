"""Triggering a registered task by name: send it with JSON args/kwargs, a queue and a
countdown, then (optionally) follow the new task id until it finishes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

from backends.celery.client import CeleryClient
from backends.celery.snapshot import CelerySnapshot
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.errors import ActionFailed
from console.core.loglines import printable

FOLLOW_EVERY = 0.2
READY = ("SUCCESS", "FAILURE", "REVOKED")


def call_spec(client: CeleryClient, target: str, backend_id: str,
              snapshot: CelerySnapshot | None, options: Mapping[str, Any],
              has_results: bool) -> ActionSpec:
    name = str(options.get("task_name") or "")
    args = list(options.get("args") or [])
    kwargs = dict(options.get("kwargs") or {})
    queue = options.get("queue") or None
    countdown = float(options.get("countdown") or 0)
    wait = float(options.get("wait") or 0)
    call = f"{name}(*{json.dumps(args)}, **{json.dumps(kwargs)})"
    unavailable = None
    where: list[str] = []
    if not name:
        unavailable = "name the task to call (TASK, as registered on the workers)"
    elif snapshot is not None:
        where = [w.name for w in snapshot.online if name in w.registered]
        known = sorted({t for w in snapshot.online for t in w.registered})
        if not where:
            unavailable = (f"{name} is not registered on any online worker of {target}"
                           + (f" (registered: {', '.join(known)})" if known else ""))
    if wait and not has_results:
        unavailable = (f"{target} has no result backend configured: a task's outcome cannot "
                       "be followed (leave out --wait)")
    effect = (f"send {call} to "
              + (f"queue {queue}" if queue else "its default queue")
              + (f", to run in {countdown:g}s" if countdown else "")
              + (f"; registered on {', '.join(where)}" if where else "")
              + (f"; then follow it for up to {wait:g}s" if wait else ""))

    async def run(progress: Progress) -> ActionOutcome:
        task_id = await asyncio.to_thread(_send, client, name, args, kwargs, queue, countdown)
        progress.log(f"sent {name}: task id {task_id}")
        if not wait:
            return ActionOutcome(True, f"sent {name} as task {task_id}")
        return await _follow(client, name, task_id, wait, progress)

    return ActionSpec(verb="call", target=target, title=f"Call {name} on {target}",
                      effect=effect, run=run, backend_id=backend_id,
                      params={"task": name, "args": args, "kwargs": kwargs,
                              "queue": queue or "", "countdown": countdown},
                      unavailable=unavailable)


def _send(client: CeleryClient, name: str, args: list[Any], kwargs: dict[str, Any],
          queue: str | None, countdown: float) -> str:
    options: dict[str, Any] = {}
    if queue:
        options["queue"] = queue
    if countdown:
        options["countdown"] = countdown
    result = client.app.send_task(name, args=args, kwargs=kwargs, **options)
    return str(result.id)


def _state(client: CeleryClient, task_id: str) -> tuple[str, Any, str]:
    result = client.app.AsyncResult(task_id)
    state = str(result.state)
    if state in READY:
        return state, result.result, str(result.traceback or "")
    return state, None, ""


async def _follow(client: CeleryClient, name: str, task_id: str, wait: float,
                  progress: Progress) -> ActionOutcome:
    started = time.monotonic()
    last = ""
    while True:
        state, value, traceback = await asyncio.to_thread(_state, client, task_id)
        if state != last:
            progress.log(f"task {task_id}: {state}")
            progress.progress(None, None, f"{name} {task_id}: {state}")
            last = state
        took = time.monotonic() - started
        if state == "SUCCESS":
            return ActionOutcome(True, f"task {task_id} ({name}): SUCCESS after {took:.1f}s, "
                                 f"result {printable(json.dumps(value, default=repr), 500)}")
        if state in READY:
            raise ActionFailed(f"task {task_id} ({name}): {state}: "
                               f"{printable(repr(value), 500)}", printable(traceback))
        if took >= wait:
            raise ActionFailed(f"task {task_id} ({name}): still {state} after {wait:g}s "
                               "(it goes on; the Celery view follows it)")
        await asyncio.sleep(FOLLOW_EVERY)
