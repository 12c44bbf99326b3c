"""Host plumbing every test-bed service shares: processes, mounts, temp dirs, the Service base.

Owns ServiceError, the Service context-manager base class (``stop()`` is safe to call twice
and after a failed ``start()``), TEMP_ROOT and its owner files, CACHE_DIR, and the helpers
free_port, run, wait_for, make_temp_dir, tail, stop_process, signal_tree, mounts_under,
unmount_all, kill_processes_using, kill_by_pidfile, stop_by_pidfile and remove_tree.
The services need root and what console/sandbox/install.sh installs and caches.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil

CACHE_DIR = Path(os.environ.get("OPSCONSOLE_TESTBED_CACHE", "/var/cache/opsconsole-testbed"))
# Short on purpose: unix socket paths are limited to 108 bytes.
TEMP_ROOT = Path("/tmp/octb")
OWNER_FILE = "owner.pid"


class ServiceError(RuntimeError):
    """A service could not be started or driven."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(
    args: Sequence[str],
    *,
    timeout: float = 30,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command (argument list, never a shell) and capture its output."""
    result = subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        user=user,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-2000:]
        raise ServiceError(f"{' '.join(args)} exited {result.returncode}: {output}")
    return result


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.05,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll ``predicate`` until true; fail early when ``alive`` says the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if alive is not None and not alive():
            raise ServiceError(f"{what}: process exited while starting")
        if time.monotonic() > deadline:
            raise ServiceError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(interval)


def make_temp_dir(kind: str) -> Path:
    """A fresh dir under TEMP_ROOT, tagged with our PID so reap_stale() can find orphans."""
    TEMP_ROOT.mkdir(mode=0o755, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=TEMP_ROOT))
    path.chmod(0o755)  # service users (postgres, messagebus) must traverse it
    (path / OWNER_FILE).write_text(str(os.getpid()))
    return path


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_process(proc: subprocess.Popen[Any] | None, *, timeout: float = 10, group: bool = False) -> None:
    """SIGTERM (after SIGCONT, in case it was paused), then SIGKILL; the group if asked."""
    if proc is None or proc.poll() is not None:
        return

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                os.kill(proc.pid, sig)

    send(signal.SIGCONT)
    send(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(timeout=10)
    if group:  # children left in the group (prefork pool, shims)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def signal_tree(pid: int, sig: int) -> None:
    """Send ``sig`` to a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4].replace("\\040", " ")
            if point == str(path) or point.startswith(prefix):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def unmount_all(path: Path) -> None:
    for point in mounts_under(path):
        run(["umount", "--lazy", point], timeout=10, check=False)


def kill_processes_using(path: Path) -> None:
    """SIGKILL processes whose command line mentions ``path`` (orphaned daemons, shims)."""
    needle = str(path)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        if any(needle in arg for arg in proc.info["cmdline"] or ()):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGCONT)
                proc.kill()


def kill_by_pidfile(pidfile: Path, name: str) -> None:
    """SIGKILL the process a pidfile names, if it still is a ``name`` process."""
    try:
        proc = psutil.Process(int(pidfile.read_text().split()[0]))
        if proc.name() == name:
            proc.kill()
    except (OSError, ValueError, IndexError, psutil.Error):
        pass


def stop_by_pidfile(pidfile: Path, name: str, wait: float = 20) -> None:
    """SIGTERM the process a pidfile names and wait for it (then SIGKILL).

    Used for an orphaned dockerd: killed outright it would leave its containers running,
    while on SIGTERM it stops them first.
    """
    try:
        proc = psutil.Process(int(pidfile.read_text().split()[0]))
        if proc.name() != name:
            return
        proc.terminate()
        proc.wait(wait)
    except psutil.TimeoutExpired:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    except (OSError, ValueError, IndexError, psutil.Error):
        pass


def remove_tree(path: Path) -> None:
    unmount_all(path)
    shutil.rmtree(path, ignore_errors=True)


class Service:
    """Context-manager plumbing shared by every service."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _start_or_clean(self, starter: Callable[[], None]) -> Self:
        try:
            starter()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

