"""Helpers shared by the benchmarks: a local HTTP server with a fixed delay, timing, configs."""

from __future__ import annotations

import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Delayed(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real application server
    delay = 0.05

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away mid-answer is not news here


@contextmanager
def delayed_server(delay: float = 0.05) -> Iterator[str]:
    """A threaded loopback server answering every path after `delay` seconds."""
    handler = type("Handler", (_Delayed,), {"delay": delay})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
