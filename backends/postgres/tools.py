"""Running pg_dump and pg_restore: argument lists, the password by environment, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from pathlib import Path

from backends.postgres.config import PostgresConfig
from console.core.errors import ActionFailed


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ActionFailed(f"{name} is not installed: install the PostgreSQL client "
                           "(apt-get install postgresql-client)")
    return found


def child_env(config: PostgresConfig, application_name: str) -> dict[str, str]:
    """The environment of a client tool: password and tag here, never on the command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    password = config.child_password()
    if password:
        env["PGPASSWORD"] = password
    env["PGAPPNAME"] = application_name
    env["PGCONNECT_TIMEOUT"] = str(max(1, int(config.timeout)))
    return env


def exit_reason(tool_name: str, returncode: int, stderr: bytes) -> str:
    """One line for a failed tool: its signal or the last meaningful line it printed."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"{tool_name} was killed by {name}"
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()
             if line.strip()]
    errors = [line for line in lines if "error" in line.lower()] or lines
    return errors[-1][:300] if errors else f"{tool_name} exited with status {returncode}"


async def stop(proc: asyncio.subprocess.Process) -> None:
    """Kill a child we started and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(10):
            await proc.wait()


async def start_tool(argv: list[str], env: dict[str, str], stdout: int,
                     ) -> asyncio.subprocess.Process:
    """Start a client tool (stdin closed, stderr piped); one line if it cannot start."""
    try:
        return await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=stdout,
            stderr=asyncio.subprocess.PIPE, env=env)
    except OSError as exc:
        raise ActionFailed(f"cannot run {argv[0]}: {exc.strerror or exc} (reinstall the "
                           "PostgreSQL client: apt-get install postgresql-client)") from None


async def run_tool(argv: list[str], env: dict[str, str], timeout: float,
                   what: str) -> tuple[int, bytes]:
    """Run a tool to completion (stdout discarded); kill it at the timeout."""
    proc = await start_tool(argv, env, asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(timeout):
            _, stderr = await proc.communicate()
    except TimeoutError:
        await stop(proc)
        raise ActionFailed(f"{what} did not finish within {timeout:g}s and was stopped") from None
    finally:
        await stop(proc)
    assert proc.returncode is not None
    return proc.returncode, stderr


async def verify_archive(path: Path, config: PostgresConfig, timeout: float) -> None:
    """Read the whole archive (`pg_restore -f /dev/null`): a truncated file fails here.

    `pg_restore --list` only reads the table of contents and passes a truncated dump.
    """
    code, stderr = await run_tool(
        [tool("pg_restore"), "--file", os.devnull, str(path)],
        child_env(config, "opsconsole-verify"), timeout, "verifying the backup")
    if code != 0:
        raise ActionFailed(f"{path.name} is truncated or corrupt: "
                           f"{exit_reason('pg_restore', code, stderr)}")
