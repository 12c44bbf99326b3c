"""Safe previews of a queue's first items: cut on the server, escaped for the screen.

The Lua call returns only the first bytes of each item and its full length, so a 10 MB value
never crosses the wire; `safe_text` escapes control and invalid bytes so a value cannot move
the cursor or change colours in a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from console.core.sizes import format_bytes

PREVIEW_BYTES = 200
MAX_ITEMS = 100

_PEEK = """
local key, count, cut = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local kind = redis.call('TYPE', key)['ok']
local items = {}
if kind == 'list' then
  items = redis.call('LRANGE', key, 0, count - 1)
elseif kind == 'set' then
  local cursor, found = '0', {}
  repeat
    local page = redis.call('SSCAN', key, cursor, 'COUNT', count)
    cursor = page[1]
    for _, member in ipairs(page[2]) do
      if #found < count then found[#found + 1] = member end
    end
  until cursor == '0' or #found >= count
  items = found
elseif kind == 'zset' then
  items = redis.call('ZRANGE', key, 0, count - 1)
elseif kind == 'stream' then
  for _, entry in ipairs(redis.call('XRANGE', key, '-', '+', 'COUNT', count)) do
    local parts = {entry[1]}
    local fields = entry[2]
    for i = 1, #fields, 2 do parts[#parts + 1] = fields[i] .. '=' .. fields[i + 1] end
    items[#items + 1] = table.concat(parts, ' ')
  end
end
local out = {kind}
for _, item in ipairs(items) do
  out[#out + 1] = #item
  out[#out + 1] = string.sub(item, 1, cut)
end
return out
"""


@dataclass(frozen=True)
class PeekItem:
    text: str  # escaped, possibly cut
    size: int  # bytes in Redis


@dataclass(frozen=True)
class Peek:
    key: str
    type: str
    items: tuple[PeekItem, ...]


def safe_text(raw: bytes, size: int, limit: int = PREVIEW_BYTES) -> str:
    """Printable text: invalid UTF-8 and control characters escaped, long values marked cut."""
    text = raw[:limit].decode("utf-8", errors="surrogateescape")
    out = []
    for char in text:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not valid UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or char in "\u2028\u2029":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\x{code:02x}"))
        else:
            out.append(char)
    shown = "".join(out)
    if size > limit:
        shown += f"… ({format_bytes(size)})"
    return shown


async def peek(client: aioredis.Redis, key: str, count: int = 20,
               limit: int = PREVIEW_BYTES) -> Peek:
    """The first `count` items of a key (list order, set scan order, lowest scores first)."""
    count = max(1, min(count, MAX_ITEMS))
    reply = await client.register_script(_PEEK)(keys=[key], args=[count, limit + 4])
    kind = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    items = []
    for index in range(1, len(reply) - 1, 2):
        size = int(reply[index])
        items.append(PeekItem(safe_text(bytes(reply[index + 1]), size, limit), size))
    return Peek(key, kind, tuple(items))
