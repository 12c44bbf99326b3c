"""Secrets: `${ENV}` expansion, `*_file` reading, and redaction of every known secret."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SecretError(ValueError):
    """A secret could not be resolved (missing variable, unreadable file)."""


def expand_env(text: str, environ: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Replace `${VAR}` references; returns the text and the values that came from them."""
    env = os.environ if environ is None else environ
    values: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise SecretError(f"environment variable {name} is not set")
        values.append(env[name])
        return env[name]

    return _ENV_REF.sub(substitute, text), values


def read_secret_file(path: str) -> str:
    """The first line of a password file, without its newline."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc.strerror}") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


def url_password(url: str) -> str | None:
    """The password in a URL's user-info, if it has one."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def url_passwords(url: str) -> list[str]:
    """Every password a client library would take from a URL: the user-info's, and a
    `password=` query parameter (libpq reads `?password=` as well as `user:pw@`)."""
    found = [p for p in [url_password(url)] if p]
    try:
        query = urlsplit(url).query
    except ValueError:
        return found
    found += [v for k, v in parse_qsl(query, keep_blank_values=False) if k == "password" and v]
    return found


def redact_url(url: str) -> str:
    """The URL with its password masked: `postgresql://user:***@host/db`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return _redact_query(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
    return _redact_query(urlunsplit((parts.scheme, netloc, parts.path, parts.query,
                                     parts.fragment)))


def _redact_query(url: str) -> str:
    """`password=...` in a URL's query masked (libpq's `?password=`)."""
    return re.sub(r"([?&]password=)[^&#]*", rf"\g<1>{MASK}", url)


def url_tokens(url: str) -> list[str]:
    """What in a service URL may be a credential: the whole URL, its password, and whatever
    looks like a token (8 or more characters with a digit) in the user name, a host that is
    no host name (`slack://TOKEN/...`), the path segments and the query values."""
    found = [url]
    try:
        parts = urlsplit(url)
        password, username = parts.password, parts.username or ""
        host = parts.netloc.rsplit("@", 1)[-1].split(":")[0]  # as written: tokens have case
    except ValueError:
        return found
    if password:
        found.append(password)
    candidates = [username, *parts.path.split("/"), *(v for _, v in parse_qsl(parts.query))]
    if "." not in host and host != "localhost":
        candidates.append(host)
    found += [c for c in candidates if len(c) >= 8 and any(ch.isdigit() for ch in c)]
    return found


class Redactor:
    """Knows every secret value of a config and masks them in any text shown or stored."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._longest_first: tuple[str, ...] = ()
        self.files: list[Path] = []  # files a secret was read from, for the mode warning

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= 3:
                self._secrets.add(value)
        # Longest first, so a secret containing another is masked whole.
        self._longest_first = tuple(sorted(self._secrets, key=len, reverse=True))

    @property
    def has_secrets(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._longest_first:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
