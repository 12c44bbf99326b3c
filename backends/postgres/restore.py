"""A proven restore: into a new scratch database first, checked row by row, then swapped.

The archive is checked (sha256 sidecar, then read in full) before anything is created. The
scratch copy is compared with the backup's manifest (or, lacking one, with the live
database). Swapping renames the original to `<db>_before_restore_<stamp>` and keeps it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from backends.postgres import queries
from backends.postgres.config import PostgresConfig
from backends.postgres.connection import PostgresUnavailable, connect
from backends.postgres.fingerprint import Fingerprint, differences, fingerprint, from_json
from backends.postgres.retention import PART, read_manifest, sidecars
from backends.postgres.scratch import KEPT, PROOF_FAILED, RESTORE, TESTED, scratch_name
from backends.postgres.tools import child_env, exit_reason, run_tool, tool, verify_archive
from console.core.actions import Progress
from console.core.errors import ActionFailed, one_line


@dataclass(frozen=True)
class RestoreResult:
    scratch: str
    proven_against: str  # "manifest" or "live database"
    tables: int
    rows: int
    differences: tuple[str, ...]
    kept_as: str | None  # the original's new name after a swap
    dropped: bool = False  # a test-restore's copy, dropped once proven


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def check_archive(path: Path, config: PostgresConfig, timeout: float,
                        progress: Progress) -> None:
    """Refuse a missing, partial, corrupt or truncated archive before touching anything."""
    if path.name.endswith(PART):
        raise ActionFailed(f"{path.name} is an unfinished backup (.part): pick a finished one")
    if not path.is_file():
        raise ActionFailed(f"{path} does not exist or is not a file")
    sha_path = sidecars(path)[0]
    if sha_path.exists():
        expected = sha_path.read_text(encoding="utf-8").split()[0] if sha_path.stat().st_size else ""
        actual = await asyncio.to_thread(_sha256, path)
        if actual != expected:
            raise ActionFailed(f"{path.name} is corrupt: its sha256 differs from {sha_path.name} "
                               "(the database was not touched)")
        progress.log("sha256 matches the sidecar")
    try:
        await verify_archive(path, config, timeout)
    except ActionFailed as exc:
        raise ActionFailed(f"{exc} (the database was not touched)") from None
    progress.log("archive read in full by pg_restore")


async def _admin(config: PostgresConfig, timeout: float) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """A session outside the target database (it cannot rename itself)."""
    maintenance = "postgres" if config.dbname != "postgres" else "template1"
    return await connect(config, dbname=maintenance, statement_timeout=timeout, admin=True)


async def _as_admin(config: PostgresConfig, statement: sql.Composed, timeout: float) -> None:
    """One statement on a session outside the restored databases."""
    conn = await _admin(config, timeout)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _drop(config: PostgresConfig, name: str) -> bool:
    """Drop a scratch database; False when it could not be dropped (it stays)."""
    try:
        await _as_admin(config, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)), 60)
    except Exception:
        return False
    return True


async def _keep(config: PostgresConfig, name: str, note: str, timeout: float,
                progress: Progress) -> None:
    """Say in the database's comment why a scratch copy is kept (`check` reads it back)."""
    try:
        await _as_admin(config, sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(note)), timeout)
    except (psycopg.Error, PostgresUnavailable) as exc:  # the copy stays all the same
        progress.log(f"could not note on {name} why it is kept: {one_line(exc)}")


async def restore_into(config: PostgresConfig, path: Path, scratch: str, timeout: float,
                       progress: Progress) -> None:
    """Create `scratch` and pg_restore the archive into it; drop it again on failure."""
    conn = await _admin(config, timeout)
    try:
        # owned by the app's role, which restores into it as it owns the original
        await conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
            sql.Identifier(scratch), sql.Identifier(config.user)))
    except psycopg.errors.InsufficientPrivilege as exc:
        hint = ("the admin_dsn role may not either" if config.admin_dsn else
                f"give [[postgres]] {config.name} an admin_dsn (a role that may create "
                "databases, e.g. admin_dsn = \"postgresql://postgres@HOST/postgres\")")
        raise ActionFailed(f"cannot create scratch database {scratch}: "
                           f"{str(exc).splitlines()[0]}: {hint}") from None
    except psycopg.Error as exc:
        raise ActionFailed(f"cannot create scratch database {scratch}: "
                           f"{str(exc).splitlines()[0]}") from None
    finally:
        await conn.close()
    progress.log(f"created scratch database {scratch}; restoring")
    argv = [tool("pg_restore"), "--exit-on-error", "--no-password", "--dbname",
            config.conninfo(scratch, with_password=False), str(path)]
    try:
        code, stderr = await run_tool(argv, child_env(config, "opsconsole-restore"), timeout,
                                      "pg_restore")
    except BaseException:
        await _drop(config, scratch)
        raise
    if code != 0:
        await _drop(config, scratch)
        raise ActionFailed(f"restore failed: {exit_reason('pg_restore', code, stderr)} "
                           "(scratch database dropped; the original was not touched)")


