"""Error rates over a window on generated logs, read incrementally, through the real CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from backends.base import Runtime
from backends.logs import KIND
from backends.logs.backend import LogsBackend, LogsSnapshot
from console.config import parse_config
from console.core.secrets import Redactor
from tests.conftest import OPSCONSOLE


def access_line(ts: float, status: int, request_time: float, path: str = "/api/items") -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(ts))
    return (f'203.0.113.7 - - [{stamp}] "GET {path} HTTP/1.1" {status} 512 '
            f'"-" "Mozilla/5.0 (X11; Linux)" {request_time:.3f}\n')


def write_access_log(path: Path, *, requests: int, errors: int, slow: int, span: float,
                     old_errors: int = 0) -> None:
    """`requests` spread over the last `span` seconds, `errors` of them 5xx and `slow` of
    them taking 2.5 s; plus `old_errors` 5xx responses from two hours ago (out of window)."""
    now = time.time()
    lines = [access_line(now - 7200 + i, 502, 9.0) for i in range(old_errors)]
    for i in range(requests):
        status = 500 if i * errors // requests != (i + 1) * errors // requests else 200
        lines.append(access_line(now - span + span * i / requests, status,
                                 2.5 if i < slow else 0.05))
    path.write_text("".join(lines))


def run(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--config", str(config), "--headless", *args],
                          env=env, capture_output=True, text=True, timeout=60)


def test_5xx_share_and_p95_over_the_window(tmp_path: Path, write_config: Callable[..., Path],
                                           cli_env: dict[str, str]) -> None:
    healthy, failing = tmp_path / "healthy.log", tmp_path / "failing.log"
    write_access_log(healthy, requests=1000, errors=5, slow=10, span=240, old_errors=500)
    write_access_log(failing, requests=1000, errors=80, slow=100, span=240)
    config = write_config(
        f"[[logs]]\nname = 'healthy'\npath = '{healthy}'\nformat = 'nginx'\nwindow = '5m'\n"
        f"[[logs]]\nname = 'failing'\npath = '{failing}'\nformat = 'nginx'\nwindow = '5m'\n")
    result = run(config, cli_env, "check", "--only", "log:healthy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0.5% 5xx (5 of 1000 requests" in result.stdout  # the 500 old 502s are outside
    result = run(config, cli_env, "check")
    assert result.returncode == 2, result.stdout
    assert "CRITICAL log:failing 5xx - 8.0% 5xx (80 of 1000 requests" in result.stdout
    assert "WARNING log:failing p95 - p95 response time 2.500s" in result.stdout
    assert "'failing_5xx_share'=8%;1;5;0;100" in result.stdout.splitlines()[0]


def test_error_pattern_rate_and_bad_regex(tmp_path: Path, write_config: Callable[..., Path],
                                          cli_env: dict[str, str]) -> None:
    log = tmp_path / "worker.log"
    now = time.time()
    lines = []
    for i in range(120):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now - 110 + i))
        word = "ERROR" if i % 10 == 0 else "INFO"
        lines.append(f"{stamp},123 {word} celery.worker: task {i} done\n")
    lines.append("Traceback (most recent call last):\n")  # no time: counted as it arrives
    log.write_text("".join(lines))
    config = write_config(
        f"[[logs]]\nname = 'worker'\npath = '{log}'\nerror_pattern = 'ERROR|Traceback'\n"
        "window = '2m'\nerrors_per_minute = { warn = 2, crit = 20 }\n")
    result = run(config, cli_env, "check")
    # 12 ERROR lines with a time in the last 2 minutes; the Traceback line has no time of
    # its own and is not counted when the window is filled from the end of the file
    assert result.returncode == 1, result.stdout
    assert "12 lines match 'ERROR|Traceback' in the last 2m (6.00/min)" in result.stdout
    with log.open("a") as handle:
        handle.write("Traceback (most recent call last):\n")
    result = run(config, cli_env, "check")
    assert "13 lines match" in result.stdout  # the next run continues where this one stopped

    broken = write_config(f"[[logs]]\nname = 'w'\npath = '{log}'\nerror_pattern = 'ERROR(|'\n",
                          name="broken.toml")
    result = run(broken, cli_env, "check")
    assert result.returncode == 3  # the entry is not checked: UNKNOWN, with its reason
    assert "[[logs]] #1 'error_pattern': not a valid regular expression" in result.stdout
    assert "[[logs]] #1 'error_pattern': not a valid regular expression" in result.stderr


def test_reads_only_the_new_bytes_between_polls(tmp_path: Path,
                                                write_config: Callable[..., Path],
                                                cli_env: dict[str, str]) -> None:
    log = tmp_path / "access.log"
    write_access_log(log, requests=40_000, errors=0, slow=0, span=200)  # ~5 MB
    config = write_config(f"[[logs]]\nname = 'edge'\npath = '{log}'\nformat = 'nginx'\n"
                          "backfill_bytes = 65536\n")
    first = run(config, cli_env, "status", "--format", "json")
    assert first.returncode == 0, first.stderr
    read_first = json.loads(first.stdout)[0]["snapshot"]["files"][0]["bytes_read"]
    assert 65536 <= read_first < 70_000  # the tail only, not the 5 MB file
    added = "".join(access_line(time.time(), 503, 0.1) for _ in range(300))
    with log.open("a") as handle:
        handle.write(added)
    second = run(config, cli_env, "status", "--format", "json")
    files = json.loads(second.stdout)[0]["snapshot"]["files"]
    assert files[0]["bytes_read"] == len(added.encode())
    assert files[0]["totals"]["server_errors"] == 300


def test_one_backend_keeps_counting_through_rotation(tmp_path: Path,
                                                     write_config: Callable[..., Path]) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    config = parse_config(f"[[logs]]\nname = 'edge'\npath = '{log}'\nformat = 'nginx'\n",
                          write_config(""))
    [backend] = KIND.build(config.sections["logs"], Runtime(Redactor(), tmp_path / "state"))
    assert isinstance(backend, LogsBackend)

    def poll() -> LogsSnapshot:
        snapshot: LogsSnapshot = asyncio.run(backend.collect())
        return snapshot

    assert poll().bytes_read == 0
    chunk = "".join(access_line(time.time(), 500 if i < 10 else 200, 0.2) for i in range(100))
    log.write_text(chunk)
    snap = poll()
    assert snap.bytes_read == len(chunk)
    log.rename(tmp_path / "access.log.1")
    log.write_text(chunk)
    snap = poll()
    assert snap.bytes_read == len(chunk)
    assert snap.files[0].totals.requests == 200 and snap.files[0].totals.server_errors == 20
    [five_xx, _] = backend.evaluate(snap)
    assert five_xx.check == "5xx" and five_xx.summary.startswith("10.0% 5xx (20 of 200")
    asyncio.run(backend.close())


def test_a_glob_watches_every_matching_file(tmp_path: Path,
                                            write_config: Callable[..., Path]) -> None:
    for name, errors in (("api.access.log", 1), ("admin.access.log", 3)):
        write_access_log(tmp_path / name, requests=100, errors=errors, slow=0, span=60)
    (tmp_path / "api.error.log").write_text("not an access log\n")
    config = parse_config(
        f"[[logs]]\nname = 'edge'\npath = '{tmp_path}/*.access.log'\nformat = 'nginx'\n",
        write_config(""))
    [backend] = KIND.build(config.sections["logs"], Runtime(Redactor(), tmp_path / "state"))
    assert isinstance(backend, LogsBackend)
    snap: LogsSnapshot = asyncio.run(backend.collect())
    assert sorted(Path(f.path).name for f in snap.files) == ["admin.access.log",
                                                             "api.access.log"]
    assert backend.evaluate(snap)[0].summary.startswith("2.0% 5xx (4 of 200 requests")
    assert sorted(s.label for s in backend.log_sources()) == ["edge/admin.access.log",
                                                              "edge/api.access.log"]
    asyncio.run(backend.close())
