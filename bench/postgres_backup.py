"""Benchmark: opsconsole's verified PostgreSQL backup against plain `pg_dump -Fc > file`.

Builds a throwaway database of about 1 GB (override with --mb) on the server given by --dsn
(default: the local server as postgres), then measures in the same run:
  - plain `pg_dump -Fc` writing to a file,
  - opsconsole's backup (streamed dump, sha256, fsync), with verification and the content
    fingerprint reported separately,
  - the cost of one Database snapshot at idle (mean of repeated collects).
Prints the figures and the ratio; drops the database and the files at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from backends.postgres.backend import PostgresBackend
from backends.postgres.backup import run_backup
from backends.postgres.config import parse
from console.core.actions import SupportsProgress
from console.core.configtable import Table
from console.core.secrets import Redactor


def build_database(admin_dsn: str, name: str, megabytes: int) -> str:
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Three tables of mixed content; rows of ~200 bytes.
        rows = megabytes * 1_000_000 // 230
        conn.execute("CREATE TABLE events (id bigint, kind text, payload text, at timestamptz)")
        conn.execute("CREATE TABLE users (id bigint primary key, email text, score numeric)")
        conn.execute("CREATE TABLE audit (id bigint, note text)")
        step = 500_000
        for start in range(0, rows, step):
            end = min(rows, start + step)
            conn.execute("INSERT INTO events SELECT g, 'kind' || (g %% 17), "
                         "md5(g::text) || md5((g * 7)::text) || repeat(chr(65 + g %% 26), 90), "
                         "now() - make_interval(secs => g) "
                         "FROM generate_series(%s, %s) g", (start, end - 1))
        conn.execute("INSERT INTO users SELECT g, 'user' || g || '@example.com', g % 1000 "
                     "FROM generate_series(1, 200000) g")
        conn.execute("INSERT INTO audit SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        print(f"database {name}: {size[0] / 1e9:.2f} GB" if size else "")
    return dsn


def plain_dump(dsn: str, target: Path) -> float:
    started = time.monotonic()
    with open(target, "wb") as out:
        subprocess.run(["pg_dump", "-Fc", "--dbname", dsn], stdout=out, check=True, timeout=3600)
    return time.monotonic() - started


class _TimedProgress(SupportsProgress):
    """Remembers when each step was logged, to split event-loop lag by phase."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[float, str]] = []

    def log(self, line: str) -> None:
        super().log(line)
        self.marks.append((time.monotonic(), line))


async def console_backup(dsn: str, directory: Path) -> dict[str, float]:
    config = parse(Table({"name": "bench", "dsn": dsn, "backup": {"dir": str(directory)}},
                         "[[postgres]] #1", "bench", Redactor()))
    lags: list[tuple[float, float]] = []

    async def measure_lag() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.02)
            lags.append((before, time.monotonic() - before - 0.02))

    probe = asyncio.create_task(measure_lag())
    progress = _TimedProgress()
    started = time.monotonic()
    result = await run_backup(config, progress)
    total = time.monotonic() - started
    probe.cancel()
    dumped = next(t for t, line in progress.marks if line.startswith("dumped"))
    in_dump = [lag for t, lag in lags if t < dumped]
    return {"dump": result.dump_seconds, "verify": result.verify_seconds,
            "fingerprint": result.fingerprint_seconds, "total": total,
            "lag_dump_max_ms": max(in_dump) * 1000,
            "lag_dump_p99_ms": statistics.quantiles(in_dump, n=100, method="inclusive")[98] * 1000,
            "lag_max_ms": max(lag for _, lag in lags) * 1000}


async def snapshot_cost(dsn: str, rounds: int) -> tuple[float, float]:
    backend = PostgresBackend(parse(Table({"name": "bench", "dsn": dsn}, "[[postgres]] #1",
                                          "bench", Redactor())))
    try:
        await backend.collect()  # opens the sessions
        wall: list[float] = []
        cpu_before = time.process_time()
        for _ in range(rounds):
            started = time.monotonic()
            snap = await backend.collect()
            backend.evaluate(snap)
            wall.append(time.monotonic() - started)
        cpu = (time.process_time() - cpu_before) / rounds
        return statistics.median(wall), cpu
    finally:
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--mb", type=int, default=1000, help="approximate database size")
    parser.add_argument("--rounds", type=int, default=50, help="snapshot rounds at idle")
    parser.add_argument("--repeat", type=int, default=2, help="alternating backup rounds")
    args = parser.parse_args()
    name = f"opsc_bench_{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="opsc-bench-"))
    try:
        started = time.monotonic()
        dsn = build_database(args.dsn, name, args.mb)
        print(f"built in {time.monotonic() - started:.1f}s")
        plains: list[float] = []
        ours: list[dict[str, float]] = []
        for _ in range(args.repeat):  # alternate, so both see the same cache and load
            plains.append(plain_dump(dsn, work / "plain.dump"))
            plain_size = (work / "plain.dump").stat().st_size
            os.unlink(work / "plain.dump")
            ours.append(asyncio.run(console_backup(dsn, work / "bk")))
            our_size = next((work / "bk").glob("*.dump")).stat().st_size
            shutil.rmtree(work / "bk")
            print(f"  round: plain {plains[-1]:.1f}s, opsconsole dump {ours[-1]['dump']:.1f}s")
        plain = min(plains)
        best = min(ours, key=lambda r: r["dump"])
        print(f"plain pg_dump -Fc > file:     {plain:6.1f}s  {plain_size / 1e6:8.1f} MB (best of "
              f"{args.repeat})")
        print(f"opsconsole dump (streamed):   {best['dump']:6.1f}s  {our_size / 1e6:8.1f} MB  "
              f"ratio {best['dump'] / plain:.3f}")
        print(f"  event-loop lag during the dump: p99 {best['lag_dump_p99_ms']:.1f} ms, "
              f"max {best['lag_dump_max_ms']:.1f} ms (whole backup max "
              f"{best['lag_max_ms']:.1f} ms)")
        print(f"  verification (pg_restore -f /dev/null): {best['verify']:.1f}s")
        print(f"  content fingerprint for the manifest:   {best['fingerprint']:.1f}s")
        print(f"  whole verified backup:                  {best['total']:.1f}s  "
              f"ratio {best['total'] / plain:.2f} vs plain pg_dump")
        wall, cpu = asyncio.run(snapshot_cost(dsn, args.rounds))
        print(f"snapshot at idle: {wall * 1000:.1f} ms wall, {cpu * 1000:.1f} ms CPU per poll "
              f"(median of {args.rounds}); at the default 5 s interval that is "
              f"{cpu / 5 * 100:.2f}% of a core")
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
