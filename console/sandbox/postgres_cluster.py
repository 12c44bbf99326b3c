"""PostgresCluster: an own PostgreSQL cluster (initdb + pg_ctl) in a temp dir, on a free port."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Self

import psutil

from .processes import Service, ServiceError, free_port, make_temp_dir, remove_tree, run, signal_tree


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
