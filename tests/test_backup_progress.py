"""A PostgreSQL backup says how far it got: the bytes copied against the tables' size, the
table being copied, and the megabytes written, while pg_dump runs.

The disk is made slow (each chunk written waits a little), so pg_dump's COPY is still
running when the progress query looks, as it is for a big database on a real disk.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from backends.postgres import backup as pg_backup_module
from console.core.actions import ActionOutcome, SupportsProgress
from console.core.errors import ActionFailed
from tests import test_postgres_support as support
from tests.test_postgres_support import make_backend, open_pipes, open_under

pg_db = support.pg_db

SOCKET_DIR = "/var/run/postgresql"
SLOW_WRITE = 0.1  # seconds per chunk written: the whole dump takes a few seconds
REFRESH = 0.5  # seconds between two progress reports while dumping


class _Calls(SupportsProgress):
    """Every progress call, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[float | None, float | None, str]] = []

    def progress(self, done: float | None, total: float | None = None, message: str = "") -> None:
        super().progress(done, total, message)
        self.calls.append((done, total, message))


def _fill(dsn: str) -> int:
    """About 20 MB of text in one table, more on disk (each row has its header there): the
    bytes COPY sends stay below the tables' size until the end. And 1.6 MB of images, kept
    out of line (TOAST). Returns the tables' size on disk."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE lines (id int, body text)")
        conn.execute("INSERT INTO lines SELECT g, md5(g::text) || md5((g + 1)::text) "
                     "FROM generate_series(1, 300000) g")
        conn.execute("CREATE TABLE images (id int PRIMARY KEY, data bytea)")
        conn.execute("INSERT INTO images SELECT g, decode(string_agg(md5(g || ':' || i), ''), "
                     "'hex') FROM generate_series(1, 400) g, generate_series(1, 256) i "
                     "GROUP BY g")
        conn.execute("VACUUM ANALYZE")
        row = conn.execute("SELECT sum(pg_table_size(oid)) FROM pg_class "
                           "WHERE relname IN ('lines', 'images')").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def slow_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = pg_backup_module._Sink.write

    def slow_write(sink: pg_backup_module._Sink, chunk: bytes) -> None:
        time.sleep(SLOW_WRITE)
        real_write(sink, chunk)

    monkeypatch.setattr(pg_backup_module._Sink, "write", slow_write)


def _over_socket(dsn: str) -> str:
    """The same database over the server's Unix socket: its small buffers keep the server's
    COPY running while the disk is slow, where TCP's on this machine hold most of the table."""
    url = urlsplit(dsn)
    return f"postgresql://{url.username}@/{url.path.lstrip('/')}?host={SOCKET_DIR}&port={url.port}"


async def _backup(dsn: str, directory: Path) -> tuple[ActionOutcome, _Calls]:
    """One uncompressed backup action over the socket; its outcome and every progress call."""
    backend = make_backend(_over_socket(dsn), backup={"dir": str(directory), "compress": 0})
    recorder = _Calls()
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        started = time.monotonic()
        outcome = await spec.run(recorder)
        took = time.monotonic() - started
    finally:
        await backend.close()
    assert isinstance(outcome, ActionOutcome) and outcome.ok, outcome
    written = [c for c in recorder.calls if "MB written" in c[2]]
    assert len(written) <= took / REFRESH + 2, (len(written), took)  # not a busy loop
    return outcome, recorder


@pytest.mark.usefixtures("slow_disk")
async def test_backup_reports_bytes_copied_table_and_megabytes_written(
        pg_db: str, tmp_path: Path) -> None:
    on_disk = _fill(pg_db)
    _, recorder = await _backup(pg_db, tmp_path / "bk")
    [archive] = (tmp_path / "bk").glob("*.dump")
    assert archive.stat().st_size > 20_000_000  # compress = 0 as configured: all the text
    dumping = [c for c in recorder.calls if c[2].endswith(("MB written", "· copying lines"))]
    copying = [c for c in dumping if " · copying lines" in c[2]]
    assert copying, f"no progress named the table being copied: {recorder.calls}"
    totals = {total for _, total, _ in copying}
    assert len(totals) == 1
    [total] = totals
    # the tables and their TOAST (not their free-space and visibility maps)
    assert total is not None and on_disk - 200_000 <= total <= on_disk, (total, on_disk)
    done = [d for d, _, _ in copying]
    assert all(d is not None and 0 <= d <= total for d in done), done
    assert done == sorted(done) and 0 < done[-1], done
    assert done[-1] < total, (done, total)  # each row's text is shorter than the row on disk
    written = [float(m.group(1)) for _, _, text in dumping
               if (m := re.match(r"(\d+\.\d) MB written", text))]
    assert len(written) == len(dumping) and written == sorted(written), dumping
    assert written[-1] >= 1.0, written


@pytest.mark.usefixtures("slow_disk")
async def test_without_copy_progress_a_backup_still_counts_megabytes(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL before 14 has no pg_stat_progress_copy: the backup goes on and shows what
    it wrote."""
    _fill(pg_db)
    monkeypatch.setattr(pg_backup_module.queries, "COPY_PROGRESS",
                        "SELECT relid, bytes_processed FROM pg_stat_progress_copy_absent")
    _, recorder = await _backup(pg_db, tmp_path / "bk")
    dumping = [c for c in recorder.calls if "MB written" in c[2]]
    assert len(dumping) >= 2, recorder.calls
    assert all(done is None and total is None and text.endswith(" MB written")
               for done, total, text in dumping), dumping
    written = [float(text.split()[0]) for _, _, text in dumping]
    assert written == sorted(written) and written[-1] >= 1.0, written


async def test_a_backup_stopped_mid_copy_has_let_go_of_everything_when_it_says_so(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its timeout while a very slow disk still takes pg_dump's output: by the time the
    failure is told, the copy into the `.part` has ended, its pipe and file are closed and
    the file is gone (a copy still under way could write into whatever reuses them)."""
    _fill(pg_db)
    real_write = pg_backup_module._Sink.write

    def very_slow_write(sink: pg_backup_module._Sink, chunk: bytes) -> None:
        time.sleep(0.5)
        real_write(sink, chunk)

    monkeypatch.setattr(pg_backup_module._Sink, "write", very_slow_write)
    directory = tmp_path / "bk"
    backend = make_backend(_over_socket(pg_db),
                           backup={"dir": str(directory), "compress": 0, "timeout": 2})
    pipes = open_pipes()
    try:
        spec = next(s for s in backend.actions(None, "postgres:main") if s.verb == "backup")
        with pytest.raises(ActionFailed) as failure:
            await spec.run(SupportsProgress())
        assert "did not finish within 2s" in str(failure.value)
        assert open_pipes() == pipes
        assert open_under(directory) == []
        assert list(directory.iterdir()) == []
    finally:
        await backend.close()
