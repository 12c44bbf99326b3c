"""SshdHost and SshClientSetup: one real sshd per simulated fleet host, and the client side.

Each SshdHost is `sshd -D -f CONFIG` on its own loopback address (127.A.B.K), with its own
host key, an AuthorizedKeysFile holding the test's key, and `SetEnv` giving every session
that host's own opsconsole config (and PYTHONPATH, so the bridge runs the tree under test).
SshClientSetup makes the client key, a known_hosts and an ssh config with one `Host` alias
per host, so root's ~/.ssh is never touched (ssh is always run with -F).
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Self

import psutil

from .processes import Service, ServiceError, make_temp_dir, remove_tree, run, stop_process, tail, wait_for

SSHD = "/usr/sbin/sshd"


def port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def keygen(path: Path, comment: str) -> None:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


class SshClientSetup:
    """The client side of a simulated fleet: a key, known_hosts and an ssh config file."""

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.key = dir / "id_ed25519"
        self.known_hosts = dir / "known_hosts"
        self.ssh_config = dir / "ssh_config"
        self.control_dir = dir / "ctl"
        keygen(self.key, "opsconsole-test-client")
        self.known_hosts.write_text("")
        self.ssh_config.write_text("")
        self.ssh_config.chmod(0o600)

    @property
    def public_key(self) -> str:
        return self.key.with_suffix(".pub").read_text()

    def add(self, alias: str, host: SshdHost) -> None:
        """A `Host alias` entry and the host's key in known_hosts."""
        host_key = host.host_key.with_suffix(".pub").read_text().split()
        with self.known_hosts.open("a") as known:
            known.write(f"[{host.address}]:{host.port} {host_key[0]} {host_key[1]}\n")
        with self.ssh_config.open("a") as config:
            config.write(
                f"Host {alias}\n  HostName {host.address}\n  Port {host.port}\n  User root\n"
                f"  IdentityFile {self.key}\n  IdentitiesOnly yes\n"
                f"  UserKnownHostsFile {self.known_hosts}\n  GlobalKnownHostsFile /dev/null\n"
                "  StrictHostKeyChecking yes\n  LogLevel ERROR\n\n")


