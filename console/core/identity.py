"""Who is acting: the user (behind sudo too), their terminal and SSH client address."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    user: str
    tty: str
    client: str

    def describe(self) -> str:
        where = f" from {self.client}" if self.client else ""
        return f"{self.user}@{self.tty}{where}"


def current_identity() -> Identity:
    user = os.environ.get("SUDO_USER") or os.environ.get("USER") or _login_name()
    tty = "notty"
    for fd in (0, 1, 2):
        try:
            tty = os.ttyname(fd).removeprefix("/dev/")
            break
        except OSError:
            continue
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    return Identity(user=user, tty=tty, client=ssh[0] if ssh else "")


def via_ssh(local: Identity, operator: str) -> Identity:
    """A fleet console's operator acting on this host through a bridge over ssh.

    The user stays this host's (who the bridge runs as); the client names the operator as
    `user@console-host via ssh`, and the address ssh came from.
    """
    where = f" from {local.client}" if local.client else ""
    return Identity(user=local.user, tty="bridge", client=f"{operator} via ssh{where}")


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"
