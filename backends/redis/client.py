"""Opening a redis.asyncio client from the config, and one-line reasons for its errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis import exceptions as rex

from backends.redis.config import RedisConfig
from console.core.errors import one_line


class RedisUnavailable(Exception):
    """The server could not be read; the message says why in one line."""


def make_client(config: RedisConfig) -> aioredis.Redis:
    options: dict[str, Any] = {
        "socket_timeout": config.timeout,
        "socket_connect_timeout": config.timeout,
        "client_name": "opsconsole",
        "decode_responses": False,
        "health_check_interval": 0,
        "max_connections": 8,
    }
    if config.password is not None:
        options["password"] = config.password
    if config.tls is not None:
        if not config.url.startswith("rediss://"):
            options["connection_class"] = aioredis.SSLConnection
        options["ssl_ca_certs"] = config.tls.ca_file
        options["ssl_certfile"] = config.tls.cert_file
        options["ssl_keyfile"] = config.tls.key_file
        options["ssl_cert_reqs"] = "required" if config.tls.verify else "none"
        options["ssl_check_hostname"] = config.tls.verify
    client: aioredis.Redis = aioredis.Redis.from_url(config.url, **options)
    return client


def describe(exc: BaseException, config: RedisConfig) -> str:
    """What went wrong talking to Redis, and what to check."""
    where = _where(config)
    text = one_line(exc)
    lowered = text.lower()
    if isinstance(exc, rex.AuthenticationWrongNumberOfArgsError) or "noauth" in lowered \
            or "authentication required" in lowered or "already authenticated" in lowered:
        return f"{where}: the server wants a password: set password or password_file"
    if isinstance(exc, rex.AuthenticationError) or "wrongpass" in lowered \
            or "invalid password" in lowered or "invalid username-password" in lowered:
        return f"{where}: authentication failed: check password / password_file"
    if isinstance(exc, TimeoutError | rex.TimeoutError):
        return f"{where}: no answer within {config.timeout:g}s (server hung or overloaded)"
    if "connection refused" in lowered or ("111" in lowered and "connect" in lowered):
        return f"{where}: connection refused (is redis-server running?)"
    if isinstance(exc, rex.ConnectionError):
        return f"{where}: {text[:200]}"
    if isinstance(exc, rex.ResponseError):
        return f"{where}: Redis error: {text[:200]}"
    return f"{where}: {text[:200]}"


def _where(config: RedisConfig) -> str:
    parts = urlsplit(config.url)
    host = parts.hostname or parts.path or "redis"
    return f"{host}:{parts.port}" if parts.port else host
