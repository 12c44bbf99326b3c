"""What the engine recorded about the watched containers in a window: deaths (with the exit
code), OOM kills, starts, stops, restarts and health changes, from Docker's own events
(`since`/`until`), so a timeline covers the time before the console was opened.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from backends.docker.config import DockerConfig
from backends.docker.inspect import selected
from console.core.loglines import printable
from console.core.model import Status
from console.core.timeline import EVENT, TimelineEvent

WANTED: dict[str, Status] = {"die": Status.CRITICAL, "oom": Status.CRITICAL,
                             "kill": Status.WARNING, "stop": Status.WARNING,
                             "start": Status.OK, "restart": Status.OK,
                             "health_status": Status.OK}
_READ_AT_MOST = 20_000  # events read from the engine for one window


def container_events(client: Any, config: DockerConfig, since: float, until: float,
                     limit: int) -> list[TimelineEvent]:
    """The watched containers' events between `since` and `until`, oldest first, the newest
    `limit` kept (blocking: the engine's client runs in a thread).

    The SDK reads the events stream without a timeout, so a ping (which has one) goes first,
    and a timer closes the stream if the engine stops answering in the middle of it.
    """
    until = min(until, time.time())  # a window ending later would wait for it
    client.ping()
    stream = client.api.events(since=int(since), until=int(until) + 1, decode=True,
                               filters={"type": "container"})
    watchdog = threading.Timer(config.timeout, stream.close)
    watchdog.daemon = True
    watchdog.start()
    found: list[TimelineEvent] = []
    try:
        for count, event in enumerate(stream):
            if count >= _READ_AT_MOST:
                break
            made = _event(event, config, since, until)
            if made is not None:
                found.append(made)
    except Exception as exc:
        if not watchdog.is_alive():
            raise TimeoutError(f"the engine stopped answering within {config.timeout:g}s "
                               "while sending its events") from exc
        raise
    finally:
        watchdog.cancel()
        stream.close()
    found.sort(key=lambda e: e.ts)
    return found[-limit:]


def _event(event: dict[str, Any], config: DockerConfig, since: float,
           until: float) -> TimelineEvent | None:
    action = str(event.get("Action") or event.get("status") or "")
    verb, _, detail = action.partition(":")
    if verb not in WANTED:
        return None
    attributes = dict((event.get("Actor") or {}).get("Attributes") or {})
    name = str(attributes.get("name") or "")
    if not name or not selected(config, name, attributes):
        return None
    ts = float(event.get("timeNano") or 0) / 1e9 or float(event.get("time") or 0)
    if not since <= ts <= until + 1:
        return None
    status = WANTED[verb]
    detail = detail.strip()
    if verb == "die":
        code = str(attributes.get("exitCode", "?"))
        status = Status.OK if code == "0" else Status.CRITICAL
        text = f"died (exit code {printable(code, 20)})"
    elif verb == "health_status":
        status = Status.OK if detail == "healthy" else Status.CRITICAL
        text = f"health: {printable(detail, 40)}"
    elif verb == "kill":
        text = f"killed (signal {printable(str(attributes.get('signal', '?')), 20)})"
    elif verb == "oom":
        text = "out of memory: killed by the kernel"
    else:
        text = {"start": "started", "stop": "stopped", "restart": "restarted"}[verb]
    what = "health" if verb == "health_status" else verb
    return TimelineEvent(ts, f"container:{printable(name, 200)}", EVENT, what, text, status,
                         source="docker events")
