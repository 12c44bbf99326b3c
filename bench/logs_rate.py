"""Poll cost of the access-log error-rate check on a 1 GB log growing 1 MB between polls.

Builds a 1 GB nginx access log (with `$request_time`) in a temp dir, lets the `[[logs]]`
backend take its first poll, then 10 times: appends 1 MB of fresh lines and times one poll
(collect + evaluate: 5xx share, p95, window upkeep, saved position) against the plain
alternative `tail -c 1MB access.log | grep -c ' 5[0-9][0-9] '` on the same file. Prints both
and their ratio, and deletes the file.
Run: .venv/bin/python bench/logs_rate.py
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.base import Runtime
from backends.logs import KIND
from backends.logs.backend import LogsBackend, LogsSnapshot
from console.config import parse_config
from console.core.secrets import Redactor

SIZE = 1024**3
GROWTH = 1024**2
ROUNDS = 10


def block(size: int, ts: float, seed: int) -> bytes:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(ts)).encode()
    lines = []
    total, i = 0, seed
    while total < size:
        status = b"503" if i % 97 == 0 else b"200"
        line = (b'198.51.100.%d - - [%s] "GET /api/items/%d HTTP/1.1" %s 2326 '
                b'"https://example.com/" "Mozilla/5.0 (X11; Linux x86_64)" 0.%03d\n'
                % (i % 250, stamp, i, status, i % 1000))
        lines.append(line)
        total += len(line)
        i += 1
    return b"".join(lines)[:size].rsplit(b"\n", 1)[0] + b"\n"


def tail_grep(path: Path) -> float:
    started = time.perf_counter()
    tail = subprocess.Popen(["tail", "-c", "1MB", str(path)], stdout=subprocess.PIPE)
    grep = subprocess.run(["grep", "-c", " 5[0-9][0-9] "], stdin=tail.stdout,
                          capture_output=True, timeout=60)
    tail.wait(timeout=60)
    assert grep.returncode in (0, 1)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="logs-rate-") as tmp:
        log = Path(tmp) / "access.log"
        built = time.perf_counter()
        chunk = block(8 * GROWTH, time.time() - 3600, 0)
        with log.open("wb") as out:
            written = 0
            while written < SIZE:
                out.write(chunk)
                written += len(chunk)
        print(f"built {written / 1024**3:.2f} GB access log in {time.perf_counter() - built:.1f}s")
        config_file = Path(tmp) / "config.toml"
        config_file.write_text("")
        config = parse_config(f"[[logs]]\nname = 'edge'\npath = '{log}'\nformat = 'nginx'\n",
                              config_file)
        [backend] = KIND.build(config.sections["logs"], Runtime(Redactor(), Path(tmp) / "st"))
        assert isinstance(backend, LogsBackend)

        async def poll() -> tuple[float, int]:
            started = time.perf_counter()
            snapshot: LogsSnapshot = await backend.collect()
            backend.evaluate(snapshot)
            return time.perf_counter() - started, snapshot.bytes_read

        first, first_bytes = asyncio.run(poll())
        print(f"first poll (fills the window from the last {first_bytes / 2**20:.0f} MB): "
              f"{first * 1000:.0f} ms")
        ours, plain, read = [], [], []
        for round_no in range(ROUNDS):
            with log.open("ab") as out:
                out.write(block(GROWTH, time.time(), round_no * 10_000))
            spent, bytes_read = asyncio.run(poll())
            ours.append(spent)
            read.append(bytes_read)
            plain.append(tail_grep(log))
        asyncio.run(backend.close())
        mine, theirs = statistics.median(ours), statistics.median(plain)
        print(f"per poll after 1 MB of growth (median of {ROUNDS}):")
        print(f"  opsconsole poll:      {mine * 1000:7.1f} ms, read {statistics.median(read):,.0f}"
              f" bytes")
        print(f"  tail -c 1MB | grep -c: {theirs * 1000:7.1f} ms")
        print(f"  ratio: {mine / theirs:.1f}x")


if __name__ == "__main__":
    main()
