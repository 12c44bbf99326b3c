"""The `[[supervisor]]` config entry: where supervisord listens, its login, which programs.

    [[supervisor]]
    name = "main"
    url = "unix:///var/run/supervisor.sock"   # or "http://127.0.0.1:9001" (supervisorctl's serverurl)
    # username = "ops"
    # password_file = "/etc/opsconsole/supervisor.pw"   (or password = "${SUPERVISOR_PASSWORD}")
    # programs = ["crawl*", "web:*"]   names or globs (group:name for grouped programs)
    # action_timeout = "30s"           how long start/stop/restart wait for a settled state
    # log_lines = 10                   stderr lines shown as the cause of FATAL/BACKOFF
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backends.base import unique_names
from console.core.configtable import Table

PROGRAM_PATTERN = re.compile(r"^[A-Za-z0-9_.:*?\[\]-]+$")


@dataclass(frozen=True)
class SupervisorConfig:
    name: str
    url: str
    username: str | None
    password: str | None
    programs: tuple[str, ...]
    interval: float | None
    timeout: float
    action_timeout: float
    log_lines: int

    @property
    def socket_path(self) -> str | None:
        return self.url.removeprefix("unix://") if self.url.startswith("unix://") else None


def parse(table: Table) -> SupervisorConfig:
    url = table.text("url", "unix:///var/run/supervisor.sock",
                     what='supervisorctl\'s serverurl, "unix:///path/supervisor.sock" or '
                          '"http://127.0.0.1:9001"')
    url = table.expand("url", url)
    table.check(url.startswith(("unix:///", "http://", "https://")), "url",
                f'expected "unix:///path/to/supervisor.sock" or "http://HOST:PORT", got {url!r}')
    programs = table.str_list("programs", ["*"])
    for pattern in programs:
        table.check(bool(PROGRAM_PATTERN.match(pattern)), "programs",
                    f"{pattern!r} is not a program name or glob (letters, digits, _ . : - "
                    "and * ? [ ] only)")
    config = SupervisorConfig(
        name=table.name("name", "supervisor"),
        url=url,
        username=table.text("username", None),
        password=table.secret("password"),
        programs=tuple(programs) or ("*",),
        interval=table.duration("interval", None),
        timeout=table.duration("timeout", 5.0),
        action_timeout=table.duration("action_timeout", 30.0),
        log_lines=table.integer("log_lines", 10, minimum=0),
    )
    table.check(config.timeout > 0, "timeout", "must be more than 0")
    table.check(config.action_timeout > 0, "action_timeout", "must be more than 0")
    table.check(config.password is None or config.username is not None, "username",
                "is needed with a password (supervisord's [unix_http_server] username)")
    table.done()
    return config


def validate(entries: list[SupervisorConfig], sections: dict[str, list[Any]]) -> None:
    unique_names("supervisor", [entry.name for entry in entries])
