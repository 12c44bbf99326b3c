"""DockerEngine: a private dockerd in a temp dir, with the cached busybox image imported.

Needs the busybox rootfs that console/sandbox/install.sh caches (BUSYBOX_ROOTFS).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any, Self

from .processes import (
    CACHE_DIR,
    Service,
    ServiceError,
    kill_processes_using,
    make_temp_dir,
    remove_tree,
    stop_process,
    tail,
    unmount_all,
    wait_for,
)

BUSYBOX_ROOTFS = CACHE_DIR / "busybox-rootfs-v1.tar"
BUSYBOX_IMAGE = "opsconsole-test/busybox:latest"


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
            raise ServiceError(f"{BUSYBOX_ROOTFS} missing: run console/sandbox/install.sh")
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