class SshdHost(Service):
    """One simulated host: a real sshd on `address:port` forcing its own opsconsole config."""

    def __init__(self, address: str, *, authorized_key: str, env: dict[str, str],
                 port: int = 2222) -> None:
        self.address = address
        self.port = port
        self.authorized_key = authorized_key
        self.env = env
        self.dir = Path()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> Path:
        return self.dir / "host_ed25519"

    def start(self) -> Self:
        return self._start_or_clean(self._start)

    def _start(self) -> None:
        if not Path(SSHD).exists():
            raise ServiceError(f"{SSHD} not installed (openssh-server)")
        if not port_free(self.address, self.port):
            raise ServiceError(f"{self.address}:{self.port} is in use")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.dir = make_temp_dir("sshd")
        if not self.host_key.exists():
            keygen(self.host_key, f"opsconsole-test-{self.address}")
        (self.dir / "authorized_keys").write_text(self.authorized_key)
        setenv = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        config = self.dir / "sshd_config"
        config.write_text(
            f"ListenAddress {self.address}:{self.port}\nHostKey {self.host_key}\n"
            f"PidFile {self.dir / 'sshd.pid'}\nAuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "MaxStartups 200:30:400\nMaxSessions 200\nLogLevel ERROR\n"
            + (f"SetEnv {setenv}\n" if setenv else ""))
        self._spawn()

    def _spawn(self) -> None:
        log = (self.dir / "sshd.log").open("ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        proc = self.proc
        wait_for(lambda: listening(self.address, self.port), timeout=20,
                 what=f"sshd on {self.address}:{self.port}",
                 alive=lambda: proc.poll() is None)

    def sessions(self) -> list[psutil.Process]:
        """The sshd processes serving connections (not the commands they run: killing a
        user's shell mid-startup can leave its lock files behind)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        found = []
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    if child.name() == "sshd":
                        found.append(child)
        return found

    def hang(self) -> None:
        """SIGSTOP the listener and every session: the host accepts, then says nothing."""
        for proc in [*self.sessions(), *([psutil.Process(self.proc.pid)] if self.proc else [])]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        for proc in [*([psutil.Process(self.proc.pid)] if self.proc else []), *self.sessions()]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGCONT)

    def kill_sshd(self) -> None:
        """Stop the listener and its open sessions (a shared connection would live on)."""
        for proc in self.sessions():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        stop_process(self.proc)
        self.proc = None

    def new_host_key(self) -> None:
        """Restart with a freshly generated host key (the key known_hosts holds is now wrong)."""
        self.kill_sshd()
        for path in (self.host_key, self.host_key.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        keygen(self.host_key, f"opsconsole-test-{self.address}-new")
        wait_for(lambda: port_free(self.address, self.port), timeout=20,
                 what=f"{self.address}:{self.port} released")
        self._spawn()

    def log(self) -> str:
        return tail(self.dir / "sshd.log")

    def stop(self) -> None:
        if self.proc is not None:
            self.kill_sshd()
        if self.dir != Path() and self.dir.exists():
            remove_tree(self.dir)


class SimulatedFleet:
    """Several SshdHosts on 127.A.B.K with one client setup and a console config naming them.

    Every host gets its own opsconsole config (`sections`, plus a private state dir) and runs
    the bridge from this source tree with this Python. A.B is drawn at random per fleet: all
    of 127/8 is loopback, and fleets started side by side (test processes running at once)
    must not take the address a stopped host of another fleet just freed.
    """

    def __init__(self, *, first_address: int = 2) -> None:
        self.root = make_temp_dir("fleet")
        self.root.chmod(0o700)
        self.client = SshClientSetup(self.root)
        self.hosts: dict[str, SshdHost] = {}
        self.entries: dict[str, dict[str, object]] = {}
        self._next = first_address
        self._prefix = f"127.{1 + secrets.randbelow(254)}.{secrets.randbelow(256)}"
        self.source_root = Path(__file__).resolve().parents[2]
        self.remote_command = f"{sys.executable} -m console.cli"

    def add(self, name: str, sections: str = "", *, console: str = "",
            **entry: object) -> SshdHost:
        """Start host `name` with its own config (`console`: more [console] keys, then
        `sections`); `entry` adds keys to its [[hosts]] entry in the console's config."""
        host_dir = self.root / "hosts" / name
        (host_dir / "state").mkdir(parents=True, mode=0o700)
        config = host_dir / "config.toml"
        config.write_text(f'[console]\nstate_dir = "{host_dir / "state"}"\n{console}\n\n'
                          f'{sections}\n')
        address = self._free_address()
        host = SshdHost(address, authorized_key=self.client.public_key,
                        env={"OPSCONSOLE_CONFIG": str(config),
                             "PYTHONPATH": str(self.source_root)})
        self.hosts[name] = host
        host.start()
        self.client.add(name, host)
        self.entries[name] = entry
        return host

    def state_dir(self, name: str) -> Path:
        return self.root / "hosts" / name / "state"

    def _free_address(self) -> str:
        for k in range(self._next, 250):
            address = f"{self._prefix}.{k}"
            if port_free(address, 2222):
                self._next = k + 1
                return address
        raise ServiceError(f"no free {self._prefix}.K:2222 left")

    def console_config(self, extra: str = "", *, deadline: float = 20,
                       connect_timeout: float = 5) -> Path:
        """The fleet console's config.toml: [fleet] and one [[hosts]] per host."""
        lines = [f'[console]\nstate_dir = "{self.root / "console-state"}"\n',
                 f'[fleet]\nssh_config = "{self.client.ssh_config}"\n'
                 f'control_dir = "{self.client.control_dir}"\n'
                 f"deadline = {deadline}\nconnect_timeout = {connect_timeout}\n"]
        for name, entry in self.entries.items():
            fields = {"name": name, "remote_command": self.remote_command, **entry}
            lines.append("[[hosts]]\n" + "".join(f"{k} = {_toml(v)}\n"
                                                 for k, v in fields.items()))
        path = self.root / "console.toml"
        path.write_text("\n".join(lines) + extra)
        return path

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stop()
        remove_tree(self.root)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
