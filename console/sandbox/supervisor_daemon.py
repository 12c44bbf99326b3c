"""SupervisorDaemon: a real supervisord with a program that runs, one that dies, one stopped.

Listens on a unix socket (and HTTP on a free loopback port), both with a login, under a temp
dir. The programs: `steady` runs, `crasher` exits at once and ends FATAL after its retries,
`idle` has autostart=false and stays STOPPED. Needs the `supervisor` package in the Python
that runs this (a test dependency of the project).
"""

from __future__ import annotations

import subprocess
import sys
import xmlrpc.client
from pathlib import Path
from typing import Any, Self

from .processes import (
    Service,
    ServiceError,
    free_port,
    make_temp_dir,
    remove_tree,
    stop_process,
    tail,
    wait_for,
)

USERNAME = "ops"


class SupervisorDaemon(Service):
    """supervisord -n with its own config, socket, logs and programs."""

    def __init__(self, password: str | None = "s3cret-supervisor", dir: Path | None = None) -> None:
        self.password = password
        self.username = USERNAME
        self._given_dir = dir
        self.dir: Path = dir or Path()
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def socket_path(self) -> Path:
        return self.dir / "supervisor.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config_text(self) -> str:
        d = self.dir
        login = (f"username = {self.username}\npassword = {self.password}\n"
                 if self.password is not None else "")
        return f"""\
[unix_http_server]
file = {self.socket_path}
chmod = 0700
{login}
[inet_http_server]
port = 127.0.0.1:{self.port}
{login}
[supervisord]
logfile = {d}/supervisord.log
pidfile = {d}/supervisord.pid
childlogdir = {d}
nodaemon = true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://{self.socket_path}
{login}
[program:steady]
command = /bin/sh -c "echo steady up; echo steady warming >&2; exec sleep 3600" {d}/sh
startsecs = 1
stdout_logfile = {d}/steady.out
stderr_logfile = {d}/steady.err

[program:crasher]
command = /bin/sh -c "echo 'Fatal: ledger directory already exists' >&2; exit 3" {d}/sh
startsecs = 1
startretries = 2
autorestart = true
stdout_logfile = {d}/crasher.out
stderr_logfile = {d}/crasher.err

[program:idle]
command = /bin/sh -c "echo idle up; exec sleep 3600" {d}/sh
autostart = false
startsecs = 1
stdout_logfile = {d}/idle.out
stderr_logfile = {d}/idle.err
"""

    def start(self) -> Self:
        return self._start_or_clean(self._start)

    def _start(self) -> None:
        self.dir = self._given_dir or make_temp_dir("supervisor")
        self.port = free_port()
        conf = self.dir / "supervisord.conf"
        conf.write_text(self.config_text())
        conf.chmod(0o600)
        self._log = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._log, start_new_session=True)
        proc = self.proc
        try:
            wait_for(lambda: self.state("steady") == "RUNNING", timeout=30,
                     what="supervisord", alive=lambda: proc.poll() is None, interval=0.1)
        except ServiceError as error:
            raise ServiceError(f"{error}\n{tail(self.dir / 'stderr.log')}\n"
                               f"{tail(self.dir / 'supervisord.log')}") from None

    def proxy(self) -> Any:
        login = f"{self.username}:{self.password}@" if self.password is not None else ""
        return xmlrpc.client.ServerProxy(f"http://{login}127.0.0.1:{self.port}/RPC2")

    def state(self, program: str) -> str:
        """A program's state name, or "" while supervisord does not answer."""
        try:
            return str(self.proxy().supervisor.getProcessInfo(program)["statename"])
        except (OSError, xmlrpc.client.Error):
            return ""

    def wait_state(self, program: str, states: tuple[str, ...], timeout: float = 30) -> None:
        wait_for(lambda: self.state(program) in states, timeout=timeout,
                 what=f"{program} in {'/'.join(states)}", interval=0.1)

    def stop(self) -> None:
        stop_process(self.proc, timeout=15, group=True)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._given_dir is None and self.dir != Path():
            remove_tree(self.dir)
