"""A verified backup: pg_dump -Fc streamed to a .part file, checked, described, then named.

The dump runs inside a snapshot exported by the console's own session, so the content
fingerprint written to the manifest describes exactly the rows in the archive. Nothing gets
the final name until the archive has been read back in full by pg_restore; any failure
(disk full, pg_dump killed, server gone) removes the partial file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from backends.postgres import queries
from backends.postgres.config import BackupConfig, PostgresConfig
from backends.postgres.connection import connect
from backends.postgres.fingerprint import fingerprint, to_json
from backends.postgres.retention import (
    PART,
    apply_retention,
    new_backup_name,
    remove_stale_parts,
    sidecars,
)
from backends.postgres.tools import (
    child_env,
    exit_reason,
    start_tool,
    stop,
    tool,
    verify_archive,
)
from console.core.actions import Progress
from console.core.errors import ActionFailed, one_line
from console.core.files import checksum_line, open_private, private_dir, publish, write_durably

CHUNK = 1 << 20
MANIFEST_FORMAT = "opsconsole-postgres-backup/1"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    sha256: str
    dump_seconds: float
    verify_seconds: float
    fingerprint_seconds: float
    deleted: tuple[str, ...]


class _Sink:
    """The .part file: written and hashed in a worker thread, one chunk at a time.

    Written straight to the file descriptor, so `size` is what reached the file even when a
    write stops half-way (disk full)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # closed by finish() or discard()
        self.fd: int | None = open_private(path, os.O_WRONLY, new=True)
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        assert self.fd is not None
        view = memoryview(chunk)
        while view:
            written = os.write(self.fd, view)
            self.hash.update(view[:written])
            self.size += written
            view = view[written:]

    def finish(self) -> None:
        fd, self.fd = self.fd, None
        assert fd is not None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def discard(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def disk_error(exc: OSError, directory: Path, written: int) -> str:
    mb = written / 1e6
    if exc.errno == errno.ENOSPC:
        return (f"disk full: no space left in {directory} after {mb:.1f} MB; free space there "
                "or set backup.dir to a bigger disk (nothing was kept)")
    if exc.errno == errno.EFBIG:
        return f"file size limit reached after {mb:.1f} MB writing in {directory} (nothing was kept)"
    return f"cannot write in {directory}: {exc.strerror or exc} (nothing was kept)"


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def _watch_copy(config: PostgresConfig, app: str, sink: _Sink, total: int,
                      progress: Progress) -> None:
    """Report bytes written and the table being copied, from pg_stat_progress_copy."""
    copied: dict[str, int] = {}
    conn = None
    try:
        conn = await connect(config, application_name="opsconsole-progress")
        while True:
            rows = await (await conn.execute(queries.COPY_PROGRESS, {"app": app})).fetchall()
            current = ""
            for table, done in rows:
                current = str(table)
                copied[current] = max(copied.get(current, 0), int(str(done or 0)))
            done_bytes = min(sum(copied.values()), total) if total else None
            note = f" · copying {current}" if current else ""
            progress.progress(done_bytes, total or None,
                              f"{sink.size / 1e6:.1f} MB written{note}")
            await asyncio.sleep(0.5)
    except Exception:  # progress is a nicety, never a failure
        while True:
            progress.progress(None, None, f"{sink.size / 1e6:.1f} MB written")
            await asyncio.sleep(0.5)
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


def _pump(read_fd: int, sink: _Sink) -> OSError | None:
    """Copy pg_dump's stdout into the sink until EOF, in one worker thread.

    A blocking loop on the raw pipe costs less CPU than asyncio reads handed to a thread per
    chunk, which matters on a small machine where pg_dump and the server want every core.
    Returns the write error (disk full) instead of raising, so the caller can stop pg_dump.
    """
    try:
        while chunk := os.read(read_fd, CHUNK):
            sink.write(chunk)
    except OSError as exc:
        return exc
    finally:
        os.close(read_fd)
    return None


async def _read_all(stream: asyncio.StreamReader, keep: int = 64 * 1024) -> bytes:
    """A child's stderr up to EOF, keeping only the last `keep` bytes."""
    data = b""
    while chunk := await stream.read(keep):
        data = (data + chunk)[-keep:]
    return data


async def _dump(config: PostgresConfig, backup: BackupConfig, snapshot_id: str | None,
                sink: _Sink, app: str, total: int, progress: Progress) -> None:
    argv = [tool("pg_dump"), "--format=custom", "--no-password"]
    if backup.compress is not None:
        argv.append(f"--compress={backup.compress}")
    if snapshot_id:
        argv.append(f"--snapshot={snapshot_id}")
    argv += ["--dbname", make_conninfo(config.conninfo(with_password=False),
                                       application_name=app)]
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(OSError, AttributeError):  # a bigger pipe: fewer wake-ups
        fcntl.fcntl(read_fd, fcntl.F_SETPIPE_SZ, CHUNK)
    try:
        proc = await start_tool(argv, child_env(config, app), write_fd)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    assert proc.stderr is not None
    pump = asyncio.ensure_future(asyncio.to_thread(_pump, read_fd, sink))
    errors_task = asyncio.create_task(_read_all(proc.stderr))
    watcher = asyncio.create_task(_watch_copy(config, app, sink, total, progress))
    try:
        failure = await asyncio.shield(pump)
        if failure is not None:
            raise ActionFailed(disk_error(failure, sink.path.parent, sink.size))
        code = await proc.wait()
        stderr = await errors_task
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await stop(proc)  # pg_dump gone: the pump sees EOF or EPIPE and ends
        with contextlib.suppress(BaseException):
            await pump
        errors_task.cancel()
    if code != 0:
        raise ActionFailed(f"pg_dump failed: {exit_reason('pg_dump', code, stderr)} "
                           "(nothing was kept)")


async def run_backup(config: PostgresConfig, progress: Progress) -> BackupResult:
    """Dump, verify, describe and name one backup, then apply retention."""
    backup = config.backup
    if backup is None:
        raise ActionFailed(f"postgres:{config.name} has no backup = {{ dir = ... }} in the config")
    try:
        private_dir(backup.dir)
    except OSError as exc:
        raise ActionFailed(f"cannot create {backup.dir}: {exc.strerror}") from None
    for stale in remove_stale_parts(backup.dir, config.name):
        progress.log(f"removed {stale} left by an interrupted backup")
    started = time.time()
    final = backup.dir / new_backup_name(backup.dir, config.name, started)
    part = final.with_name(final.name + PART)
    app = f"opsconsole-backup-{os.getpid()}-{int(started)}"
    try:
        async with asyncio.timeout(backup.timeout):
            session = await connect(config, statement_timeout=backup.timeout,
                                    application_name="opsconsole-backup-snapshot")
            try:
                return await _backup_in_snapshot(config, backup, session, final, part, app,
                                                 started, progress)
            finally:
                with contextlib.suppress(Exception):
                    await session.close()
    except TimeoutError:
        raise ActionFailed(f"the backup did not finish within {backup.timeout:g}s and was "
                           "stopped; nothing was kept (a bigger database needs a longer "
                           "backup.timeout)") from None


async def _backup_in_snapshot(config: PostgresConfig, backup: BackupConfig, session: Any,
                              final: Path, part: Path, app: str, started: float,
                              progress: Progress) -> BackupResult:
    await session.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    snapshot_id = (await (await session.execute(queries.EXPORT_SNAPSHOT)).fetchone())[0]
    version = (await (await session.execute("SHOW server_version")).fetchone())[0]
    total = int((await (await session.execute(queries.HEAP_BYTES)).fetchone())[0])
    try:
        sink = _Sink(part)
    except OSError as exc:
        raise ActionFailed(f"cannot write in {backup.dir}: {exc.strerror}") from None
    try:
        progress.log(f"dumping {config.dbname} to {part.name}")
        clock = time.monotonic()
        await _dump(config, backup, snapshot_id, sink, app, total, progress)
        try:
            await asyncio.to_thread(sink.finish)
        except OSError as exc:
            raise ActionFailed(disk_error(exc, backup.dir, sink.size)) from None
        dump_seconds = time.monotonic() - clock
        progress.log(f"dumped {sink.size / 1e6:.1f} MB in {dump_seconds:.1f}s; verifying")
        progress.progress(None, None, "verifying: reading the whole archive back")
        clock = time.monotonic()
        await verify_archive(part, config, backup.timeout)
        verify_seconds = time.monotonic() - clock
        progress.log(f"verified in {verify_seconds:.1f}s (pg_restore read every entry)")
        clock = time.monotonic()
        tables: dict[str, dict[str, object]] | None = None
        if backup.fingerprint:
            progress.progress(None, None, "fingerprinting the dumped rows")
            try:
                tables = to_json(await fingerprint(session))
            except psycopg.Error as exc:
                # The archive is good; a restore will compare with the live database instead.
                progress.log(f"no content fingerprint in the manifest: "
                             f"{one_line(exc)}")
        fingerprint_seconds = time.monotonic() - clock
        digest = sink.hash.hexdigest()
        manifest = {
            "format": MANIFEST_FORMAT, "target": f"postgres:{config.name}",
            "database": config.dbname, "server_version": version,
            "started": _stamp(started), "finished": _stamp(time.time()),
            "started_ts": started, "size": sink.size, "sha256": digest,
            "compress": backup.compress, "verified": True,
            "verified_by": "pg_restore --file /dev/null", "tables": tables,
        }
        sha_path, manifest_path = sidecars(final)
        try:
            await asyncio.to_thread(write_durably, sha_path, checksum_line(digest, final.name))
            await asyncio.to_thread(write_durably, manifest_path,
                                    json.dumps(manifest, indent=2) + "\n")
            await asyncio.to_thread(publish, part, final)
        except OSError as exc:
            for path in (sha_path, manifest_path):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise ActionFailed(disk_error(exc, backup.dir, sink.size)) from None
    except BaseException:
        sink.discard()
        raise
    deleted = tuple(await asyncio.to_thread(apply_retention, backup.dir, config.name,
                                            backup.keep_days, backup.keep_min))
    for name in deleted:
        progress.log(f"retention: deleted {name}")
    return BackupResult(final, sink.size, digest, dump_seconds, verify_seconds,
                        fingerprint_seconds, deleted)
