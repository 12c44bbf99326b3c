"""Queue depths on a Redis broker, counting what `LLEN queue` alone misses.

kombu keeps a queue with priorities as four lists (`q`, `q\\x06\\x163`, `q\\x06\\x166`,
`q\\x06\\x169`), and messages a worker reserved or holds for an ETA sit in the `unacked` hash.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import redis

from backends.celery.snapshot import QueueDepth
from console.core.loglines import printable

PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
UNACKED = "unacked"
BINDING_PREFIX = "_kombu.binding."
# Above this many unacked messages, they are counted but not attributed to queues.
ATTRIBUTE_LIMIT = 5_000
_INTERNAL = ("celeryev", "celery.pidbox", "reply.celery.pidbox")


@dataclass(frozen=True)
class Depths:
    queues: tuple[QueueDepth, ...]
    unacked_total: int


def priority_lists(queue: str) -> list[str]:
    return [queue if step == 0 else f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS]


def discover_queues(client: redis.Redis) -> list[str]:
    """Queue names bound on the broker (from kombu's `_kombu.binding.*` sets)."""
    names: set[str] = set()
    for key in client.scan_iter(match=BINDING_PREFIX + "*", count=500):
        name = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
        exchange = name[len(BINDING_PREFIX):]
        if exchange in _INTERNAL or exchange.endswith(".pidbox"):
            continue
        for member in client.smembers(key):
            # members are "routing_key\x06\x16pattern\x06\x16queue"
            text = member.decode(errors="replace") if isinstance(member, bytes) else str(member)
            queue = text.split(PRIORITY_SEP)[-1]
            if queue and not queue.endswith(".celery.pidbox"):
                names.add(queue)
    return sorted(names)


def read_depths(client: redis.Redis, queues: list[str]) -> Depths:
    """Depth of every queue in one pipeline, plus the unacked messages held for each.

    A key of the wrong type (say, someone SET the queue's name) spoils that queue only: it
    gets a `problem` and the other queues, the workers and the failed tasks stay.
    """
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for key in priority_lists(queue):
            pipe.llen(key)
    pipe.hlen(UNACKED)
    answers = pipe.execute(raise_on_error=False)
    unacked_total = answers[-1] if isinstance(answers[-1], int) else 0
    held = _unacked_by_queue(client) if 0 < unacked_total <= ATTRIBUTE_LIMIT else Counter[str]()
    depths = []
    for index, queue in enumerate(queues):
        answered = answers[index * 4:index * 4 + 4]
        wrong = [key for key, n in zip(priority_lists(queue), answered, strict=True)
                 if not isinstance(n, int)]
        if wrong:
            name = printable(wrong[0], 80)
            depths.append(QueueDepth(queue, 0, (), held.get(queue, 0), problem=(
                f"key {name} is not a list (wrong type): it is not a Celery queue; "
                "check what else writes to this Redis database")))
            continue
        counts = tuple(int(n) for n in answered)
        depths.append(QueueDepth(queue, sum(counts), counts, held.get(queue, 0)))
    return Depths(tuple(depths), unacked_total)


def _unacked_by_queue(client: redis.Redis) -> Counter[str]:
    """Count unacked messages by routing key (entries are JSON [message, exchange, key])."""
    held: Counter[str] = Counter()
    for raw in client.hvals(UNACKED):
        try:
            entry = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(entry, list) and len(entry) >= 3 and isinstance(entry[2], str):
            held[entry[2]] += 1
    return held
