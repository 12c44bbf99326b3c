"""A tiny Celery app for tests: real workers run it with ``celery -A console.sandbox.celeryapp``.

Broker and result backend come from OPSCONSOLE_TEST_BROKER and OPSCONSOLE_TEST_BACKEND.
Task names are fixed ("testbed.add", ...) so they do not depend on how the module is imported.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery  # type: ignore[import-untyped]

BROKER_URL = os.environ.get("OPSCONSOLE_TEST_BROKER", "redis://127.0.0.1:6379/0")
BACKEND_URL = os.environ.get("OPSCONSOLE_TEST_BACKEND", BROKER_URL)
# flaky() succeeds once this key is set in the broker's Redis (or in OPSCONSOLE_TEST_FLAG_REDIS).
FLAKY_KEY = "opsconsole-test:flaky:ok"

app = Celery("opsconsole_test", broker=BROKER_URL, backend=BACKEND_URL)
app.conf.update(
    result_extended=True,
    worker_send_task_events=True,
    task_send_sent_event=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="testbed.add")
def add(x: float, y: float) -> float:
    return x + y


@app.task(name="testbed.fail")
def fail(msg: str = "boom") -> None:
    raise ValueError(msg)


@app.task(name="testbed.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task(name="testbed.flaky")
def flaky(key: str = FLAKY_KEY) -> str:
    client = redis.Redis.from_url(os.environ.get("OPSCONSOLE_TEST_FLAG_REDIS", BROKER_URL))
    try:
        if client.get(key):
            return "ok"
    finally:
        client.close()
    raise RuntimeError(f"flaky: {key} is not set")


@app.task(name="testbed.echo")
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}
