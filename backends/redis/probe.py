"""Reading the types and lengths of many keys in ONE round trip per poll.

One read-only Lua call gets every key: it is passed each key's cached type and runs only that
type's length command; a key whose type is unknown, or whose cached type answers WRONGTYPE, is
detected again with TYPE inside the same call. The answer comes back as one JSON string, so
thousands of keys cost one reply to parse instead of thousands.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

LENGTH_COMMANDS = {"list": "LLEN", "set": "SCARD", "zset": "ZCARD", "stream": "XLEN",
                   "hash": "HLEN"}
SAMPLE_SIZE = 20

_READ_KEYS = """
local lengths = {list='LLEN', set='SCARD', zset='ZCARD', stream='XLEN', hash='HLEN'}
local out = {}
for i, key in ipairs(KEYS) do
  local kind = ARGV[2 * i - 1]
  local want_sample = ARGV[2 * i] == '1'
  local length = -1
  if lengths[kind] then
    local reply = redis.pcall(lengths[kind], key)
    if type(reply) == 'number' then length = reply else kind = '' end
  end
  if not lengths[kind] then
    kind = redis.call('TYPE', key)['ok']
    length = lengths[kind] and redis.call(lengths[kind], key) or 0
  end
  local pending = -1
  if kind == 'stream' then
    pending = 0
    for _, group in ipairs(redis.call('XINFO', 'GROUPS', key)) do
      for j = 1, #group, 2 do
        if group[j] == 'pending' then pending = pending + group[j + 1] end
      end
    end
  end
  local signature = ''
  if want_sample and length > 0 then
    local members = {}
    if kind == 'list' then
      members = redis.call('LRANGE', key, 0, SAMPLE - 1)
    elseif kind == 'set' then
      members = redis.call('SSCAN', key, '0', 'COUNT', SAMPLE)[2]
      table.sort(members)
    elseif kind == 'zset' then
      members = redis.call('ZRANGE', key, 0, SAMPLE - 1)
    end
    signature = redis.sha1hex(table.concat(members, '\\0'))
  end
  out[#out + 1] = kind
  out[#out + 1] = length
  out[#out + 1] = pending
  out[#out + 1] = signature
end
return cjson.encode(out)
""".replace("SAMPLE", str(SAMPLE_SIZE))


@dataclass(frozen=True)
class KeyRequest:
    key: str
    sample: bool = False  # fingerprint the first members (to see a processing set that never changes)


@dataclass(frozen=True)
class KeyReading:
    """One key as read in this poll: its type ("none" when absent), length and extras."""

    key: str
    type: str
    length: int = 0
    pending: int | None = None  # streams: entries delivered to consumer groups, not yet acked
    sample: str | None = None  # fingerprint of the first members, when asked for


class Probe:
    """Remembers key types between polls and reads many keys in one round trip."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.round_trips = 0

    def forget(self, key: str) -> None:
        self.types.pop(key, None)

    async def read(self, client: aioredis.Redis,
                   requests: Sequence[KeyRequest]) -> dict[str, KeyReading]:
        if not requests:
            return {}
        args: list[str] = []
        for request in requests:
            args.append(self.types.get(request.key, ""))
            args.append("1" if request.sample else "0")
        script = client.register_script(_READ_KEYS)
        self.round_trips += 1
        raw = await script(keys=[r.key for r in requests], args=args)
        values = json.loads(raw)
        readings: dict[str, KeyReading] = {}
        for index, request in enumerate(requests):
            kind, length, pending, signature = values[4 * index:4 * index + 4]
            kind = str(kind)
            if kind == "none":
                self.forget(request.key)
            else:
                self.types[request.key] = kind
            readings[request.key] = KeyReading(
                request.key, kind, int(length), None if pending < 0 else int(pending),
                (signature or None) if request.sample else None)
        return readings
