"""A `[[postgres]]` DSN is read without psycopg when the config is parsed: the user, password
and database it names are the ones libpq (through psycopg) reads, and what libpq refuses is
refused with the config's one-line error."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from backends.postgres.config import uri_parts

SAME = [
    "postgresql://app@db.example/shop",
    "postgresql://app:s3cret@127.0.0.1:5433/shop",
    "postgres://app:p%40ss%2Fw%3Ard@host/shop%20db",
    "postgresql://app:a+b@host/shop",
    "postgresql://host/shop?user=app&password=pw%26x",
    "postgresql://app@[::1]:5432/shop?sslmode=disable",
    "postgresql://app:pw@h1:5432,h2:5433/shop?target_session_attrs=read-write",
    "postgresql:///shop?host=/var/run/postgresql",
    "postgresql://app:@host/shop",
    "postgresql://app:pw@host",
]


@pytest.mark.parametrize("dsn", SAME)
def test_user_password_and_database_as_libpq_reads_them(dsn: str) -> None:
    theirs = {k: v for k, v in conninfo_to_dict(dsn).items()
              if k in ("user", "password", "dbname") and v}
    ours = {k: v for k, v in uri_parts(dsn).items() if k in ("user", "password", "dbname")}
    assert ours == theirs


@pytest.mark.parametrize("dsn", ["postgresql://app:pw%zz@host/shop",
                                 "postgresql://host/shop?sslmode"])
def test_what_libpq_refuses_is_refused(dsn: str) -> None:
    with pytest.raises(Exception):  # noqa: B017  (psycopg.ProgrammingError)
        conninfo_to_dict(dsn)
    with pytest.raises(ValueError):
        uri_parts(dsn)
