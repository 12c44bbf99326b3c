"""Real services for the tests, each started in its own temp dir and fully cleaned up.

Owns: RedisServer, PostgresCluster, DockerEngine, SystemdMachine and CeleryWorker,
plus small helpers (free_port, wait_for, reap_stale). Every service is a context
manager; ``stop()`` is safe to call twice and after a failed ``start()``.
Needs root and what tests/testbed/install.sh installs and caches.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("OPSCONSOLE_TESTBED_CACHE", "/var/cache/opsconsole-testbed"))
BUSYBOX_ROOTFS = CACHE_DIR / "busybox-rootfs-v1.tar"
SYSTEMD_ROOTFS = CACHE_DIR / "bookworm-systemd-v1.tar.zst"
BUSYBOX_IMAGE = "opsconsole-test/busybox:latest"
# Short on purpose: unix socket paths are limited to 108 bytes.
TEMP_ROOT = Path("/tmp/octb")
CGROUP_PARENT = "opsconsole-testbed"
OWNER_FILE = "owner.pid"
MACHINE_FILE = "machine.name"


class ServiceError(RuntimeError):
    """A service could not be started or driven."""


# --- helpers ----------------------------------------------------------------


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


# --- Redis --------------------------------------------------------------------


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


# --- PostgreSQL ----------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/*/bin that has initdb."""
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()]
    if not candidates:
        raise ServiceError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return max(candidates, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


class PostgresCluster(Service):
    """An own PostgreSQL cluster (initdb + pg_ctl as user postgres), trust auth, free port."""

    def __init__(self, port: int | None = None, dir: Path | None = None) -> None:
        self.port = port or free_port()
        self._given_dir = dir
        self.dir: Path = dir or Path()
        self.bin = postgres_bin_dir()
        self._paused: list[int] = []

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.dir / "sock"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> Self:
        return self._start_or_clean(self._start)

    def _pg(
        self, tool: str, *args: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run([str(self.bin / tool), *args], timeout=timeout, check=check, user="postgres")

    def _start(self) -> None:
        self.dir = self._given_dir or make_temp_dir("pg")
        shutil.chown(self.dir, "postgres", "postgres")  # pg_ctl writes its log here as postgres
        for sub in (self.data_dir, self.socket_dir):
            sub.mkdir(mode=0o700, exist_ok=True)
            shutil.chown(sub, "postgres", "postgres")
        self._pg(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            # A throwaway cluster: durability only costs time here.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._pg(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.dir / "postgres.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def psql(self, sql: str, dbname: str = "postgres", timeout: float = 30) -> str:
        """Run SQL through psql over the socket dir; returns unaligned output."""
        args = [
            str(self.bin / "psql"), "-h", str(self.socket_dir), "-p", str(self.port),
            "-U", "postgres", "-d", dbname, "-v", "ON_ERROR_STOP=1", "-Atc", sql,
        ]  # fmt: skip
        result = run(args, timeout=timeout)
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"bad database name {name!r}")
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def pause(self) -> None:
        """SIGSTOP the postmaster and every backend: new and existing connections hang."""
        pid = self.postmaster_pid()
        if pid is None:
            raise ServiceError("postgres is not running")
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        for proc in procs:
            proc.suspend()
        self._paused = [proc.pid for proc in procs]

    def resume(self) -> None:
        for pid in self._paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._paused = []

    def stop(self) -> None:
        self.resume()
        pid = self.postmaster_pid()
        if pid is not None:
            done = self._pg(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-m",
                "immediate",
                "-w",
                "-t",
                "20",
                "stop",
                check=False,
            )
            if done.returncode != 0:
                signal_tree(pid, signal.SIGKILL)
        if self._given_dir is None and self.dir != Path():
            remove_tree(self.dir)


# --- Docker ----------------------------------------------------------------------


class DockerEngine(Service):
    """A private dockerd: socket, data and exec roots in a temp dir, no bridge, no iptables."""

    def __init__(
        self,
        dir: Path | None = None,
        storage_driver: str | None = None,
        import_busybox: bool = True,
    ) -> None:
        self._given_dir = dir
        self.dir: Path = dir or Path()
        self.storage_driver = storage_driver
        self.import_busybox = import_busybox
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def socket_path(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def client(self, timeout: int = 30) -> Any:
        """A docker.DockerClient bound to this engine."""
        import docker  # type: ignore[import-untyped]

        return docker.DockerClient(base_url=self.host, timeout=timeout)

    def start(self) -> Self:
        return self._start_or_clean(self._start)

    def _start(self) -> None:
        if self.import_busybox and not BUSYBOX_ROOTFS.exists():
            raise ServiceError(f"{BUSYBOX_ROOTFS} missing: run tests/testbed/install.sh")
        self.dir = self._given_dir or make_temp_dir("docker")
        drivers = [self.storage_driver] if self.storage_driver else ["overlay2", "vfs"]
        last_error: ServiceError | None = None
        for driver in drivers:
            try:
                self._launch(driver)
                break
            except ServiceError as error:
                last_error = ServiceError(f"{error}\n{tail(self.dir / 'dockerd.log')}")
                self._halt()
                shutil.rmtree(self.dir / "data", ignore_errors=True)
        else:
            assert last_error is not None
            raise last_error
        if self.import_busybox:
            self._import_busybox()

    def _launch(self, driver: str) -> None:
        config = self.dir / "daemon.json"
        config.write_text("{}\n")  # keep the host's /etc/docker/daemon.json out of it
        args = [
            "dockerd", "--config-file", str(config),
            "--data-root", str(self.dir / "data"), "--exec-root", str(self.dir / "exec"),
            "--pidfile", str(self.dir / "dockerd.pid"), "-H", self.host,
            "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
            "--bridge=none", f"--storage-driver={driver}",
        ]  # fmt: skip
        self._log = open(self.dir / "dockerd.log", "ab")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = self.proc
        wait_for(
            self._ping,
            timeout=30,
            what=f"dockerd ({driver})",
            alive=lambda: proc.poll() is None,
            interval=0.1,
        )
        self.storage_driver = driver

    def _ping(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket_path))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return b" 200 " in sock.recv(256)
        except OSError:
            return False

    def _import_busybox(self) -> None:
        client = self.client()
        try:
            client.api.import_image_from_file(
                str(BUSYBOX_ROOTFS),
                repository=BUSYBOX_IMAGE.split(":")[0],
                tag="latest",
                changes=['CMD ["/bin/sh"]', "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            )
            client.images.get(BUSYBOX_IMAGE)
        finally:
            client.close()

    def pause(self) -> None:
        """Freeze dockerd: API calls hang, containers keep running."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        """Stop dockerd and start it again on the same data root (restart policies apply)."""
        self._halt()
        assert self.storage_driver is not None
        try:
            self._launch(self.storage_driver)
        except BaseException:
            self.stop()
            raise

    def _halt(self) -> None:
        """Stop dockerd (by its pidfile, as it expects) and everything it left behind."""
        pid: int | None = None
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.dir / "dockerd.pid").read_text().strip())
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
                os.kill(pid or self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                stop_process(self.proc, timeout=1, group=True)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir != Path():
            kill_processes_using(self.dir)  # containerd and shims if dockerd died hard
            unmount_all(self.dir / "exec")
            unmount_all(self.dir / "data")
        with contextlib.suppress(OSError):
            self.socket_path.unlink()

    def stop(self) -> None:
        self._halt()
        if self._given_dir is None and self.dir != Path():
            remove_tree(self.dir)


# --- systemd in a container ------------------------------------------------------------


SYSTEMD_ROOTFS_DIR = CACHE_DIR / SYSTEMD_ROOTFS.name.removesuffix(".tar.zst")
# Records which tarball the extracted dir came from, so a rebuilt tarball is picked up.
SYSTEMD_ROOTFS_STAMP = CACHE_DIR / (SYSTEMD_ROOTFS_DIR.name + ".extracted")


def systemd_rootfs_dir() -> Path:
    """The cached rootfs, extracted once; machines share it read-only (--volatile=overlay)."""
    if not SYSTEMD_ROOTFS.exists():
        raise ServiceError(f"{SYSTEMD_ROOTFS} missing: run tests/testbed/install.sh")
    st = SYSTEMD_ROOTFS.stat()
    source = f"{st.st_size} {st.st_mtime_ns}"

    def fresh() -> bool:
        try:
            return SYSTEMD_ROOTFS_STAMP.read_text() == source
        except OSError:
            return False

    if fresh():
        return SYSTEMD_ROOTFS_DIR
    with open(CACHE_DIR / ".extract.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if fresh():
            return SYSTEMD_ROOTFS_DIR
        partial = Path(tempfile.mkdtemp(prefix="extract-", dir=CACHE_DIR))
        try:
            tar = ["tar", "--zstd", "--numeric-owner", "-xpf", str(SYSTEMD_ROOTFS)]
            run([*tar, "-C", str(partial)], timeout=120)
            partial.chmod(0o755)
            shutil.rmtree(SYSTEMD_ROOTFS_DIR, ignore_errors=True)
            partial.rename(SYSTEMD_ROOTFS_DIR)
            SYSTEMD_ROOTFS_STAMP.write_text(source)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return SYSTEMD_ROOTFS_DIR
    if not SYSTEMD_ROOTFS.exists():
        raise ServiceError(f"{SYSTEMD_ROOTFS} missing: run tests/testbed/install.sh")
    with open(CACHE_DIR / ".extract.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (SYSTEMD_ROOTFS_DIR / "sbin" / "init").exists():
            partial = Path(tempfile.mkdtemp(prefix="extract-", dir=CACHE_DIR))
            try:
                run(
                    [
                        "tar",
                        "--zstd",
                        "--numeric-owner",
                        "-xpf",
                        str(SYSTEMD_ROOTFS),
                        "-C",
                        str(partial),
                    ],
                    timeout=120,
                )
                partial.chmod(0o755)
                shutil.rmtree(SYSTEMD_ROOTFS_DIR, ignore_errors=True)
                partial.rename(SYSTEMD_ROOTFS_DIR)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
    return SYSTEMD_ROOTFS_DIR


def _cgroup_dirs(name: str) -> tuple[Path | None, Path | None]:
    """The machine's (cgroup2, name=systemd v1) dirs, for a hybrid or a pure cgroup2 host."""
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").exists():
        return root / CGROUP_PARENT / name, None
    unified = root / "unified" / CGROUP_PARENT / name if (root / "unified").is_dir() else None
    named = root / "systemd" / CGROUP_PARENT / name if (root / "systemd").is_dir() else None
    return unified, named


def kill_cgroup(name: str) -> None:
    """Kill every process left in the machine's cgroups and remove the dirs."""
    unified, named = _cgroup_dirs(name)
    roots = [path for path in (unified, named) if path is not None]
    if unified is not None and (unified / "cgroup.kill").exists():
        with contextlib.suppress(OSError):
            (unified / "cgroup.kill").write_text("1")
    for root in roots:
        if not root.exists():
            continue
        for procs in root.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
    for root in roots:
        deadline = time.monotonic() + 5
        while root.exists():
            dirs = sorted(
                (p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
            )
            try:
                for path in [*dirs, root]:
                    path.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)  # killed processes take a moment to leave the cgroup


class SystemdMachine(Service):
    """A real systemd (PID 1 with dbus and journald) booted by systemd-nspawn."""

    READY_STATES = ("running", "degraded")

    def __init__(self, name: str | None = None, dir: Path | None = None, boot_timeout: float = 30) -> None:
        self.name = name or f"octb-{secrets.token_hex(4)}"
        self._given_dir = dir
        self.dir: Path = dir or Path()
        self.boot_timeout = boot_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader_pid: int = 0
        self.rootfs: Path = Path()
        self._log: Any = None

    @property
    def bus_dir(self) -> Path:
        return self.dir / "bus"

    @property
    def bus_address(self) -> str:
        return f"unix:path={self.bus_dir / 'system_bus_socket'}"

    @property
    def bus_env(self) -> dict[str, str]:
        """Environment that makes pystemd's default system bus this machine's bus."""
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.bus_address}

    @property
    def journal_dir(self) -> Path:
        return self.dir / "journal"

    @property
    def units_dir(self) -> Path:
        return self.dir / "units"

    def start(self) -> Self:
        return self._start_or_clean(self._start)

    def _start(self) -> None:
        self.rootfs = systemd_rootfs_dir()
        self.dir = self._given_dir or make_temp_dir("nspawn")
        (self.dir / MACHINE_FILE).write_text(self.name)
        for sub in (self.bus_dir, self.journal_dir, self.units_dir):
            sub.mkdir(mode=0o755, exist_ok=True)
        cgroups = [path for path in _cgroup_dirs(self.name) if path is not None]
        for path in cgroups:
            path.mkdir(parents=True, exist_ok=True)
        procs_files = [str(path / "cgroup.procs") for path in cgroups]

        def enter_cgroups() -> None:
            # Runs in the child before exec, so nspawn and all it forks stay in our cgroups.
            for procs in procs_files:
                fd = os.open(procs, os.O_WRONLY)
                os.write(fd, b"0")
                os.close(fd)

        args = [
            "systemd-nspawn", "-M", self.name, "-b", "-D", str(self.rootfs),
            "--volatile=overlay", "--private-network", "--register=no", "--keep-unit",
            "--link-journal=no", "--console=read-only",
            f"--bind={self.bus_dir}:/run/dbus",
            f"--bind={self.journal_dir}:/var/log/journal",
            f"--bind={self.units_dir}:/usr/local/lib/systemd/system",
        ]  # fmt: skip
        env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        self._log = open(self.dir / "console.log", "ab")
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=enter_cgroups,
        )
        proc = self.proc
        try:
            wait_for(
                lambda: self.system_state() in self.READY_STATES,
                timeout=self.boot_timeout,
                what=f"systemd-nspawn {self.name}",
                alive=lambda: proc.poll() is None,
                interval=0.02,
            )
        except ServiceError as error:
            raise ServiceError(f"{error}\n{tail(self.dir / 'console.log')}") from None
        self.leader_pid = self._find_leader()

    def _find_leader(self) -> int:
        assert self.proc is not None
        for child in psutil.Process(self.proc.pid).children():
            if child.name() == "systemd":
                return child.pid
        raise ServiceError(f"no systemd child under nspawn {self.proc.pid}")

    def system_state(self) -> str:
        """Manager.SystemState over the machine's bus, or "" when it does not answer."""
        try:
            args = [
                "busctl", f"--address={self.bus_address}", "get-property",
                "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager", "SystemState",
            ]  # fmt: skip
            result = run(args, timeout=5, check=False)
        except subprocess.TimeoutExpired:
            return ""
        return result.stdout.strip().removeprefix("s ").strip('"') if result.returncode == 0 else ""

    def run_inside(
        self, *args: str, timeout: float = 30, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in all the machine's namespaces."""
        if not self.leader_pid:
            raise ServiceError("machine is not running")
        return run(["nsenter", "-t", str(self.leader_pid), "-a", *args], timeout=timeout, check=check)

    def systemctl(
        self, *args: str, timeout: float = 30, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.run_inside("systemctl", "--no-pager", *args, timeout=timeout, check=check)

    def add_unit(self, name: str, text: str) -> Path:
        """Drop a unit file where the machine's systemd looks; call daemon_reload() after."""
        if "/" in name or not re.fullmatch(r"[\w@.:-]+\.(service|timer|socket|target|path)", name):
            raise ValueError(f"bad unit name {name!r}")
        path = self.units_dir / name
        path.write_text(text)
        return path

    def daemon_reload(self) -> None:
        self.systemctl("daemon-reload")

    def journal(self, unit: str, timeout: float = 15) -> str:
        """The unit's journal as JSON lines, read from the host."""
        return run(
            [
                "journalctl",
                f"--directory={self.journal_dir}",
                "-u",
                unit,
                "-o",
                "json",
                "--no-pager",
            ],
            timeout=timeout,
            check=False,
        ).stdout

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            # A SIGTERM sent during early boot is lost, so repeat it.
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=2)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.proc = None
        self.leader_pid = 0
        if self._log is not None:
            self._log.close()
            self._log = None
        kill_cgroup(self.name)
        self._clean_nspawn_state()
        if self._given_dir is None and self.dir != Path():
            remove_tree(self.dir)

    def _clean_nspawn_state(self) -> None:
        # Left behind only when nspawn was SIGKILLed; a stale lock blocks the next boot.
        if self.rootfs != Path() and self.rootfs.exists():
            st = os.stat(self.rootfs)
            lock = Path(f"/run/systemd/nspawn/locks/inode-{st.st_dev}:{st.st_ino}")
            if lock.exists() and not self._rootfs_in_use():
                with contextlib.suppress(OSError):
                    lock.unlink()
        propagate = Path("/run/systemd/nspawn/propagate") / self.name
        if propagate.exists():
            remove_tree(propagate)

    def _rootfs_in_use(self) -> bool:
        needle = str(self.rootfs)
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.info["name"] == "systemd-nspawn" and needle in (proc.info["cmdline"] or ()):
                return True
        return False


# --- Celery -------------------------------------------------------------------------------


CELERY_APP = "tests.testbed.celeryapp"


class CeleryWorker(Service):
    """A ``celery worker -E`` subprocess run from the repository with this Python."""

    def __init__(
        self,
        app_module: str = CELERY_APP,
        broker_url: str = "redis://127.0.0.1:6379/0",
        name: str = "w1@%h",
        queues: Iterable[str] = ("celery",),
        concurrency: int = 1,
        extra_env: Mapping[str, str] | None = None,
        backend_url: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.app_module = app_module
        self.broker_url = broker_url
        self.backend_url = backend_url or broker_url
        self.name = name
        self.nodename = name.replace("%h", socket.gethostname())
        self.queues = list(queues)
        self.concurrency = concurrency
        self.extra_env = dict(extra_env or {})
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir: Path = Path()
        self._log: Any = None

    @property
    def log_path(self) -> Path:
        return self.dir / "worker.log"

    def start(self) -> Self:
        return self._start_or_clean(self._start)

    def _start(self) -> None:
        self.dir = make_temp_dir("celery")
        args = [
            sys.executable, "-m", "celery", "-A", self.app_module, "worker",
            "-n", self.name, "-E", "-Q", ",".join(self.queues),
            f"--concurrency={self.concurrency}", "--loglevel=INFO",
            # The path in the command line also lets reap_stale() find an orphaned worker.
            f"--logfile={self.log_path}",
            # Mingle waits for other workers' replies at start; nothing to sync in tests.
            "--without-mingle", *self.extra_args,
        ]  # fmt: skip
        env = dict(os.environ)
        env.update(
            OPSCONSOLE_TEST_BROKER=self.broker_url,
            OPSCONSOLE_TEST_BACKEND=self.backend_url,
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        )
        env.update(self.extra_env)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = self.proc
        try:
            wait_for(
                self.ping,
                timeout=30,
                what=f"celery worker {self.nodename}",
                alive=lambda: proc.poll() is None,
            )
        except ServiceError as error:
            raise ServiceError(f"{error}\n{tail(self.log_path)}") from None

    def ping(self, timeout: float = 0.5) -> bool:
        """True when the worker answers a control ping over the broker."""
        from celery import Celery  # type: ignore[import-untyped]

        probe = Celery("opsconsole-testbed-probe", broker=self.broker_url, set_as_current=False)
        # The default polling interval loses replies to short broadcasts (see TESTBED.md).
        probe.conf.broker_transport_options = {"polling_interval": 0.02}
        try:
            replies = probe.control.ping(destination=[self.nodename], timeout=timeout)
        except Exception:
            return False
        finally:
            probe.close()
        return any(self.nodename in reply for reply in replies or [])

    def stop(self) -> None:
        stop_process(self.proc, timeout=10, group=True)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir != Path():
            shutil.rmtree(self.dir, ignore_errors=True)


# --- orphans ------------------------------------------------------------------------------------


def reap_stale() -> list[Path]:
    """Clean up temp dirs (and their daemons, mounts, cgroups) of test runs that died hard."""
    reaped = []
    for path in sorted(TEMP_ROOT.glob("*-*")) if TEMP_ROOT.exists() else []:
        try:
            owner = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if psutil.pid_exists(owner):
            continue
        stop_by_pidfile(path / "dockerd.pid", "dockerd")
        kill_processes_using(path)
        kill_by_pidfile(path / "redis.pid", "redis-server")
        machine = path / MACHINE_FILE
        if machine.exists():
            name = machine.read_text().strip()
            kill_cgroup(name)
            remove_tree(Path("/run/systemd/nspawn/propagate") / name)
        remove_tree(path)
        reaped.append(path)
    return reaped
