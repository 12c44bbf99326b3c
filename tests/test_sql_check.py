"""`[[sql]]` checks against the real shared PostgreSQL, through the CLI."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import OPSCONSOLE


@pytest.fixture
def price_table(shared_pg_dsn: str) -> Iterator[str]:
    """A table of its own with 3 rows of source AUTO in the last hour; dropped afterwards."""
    table = f"price_history_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(shared_pg_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE TABLE {table} (id serial, source text, created timestamptz)")
        conn.execute(f"INSERT INTO {table} (source, created) VALUES ('AUTO', now()), "
                     "('AUTO', now() - interval '10 minutes'), ('AUTO', now()), "
                     "('MANUAL', now()), ('AUTO', now() - interval '3 hours')")
    yield table
    with psycopg.connect(shared_pg_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", "check"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_query_thresholds_direction_and_postgres_reference(
        price_table: str, shared_pg_dsn: str, write_config: Callable[..., Path],
        cli_env: dict[str, str]) -> None:
    recent = (f"SELECT count(*) FROM {price_table} WHERE source = 'AUTO' "
              "AND created > now() - interval '1 hour'")
    config = write_config(
        f"[[postgres]]\nname = 'main'\ndsn = '{shared_pg_dsn}'\n"
        f"[[sql]]\nname = 'auto_prices'\ndatabase = 'main'\nquery = \"{recent}\"\n"
        "crit = 1\ndirection = 'below'\n")
    result = run(config, cli_env)
    assert "OK sql:auto_prices - 3" in result.stdout, result.stdout + result.stderr
    assert "'auto_prices'=3;;1" in result.stdout

    config = write_config(
        f"[[sql]]\nname = 'auto_prices'\ndsn = '{shared_pg_dsn}'\nquery = \"{recent}\"\n"
        "warn = 3\ncrit = 10\n", name="above.toml")
    result = run(config, cli_env)
    assert result.returncode == 1, result.stdout
    assert "WARNING sql:auto_prices - 3 (at or above 3)" in result.stdout

    with psycopg.connect(shared_pg_dsn, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {price_table} WHERE source = 'AUTO'")
    config = write_config(
        f"[[sql]]\nname = 'auto_prices'\ndsn = '{shared_pg_dsn}'\nquery = \"{recent}\"\n"
        "crit = 1\ndirection = 'below'\n", name="below.toml")
    result = run(config, cli_env)
    assert result.returncode == 2, result.stdout
    assert "CRITICAL sql:auto_prices - 0 (below 1)" in result.stdout


def test_errors_hangs_and_writes_are_unknown(price_table: str, shared_pg_dsn: str,
                                             write_config: Callable[..., Path],
                                             cli_env: dict[str, str]) -> None:
    config = write_config(
        f"[[sql]]\nname = 'typo'\ndsn = '{shared_pg_dsn}'\nquery = 'SELECT count(*) FROM "
        f"{price_table}_missing'\n"
        f"[[sql]]\nname = 'hang'\ndsn = '{shared_pg_dsn}'\nquery = 'SELECT 1 FROM pg_sleep(30)'\n"
        "timeout = 1\n"
        f"[[sql]]\nname = 'sneaky'\ndsn = '{shared_pg_dsn}'\n"
        f"query = \"INSERT INTO {price_table} (source) VALUES ('X') RETURNING id\"\n"
        f"[[sql]]\nname = 'text'\ndsn = '{shared_pg_dsn}'\nquery = \"SELECT 'many'\"\n")
    started = time.monotonic()
    result = run(config, cli_env)
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stdout
    out = result.stdout
    assert f'UNKNOWN sql:typo - query failed: relation "{price_table}_missing" does not exist' \
        in out
    assert "UNKNOWN sql:hang - query failed: canceling statement due to statement timeout" in out
    assert "UNKNOWN sql:sneaky - query failed: cannot execute INSERT in a read-only " \
        "transaction" in out
    assert "UNKNOWN sql:text - query failed: the query returned str 'many', not a number" in out
    assert elapsed < 25  # the 30 s sleep was cut by the check's own timeout
    with psycopg.connect(shared_pg_dsn) as conn:
        count = conn.execute(f"SELECT count(*) FROM {price_table} WHERE source = 'X'").fetchone()
    assert count == (0,)


def test_unknown_database_name_is_a_config_error(write_config: Callable[..., Path],
                                                 cli_env: dict[str, str]) -> None:
    config = write_config("[[sql]]\nname = 'q'\ndatabase = 'nowhere'\nquery = 'SELECT 1'\n")
    result = run(config, cli_env)
    assert result.returncode == 3  # the entry is not checked: UNKNOWN, with its reason
    assert "'database': no [[postgres]] entry is named 'nowhere'" in result.stdout
    assert "'database': no [[postgres]] entry is named 'nowhere'" in result.stderr
