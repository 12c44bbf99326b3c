"""Moving items between queue keys server-side: retry failed, requeue stuck, purge.

Each chunk is one Lua call that checks both key types, copies the chunk into the destination
and only then removes it from the source. A script runs to its end on the server even when the
console is killed, so each chunk is all-or-nothing; the type checks come before any write and
chunks stay far below Lua's unpack limit, so a script never fails half-way. Between chunks,
every item is in exactly one of the two keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis import exceptions as rex

MAX_CHUNK = 5000
SOURCE_TYPES = ("list", "set", "zset")
DESTINATION_TYPES = ("list", "set", "none")

_MOVE_CHUNK = """
local source, destination = KEYS[1], KEYS[2]
local count, push = tonumber(ARGV[1]), ARGV[2]
local source_type = redis.call('TYPE', source)['ok']
local destination_type = redis.call('TYPE', destination)['ok']
if source_type == 'none' then return 0 end
if destination_type ~= 'none' and destination_type ~= 'list' and destination_type ~= 'set' then
  return redis.error_reply('OPSWRONGTYPE destination ' .. destination_type)
end
local items
if source_type == 'set' then
  items = redis.call('SRANDMEMBER', source, count)
elseif source_type == 'list' then
  items = redis.call('LRANGE', source, 0, count - 1)
elseif source_type == 'zset' then
  items = redis.call('ZRANGE', source, 0, count - 1)
else
  return redis.error_reply('OPSWRONGTYPE source ' .. source_type)
end
if #items == 0 then return 0 end
if destination_type == 'set' then
  redis.call('SADD', destination, unpack(items))
elseif push == 'lpush' then
  redis.call('LPUSH', destination, unpack(items))
else
  redis.call('RPUSH', destination, unpack(items))
end
if source_type == 'set' then
  redis.call('SREM', source, unpack(items))
elseif source_type == 'list' then
  redis.call('LTRIM', source, #items, -1)
else
  redis.call('ZREM', source, unpack(items))
end
return #items
"""

_LENGTH = {"list": "llen", "set": "scard", "zset": "zcard"}


class MoveRefused(Exception):
    """The move cannot start (wrong key types); nothing was changed."""


class MoveFailed(Exception):
    """The move stopped part-way; the message says how far it got. Nothing is lost."""


@dataclass(frozen=True)
class MovePlan:
    source: str
    destination: str
    source_type: str
    destination_type: str
    count: int


@dataclass(frozen=True)
class MoveResult:
    moved: int
    planned: int


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def plan_move(client: aioredis.Redis, source: str, destination: str) -> MovePlan:
    """Check both keys' types and count the source; raises MoveRefused when it cannot run."""
    pipe = client.pipeline(transaction=False)
    pipe.type(source)
    pipe.type(destination)
    source_type, destination_type = (_text(t) for t in await pipe.execute())
    if source_type == "none":
        return MovePlan(source, destination, source_type, destination_type, 0)
    if source_type not in SOURCE_TYPES:
        raise MoveRefused(f"{source} is a {source_type}, not a list, set or sorted set: "
                          "nothing was moved")
    if destination_type not in DESTINATION_TYPES:
        raise MoveRefused(f"{destination} is a {destination_type}, not a list or set: "
                          "nothing was moved (fix the key or the config's queue name)")
    count = int(await getattr(client, _LENGTH[source_type])(source))
    return MovePlan(source, destination, source_type, destination_type, count)


async def move_items(client: aioredis.Redis, source: str, destination: str, *,
                     chunk: int = 1000, push: str = "rpush",
                     progress: Callable[[int, int], None] | None = None) -> MoveResult:
    """Move what the source holds now into the destination, chunk by chunk.

    Items added to the source while the move runs are left for the next move, so a busy
    producer cannot keep it going forever.
    """
    if not 1 <= chunk <= MAX_CHUNK:
        raise ValueError(f"chunk must be between 1 and {MAX_CHUNK}")
    plan = await plan_move(client, source, destination)
    script = client.register_script(_MOVE_CHUNK)
    moved = 0
    while moved < plan.count:
        size = min(chunk, plan.count - moved)
        try:
            step = int(await script(keys=[source, destination], args=[size, push]))
        except rex.ResponseError as exc:
            raise _failed(exc, moved, plan) from None
        except (rex.ConnectionError, rex.TimeoutError, TimeoutError, OSError) as exc:
            raise MoveFailed(f"stopped after moving {moved:,} of {plan.count:,}: "
                             f"{_text(exc).splitlines()[0][:160] or type(exc).__name__}; "
                             f"the other items are still in {source} (run it again)") from None
        if step == 0:
            break
        moved += step
        if progress is not None:
            progress(moved, plan.count)
    return MoveResult(moved, plan.count)


def _failed(exc: Exception, moved: int, plan: MovePlan) -> MoveFailed:
    text = str(exc)
    if text.startswith("OPSWRONGTYPE"):
        which, _, kind = text.removeprefix("OPSWRONGTYPE ").partition(" ")
        key = plan.destination if which == "destination" else plan.source
        reason = f"{key} became a {kind}"
    else:
        reason = f"Redis error: {text.splitlines()[0][:160]}"
    return MoveFailed(f"stopped after moving {moved:,} of {plan.count:,}: {reason}; "
                      f"the other items are still in {plan.source}")


_PURGE = """
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return 0 end
local count
if kind == 'set' then count = redis.call('SCARD', KEYS[1])
elseif kind == 'list' then count = redis.call('LLEN', KEYS[1])
elseif kind == 'zset' then count = redis.call('ZCARD', KEYS[1])
else return redis.error_reply('OPSWRONGTYPE source ' .. kind) end
redis.call('UNLINK', KEYS[1])
return count
"""


async def purge(client: aioredis.Redis, key: str) -> int:
    """Delete a failed set or list (type-checked in the same atomic call); returns its size."""
    try:
        return int(await client.register_script(_PURGE)(keys=[key]))
    except rex.ResponseError as exc:
        if str(exc).startswith("OPSWRONGTYPE"):
            kind = str(exc).rsplit(" ", 1)[-1]
            raise MoveRefused(f"{key} is a {kind}, not a list, set or sorted set: "
                              "not deleted") from None
        raise
