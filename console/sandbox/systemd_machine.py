"""SystemdMachine: a real systemd booted by systemd-nspawn, with its rootfs and cgroups.

Owns the cached rootfs (SYSTEMD_ROOTFS, extracted once by systemd_rootfs_dir()), the
machine's cgroups (kill_cgroup) and the machine name file reap_stale() reads.
Needs the rootfs tarball that console/sandbox/install.sh caches.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import psutil

from .processes import CACHE_DIR, Service, ServiceError, make_temp_dir, remove_tree, run, tail, wait_for

SYSTEMD_ROOTFS = CACHE_DIR / "bookworm-systemd-v2.tar.zst"
CGROUP_PARENT = "opsconsole-testbed"
MACHINE_FILE = "machine.name"
SYSTEMD_ROOTFS_DIR = CACHE_DIR / SYSTEMD_ROOTFS.name.removesuffix(".tar.zst")
# Records which tarball the extracted dir came from, so a rebuilt tarball is picked up.
SYSTEMD_ROOTFS_STAMP = CACHE_DIR / (SYSTEMD_ROOTFS_DIR.name + ".extracted")


def systemd_rootfs_dir() -> Path:
    """The cached rootfs, extracted once; machines share it read-only (--volatile=overlay)."""
    if not SYSTEMD_ROOTFS.exists():
        raise ServiceError(f"{SYSTEMD_ROOTFS} missing: run console/sandbox/install.sh")
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

    @property
    def cron_dir(self) -> Path:
        """The machine's /etc/cron.d, written from the host (files need a trailing newline)."""
        return self.dir / "cron.d"

    def start(self) -> Self:
        return self._start_or_clean(self._start)

    def _start(self) -> None:
        self.rootfs = systemd_rootfs_dir()
        self.dir = self._given_dir or make_temp_dir("nspawn")
        (self.dir / MACHINE_FILE).write_text(self.name)
        for sub in (self.bus_dir, self.journal_dir, self.units_dir, self.cron_dir):
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
            f"--bind={self.cron_dir}:/etc/cron.d",
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
