"""Who is acting: the operator as the kernel knows them, their terminal and SSH client.

The operator is taken from the process's real uid and its login uid (/proc/self/loginuid,
set at login and kept across sudo and su), never from variables the caller sets. SUDO_USER
is kept as information, marked as unverified when it disagrees.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

_UNSET_LOGINUID = 4294967295


@dataclass(frozen=True)
class Identity:
    user: str
    tty: str
    client: str

    def describe(self) -> str:
        where = f" from {self.client}" if self.client else ""
        return f"{self.user}@{self.tty}{where}"


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def login_uid(path: Path = Path("/proc/self/loginuid")) -> int | None:
    """The uid this session logged in as, None when the kernel has none (no PAM login)."""
    try:
        value = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return None if value == _UNSET_LOGINUID else value


def operator(environ: dict[str, str] | None = None) -> str:
    """`alice as root` (logged in as alice, running as root), `root`, plus what SUDO_USER
    claims when it names someone else: `root (SUDO_USER=bob, unverified)`."""
    env = os.environ if environ is None else environ
    real = user_name(os.getuid())
    login = login_uid()
    who = real
    if login is not None and login != os.getuid():
        who = f"{user_name(login)} as {real}"
    known = user_name(login) if login is not None else real
    sudo = env.get("SUDO_USER", "")
    if sudo and sudo != known:
        who += f" (SUDO_USER={sudo}, unverified)"
    return who


def current_identity() -> Identity:
    tty = "notty"
    for fd in (0, 1, 2):
        try:
            tty = os.ttyname(fd).removeprefix("/dev/")
            break
        except OSError:
            continue
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    return Identity(user=operator(), tty=tty, client=ssh[0] if ssh else "")


def via_ssh(local: Identity, operator: str) -> Identity:
    """A fleet console's operator acting on this host through a bridge over ssh.

    The user stays this host's (who the bridge runs as); the client names the operator as
    `user@console-host via ssh`, and the address ssh came from.
    """
    where = f" from {local.client}" if local.client else ""
    return Identity(user=local.user, tty="bridge", client=f"{operator} via ssh{where}")


def describe_operator(identity: Identity) -> str:
    """Who a silence or a window names: the operator over ssh when a fleet console acts."""
    return identity.client.split(" from ", 1)[0] if identity.tty == "bridge" else identity.user
