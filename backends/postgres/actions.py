"""What the console can do to a PostgreSQL target: vacuum, cancel, terminate, backup, restore."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import psycopg

from backends.postgres import queries
from backends.postgres.backup import run_backup
from backends.postgres.config import PostgresConfig
from backends.postgres.connection import connect
from backends.postgres.restore import run_restore
from backends.postgres.retention import list_backups, newest_verified
from backends.postgres.snapshot import PostgresSnapshot, SessionInfo
from console.core.actions import ActionOutcome, ActionSpec, Progress
from console.core.counts import counted
from console.core.durations import format_span
from console.core.errors import ActionFailed, one_line
from console.core.sizes import format_bytes


async def vacuum(config: PostgresConfig, table: str | None, progress: Progress) -> ActionOutcome:
    """VACUUM (ANALYZE) one table, or every table of the database one by one with progress."""
    conn = await connect(config, statement_timeout=config.maintenance_timeout)
    try:
        if table is not None:
            row = await (await conn.execute(queries.TABLE_EXISTS, {"name": table})).fetchone()
            if row is None:
                raise ActionFailed(f"no table {table!r} in {config.dbname}")
            tables = [str(row[0])]
        else:
            tables = [str(r[0]) for r in await (await conn.execute(queries.USER_TABLES)).fetchall()]
        skipped: list[str] = []
        for index, name in enumerate(tables):
            progress.progress(index, len(tables), f"VACUUM ANALYZE {name}")
            try:
                # `name` was quote_ident()ed by the server: a safe identifier.
                await conn.execute(psycopg.sql.SQL("VACUUM (ANALYZE) {}").format(
                    psycopg.sql.SQL(name)))
                progress.log(f"vacuumed {name}")
            except psycopg.errors.LockNotAvailable:
                skipped.append(name)
                progress.log(f"skipped {name}: locked by another session")
            except psycopg.errors.InsufficientPrivilege as exc:
                skipped.append(name)
                progress.log(f"skipped {name}: {one_line(exc)}")
        progress.progress(len(tables), len(tables), "done")
    finally:
        await conn.close()
    what = tables[0] if table is not None else f"{len(tables)} tables of {config.dbname}"
    if skipped:
        raise ActionFailed(f"VACUUM ANALYZE of {what}: skipped {', '.join(skipped)} "
                           "(locked or not permitted)")
    return ActionOutcome(True, f"VACUUM ANALYZE of {what} done")


async def signal_backend(config: PostgresConfig, pid: int, terminate: bool) -> ActionOutcome:
    verb = "terminate" if terminate else "cancel"
    conn = await connect(config)
    try:
        if await (await conn.execute(queries.BACKEND_EXISTS, {"pid": pid})).fetchone() is None:
            raise ActionFailed(f"no backend with pid {pid} (it may have finished already)")
        try:
            cursor = await conn.execute(queries.TERMINATE if terminate else queries.CANCEL,
                                        {"pid": pid})
            row = await cursor.fetchone()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ActionFailed(
                f"cannot {verb} pid {pid}: {one_line(exc)} (role {config.user} needs "
                f"pg_signal_backend: GRANT pg_signal_backend TO {config.user})") from None
    finally:
        await conn.close()
    if not row or not row[0]:
        raise ActionFailed(f"pid {pid} did not accept the {verb} signal")
    done = "terminated" if terminate else "query cancelled"
    return ActionOutcome(True, f"pid {pid}: {done}")


def _pid_option(options: Mapping[str, Any]) -> int | None:
    raw = options.get("pid")
    if raw is None:
        return None
    try:
        pid = int(raw)
    except (TypeError, ValueError):
        raise ActionFailed(f"pid must be a number, got {raw!r}") from None
    if pid <= 0:
        raise ActionFailed(f"pid must be positive, got {pid}")
    return pid


def _describe_session(session: SessionInfo) -> str:
    age = format_span(session.query_seconds or 0)
    why = ("blocked" if session.blocked_by else "blocking others" if session.blocking
           else "idle in transaction" if session.idle_in_transaction else f"running {age}")
    return f"pid {session.pid} ({session.user}, {why}): {session.query[:60]}"


def build_actions(config: PostgresConfig, snapshot: PostgresSnapshot | None, target: str,
                  options: Mapping[str, Any], backend_id: str,
                  before_swap: Callable[[], Awaitable[None]]) -> list[ActionSpec]:
    db = config.dbname
    specs: list[ActionSpec] = []
    table = options.get("table")

    async def do_vacuum(progress: Progress) -> ActionOutcome:
        return await vacuum(config, table, progress)

    specs.append(ActionSpec(
        verb="vacuum", target=target, backend_id=backend_id,
        title=f"VACUUM ANALYZE {table or db}",
        effect=(f"run VACUUM (ANALYZE) on table {table} of {db}" if table else
                f"run VACUUM (ANALYZE) on every table of {db}, one at a time"),
        run=do_vacuum, params={"table": table or "*"}))

    pid = _pid_option(options)
    sessions = list(snapshot.sessions) if snapshot else []
    if pid is not None:
        match = next((s for s in sessions if s.pid == pid), None)
        pids = [(pid, _describe_session(match) if match else f"pid {pid}")]
    else:
        pids = [(s.pid, _describe_session(s)) for s in sessions
                if s.blocked_by or s.blocking or s.state == "active"
                or s.idle_in_transaction]
    for number, label in pids:
        for terminate in (False, True):
            async def do_signal(progress: Progress, number: int = number,
                                terminate: bool = terminate) -> ActionOutcome:
                return await signal_backend(config, number, terminate)

            specs.append(ActionSpec(
                verb="terminate" if terminate else "cancel", target=target,
                backend_id=backend_id,
                title=f"{'Terminate' if terminate else 'Cancel query of'} pid {number}",
                effect=(f"end the session of {label} (its transaction is rolled back)"
                        if terminate else f"cancel the running query of {label}"),
                run=do_signal, params={"pid": number}))

    backup = config.backup
    unavailable = None if backup else "no backup = { dir = ... } configured for this database"

    async def do_backup(progress: Progress) -> ActionOutcome:
        result = await run_backup(config, progress)
        pruned = f"; retention deleted {len(result.deleted)}" if result.deleted else ""
        fingerprinted = (f", fingerprint {result.fingerprint_seconds:.1f}s"
                         if config.backup and config.backup.fingerprint else "")
        return ActionOutcome(True, f"backup {result.path.name} verified "
                                   f"({format_bytes(result.size)}, dump {result.dump_seconds:.1f}s, "
                                   f"verify {result.verify_seconds:.1f}s{fingerprinted}){pruned}",
                             details=f"sha256 {result.sha256}")

    specs.append(ActionSpec(
        verb="backup", target=target, backend_id=backend_id, title=f"Back up {db}",
        effect=(f"pg_dump -Fc {db} into {backup.dir}, verify it by reading it back, then "
                f"delete backups older than {backup.keep_days / 86400:g} days "
                f"(keeping at least {backup.keep_min})" if backup else "nothing: not configured"),
        run=do_backup, unavailable=unavailable))

    source = options.get("from")
    outside = _outside_backup_dir(source, backup.dir if backup else None, options)
    if source is None and backup is not None:
        # The TUI passes the last snapshot: no disk access on its thread.
        known = snapshot.backups if snapshot is not None else list_backups(backup.dir,
                                                                           config.name)
        newest = newest_verified(known)
        source = newest.path if newest else None
    timeout = backup.timeout if backup else config.maintenance_timeout
    drop = bool(options.get("drop"))
    for verb, swap in (("restore", True), ("restore-test", False)):
        async def do_restore(progress: Progress, swap: bool = swap) -> ActionOutcome:
            assert source is not None
            result = await run_restore(config, Path(source), swap=swap, timeout=timeout,
                                       progress=progress, before_swap=before_swap,
                                       drop=drop and not swap)
            proof = (f"{counted(result.tables, 'table')}, {counted(result.rows, 'row')} "
                     f"identical to the {result.proven_against}" if not result.differences else
                     f"{len(result.differences)} table(s) differ from the live database")
            if result.kept_as:
                return ActionOutcome(True, f"{db} restored from {Path(source).name} ({proof}); "
                                           f"the previous {db} is kept as {result.kept_as}")
            if result.dropped:
                return ActionOutcome(True, f"{Path(source).name} restored into a scratch "
                                           f"database ({proof}); the copy is dropped")
            could_not = "could not drop it: " if drop else ""
            return ActionOutcome(True, f"restored into {result.scratch} ({proof}); "
                                       f"{could_not}drop it when done inspecting (check reminds "
                                       "you after a day)")

        name = Path(source).name if source else "?"
        where = f"({os.path.realpath(source)}) " if source else ""
        specs.append(ActionSpec(
            verb=verb, target=target, backend_id=backend_id,
            title=(f"Restore {db} from {name}" if swap else f"Test-restore {name}"),
            effect=where + (f"restore {name} into a scratch database, prove it row by row, then "
                    f"disconnect every session of {db} and swap the copy in; the current "
                    f"{db} is kept renamed" if swap else
                    f"restore {name} into a new scratch database and prove it row by row"
                    f"{', then drop it' if drop else ''}; {db} is not touched"),
            run=do_restore, type_to_confirm=db if swap else None,
            params={"from": str(source) if source else ""},
            unavailable=outside or (None if source else "no backup to restore: give --from FILE")))
    return specs


def _outside_backup_dir(source: str | None, directory: Path | None,
                        options: Mapping[str, Any]) -> str | None:
    """Why `--from` is refused: a file outside the backup dir needs `--force`.

    The backup dir is root's; a file elsewhere (with a sidecar beside it) may be anyone's
    forgery, so restoring one is a deliberate choice shown with its full path.
    """
    if source is None or options.get("force"):
        return None
    real = os.path.realpath(source)
    if directory is not None:
        base = os.path.realpath(directory)
        if os.path.commonpath([real, base]) == base:
            return None
    where = f"the backup dir {directory}" if directory else "any backup dir (none configured)"
    return f"{real} is not in {where}: pass --force to restore it anyway"
