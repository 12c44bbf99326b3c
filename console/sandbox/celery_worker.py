"""CeleryWorker: a ``celery worker -E`` subprocess running the test bed's Celery app."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from .processes import Service, ServiceError, make_temp_dir, stop_process, tail, wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
CELERY_APP = "console.sandbox.celeryapp"


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