async def _fingerprint_of(config: PostgresConfig, dbname: str, timeout: float) -> Fingerprint:
    conn = await connect(config, dbname=dbname, statement_timeout=timeout)
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        result = await fingerprint(conn)
        await conn.execute("COMMIT")
        return result
    finally:
        await conn.close()


async def swap_in(config: PostgresConfig, scratch: str, kept_as: str, timeout: float,
                  progress: Progress) -> None:
    """Put the scratch copy in the original's place; the original stays under `kept_as`.

    Both renames are one transaction: a console killed between them would otherwise leave
    no database under the original's name at all.
    """
    original = config.dbname
    conn = await _admin(config, timeout)
    ident = sql.Identifier
    alter = "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}"
    try:
        row = await (await conn.execute(queries.DATABASE_OWNER, {"name": original})).fetchone()
        if row is None:
            raise ActionFailed(f"database {original} no longer exists; the proven copy is "
                               f"in {scratch}")
        owner = str(row[0])
        await conn.execute(sql.SQL(alter).format(ident(original), sql.SQL("false")))
        renamed = False
        try:
            for _ in range(10):
                await conn.execute(queries.OTHER_SESSIONS, {"name": original})
                try:
                    async with conn.transaction():
                        await conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                            ident(original), ident(kept_as)))
                        await conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                            ident(scratch), ident(original)))
                        await conn.execute(sql.SQL(alter).format(ident(kept_as),
                                                                  sql.SQL("true")))
                        await conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                            ident(original), ident(owner)))
                    renamed = True
                    break
                except psycopg.errors.ObjectInUse:
                    await asyncio.sleep(0.2)
        except psycopg.Error as exc:
            await conn.execute(sql.SQL(alter).format(ident(original), sql.SQL("true")))
            raise ActionFailed(f"swap failed, nothing was swapped: {str(exc).splitlines()[0]} "
                               f"(the proven copy is in {scratch})") from None
        if not renamed:
            await conn.execute(sql.SQL(alter).format(ident(original), sql.SQL("true")))
            raise ActionFailed(f"{original} stayed in use; nothing was swapped "
                               f"(the proven copy is in {scratch})")
        progress.log(f"original renamed to {kept_as}; the proven copy is {original} now")
    except psycopg.Error as exc:
        raise ActionFailed(f"swap failed: {str(exc).splitlines()[0]} "
                           f"(the proven copy is in {scratch})") from None
    finally:
        await conn.close()


async def run_restore(config: PostgresConfig, path: Path, *, swap: bool, timeout: float,
                      progress: Progress,
                      before_swap: Callable[[], Awaitable[None]] | None = None,
                      drop: bool = False) -> RestoreResult:
    """Check, restore into scratch, prove, and (with `swap`) put the copy in place; without
    it, keep the proven copy, or (with `drop`) drop it (a copy that failed its proof stays)."""
    progress.progress(None, None, f"checking {path.name}")
    await check_archive(path, config, timeout, progress)
    now = time.time()
    scratch = scratch_name(config.dbname, RESTORE, now)
    progress.progress(None, None, f"restoring into {scratch}")
    await restore_into(config, path, scratch, timeout, progress)
    progress.progress(None, None, "proving the restored copy")
    actual = await _fingerprint_of(config, scratch, timeout)
    manifest = read_manifest(path)
    expected = from_json(manifest.get("tables")) if manifest else None
    against = "manifest"
    if expected is None:
        against = "live database"
        expected = await _fingerprint_of(config, config.dbname, timeout)
    diffs = tuple(differences(expected, actual))
    for line in diffs:
        progress.log(f"differs from the {against}: {line}")
    rows = sum(count for count, _ in actual.values())
    if diffs and against == "manifest":
        await _keep(config, scratch, PROOF_FAILED, timeout, progress)
        raise ActionFailed(f"restored copy does not match the backup's manifest in "
                           f"{len(diffs)} table(s) ({diffs[0]}); left in {scratch} for "
                           "inspection, the original was not touched")
    kept_as = None
    if swap:
        kept_as = scratch_name(config.dbname, KEPT, now)
        if before_swap is not None:
            await before_swap()
        progress.progress(None, None, f"swapping {scratch} into {config.dbname}")
        await swap_in(config, scratch, kept_as, timeout, progress)
    elif drop and await _drop(config, scratch):
        progress.log(f"dropped {scratch}, the proven copy")
        return RestoreResult(scratch, against, len(actual), rows, diffs, None, dropped=True)
    else:
        await _keep(config, scratch, TESTED, timeout, progress)
    return RestoreResult(scratch, against, len(actual), rows, diffs, kept_as)
