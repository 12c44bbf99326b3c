"""The transport: the system's OpenSSH client, so the user's keys, agent, config and
known_hosts apply unchanged.

BatchMode (never a password prompt), host keys checked, one multiplexed connection per host
in a private 0700 control dir, a connect timeout on every call; ssh's own error text becomes
the host's one-line reason.
"""

from __future__ import annotations

import os
import shlex
import stat
import tempfile
from pathlib import Path

from console.core.errors import ConfigError
from console.core.loglines import printable
from console.fleet_config import FleetSettings, HostEntry


def control_dir(settings: FleetSettings) -> Path:
    """The private dir of the control sockets; created 0700, refused if anyone else could use it."""
    if settings.control_dir:
        path = Path(settings.control_dir).expanduser()
    else:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        base = Path(runtime) if runtime and Path(runtime).is_dir() else Path(tempfile.gettempdir())
        path = base / f"opsconsole-ssh-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot make the ssh control dir: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ConfigError(f"{path}: the ssh control dir is not a directory of this user: "
                          "remove it or set [fleet] control_dir")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def ssh_argv(settings: FleetSettings, host: HostEntry, remote: list[str]) -> list[str]:
    """The ssh command line that runs `remote` (already split into words) on `host`."""
    argv = ["ssh"]
    if settings.ssh_config:
        argv += ["-F", str(Path(settings.ssh_config).expanduser())]
    argv += [
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={max(1, round(settings.connect_timeout))}",
        "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3",
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={control_dir(settings) / '%C'}",
        "-o", f"ControlPersist={max(1, round(settings.control_persist))}",
        "-T", "--", host.ssh, " ".join(shlex.quote(w) for w in remote),
    ]
    return argv


def bridge_command(host: HostEntry) -> list[str]:
    """`remote_command [--config PATH] bridge` as words (remote_command may hold several)."""
    words = shlex.split(host.remote_command)
    if host.config:
        words += ["--config", host.config]
    return [*words, "bridge"]


def ssh_reason(stderr: str, returncode: int | None) -> str:
    """ssh's error output as the one line an operator needs."""
    lines = [line for line in stderr.replace("\r", "").splitlines() if line.strip()]
    if any("REMOTE HOST IDENTIFICATION HAS CHANGED" in line for line in lines):
        return ("host key changed: ssh refused the connection (fix known_hosts only if the "
                "change is expected)")
    for line in reversed(lines):
        lowered = line.lower()
        if lowered.startswith(("warning: permanently added", "@")):
            continue
        line = printable(line.strip()).removeprefix("ssh: ")
        if "connection refused" in lowered:
            return f"connection refused ({line})"
        if "timed out" in lowered:
            return f"timed out ({line})"
        if "permission denied" in lowered:
            return f"permission denied ({line})"
        if "host key verification failed" in lowered:
            return "host key verification failed (the host's key is not in known_hosts)"
        return line[:300]
    return f"ssh exited {returncode} without a message"
