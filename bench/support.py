"""Helpers shared by the benchmarks: a local HTTP server with a fixed delay, timing, configs."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  delay: float) -> None:
    body = b'{"status": "ok"}'
    try:
        while True:  # keep-alive: one answer per request head
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            await asyncio.sleep(delay)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@contextmanager
def delayed_server(delay: float = 0.05) -> Iterator[str]:
    """An asyncio loopback server (in a thread) answering every GET after `delay` seconds.

    Event-driven, so that a few hundred concurrent requests measure the client, not the
    server's threads.
    """
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    started = threading.Event()

    async def serve() -> asyncio.Server:
        server = await asyncio.start_server(lambda r, w: _answer(r, w, delay), "127.0.0.1", 0,
                                            backlog=1024)
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        return server

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    future = asyncio.run_coroutine_threadsafe(serve(), loop)
    server = future.result(10)
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{ready[0]}"
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def endpoints_config(path: Path, base_url: str, count: int, interval: str = "10s") -> Path:
    entries = [f"[[http]]\nname = 'e{i}'\nurl = '{base_url}/e{i}'\ntimeout = 5\n"
               f"interval = '{interval}'\n" for i in range(count)]
    path.write_text("\n".join(entries))
    path.chmod(0o600)
    return path


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run_quietly(argv: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> int:
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                          timeout=timeout, check=False).returncode
