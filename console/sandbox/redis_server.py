"""RedisServer: an own redis-server on a free port for one test, nothing persisted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Self

from .processes import Service, free_port, make_temp_dir, remove_tree, stop_process, wait_for


def redis_ping(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something at host:port answers a Redis PING (even with -NOAUTH)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH"))


class RedisServer(Service):
    """An own redis-server on a free port, nothing persisted."""

    def __init__(
        self, port: int | None = None, dir: Path | None = None, requirepass: str | None = None
    ) -> None:
        self.port = port or free_port()
        self.requirepass = requirepass
        self._given_dir = dir
        self.dir: Path = dir or Path()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        auth = f":{self.requirepass}@" if self.requirepass else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def start(self) -> Self:
        return self._start_or_clean(self._start)

    def _start(self) -> None:
        self.dir = self._given_dir or make_temp_dir("redis")
        args = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--logfile", str(self.dir / "redis.log"),
            # redis rewrites its process title, so reap_stale() finds it by pidfile
            "--pidfile", str(self.dir / "redis.pid"),
        ]  # fmt: skip
        if self.requirepass:
            args += ["--requirepass", self.requirepass]
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        proc = self.proc
        wait_for(
            lambda: redis_ping("127.0.0.1", self.port),
            timeout=10,
            what=f"redis-server on {self.port}",
            alive=lambda: proc.poll() is None,
        )

    def pause(self) -> None:
        """Freeze the server: connections are accepted by the kernel but never answered."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)
        self.proc = None
        if self._given_dir is None and self.dir != Path():
            remove_tree(self.dir)
