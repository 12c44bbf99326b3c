"""The timeline's own promises, without the whole test bed: a source that cannot be read is
named (a Docker engine that is gone, one that never answers), secrets are masked in the
draft, bad windows are one-line usage errors, and perfdata history is downsampled."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import sqlite3
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from backends.base import Backend
from console import timeline
from console.core.model import CheckResult, Perf, Status
from console.core.statedb import state_file
from console.core.timeline import TimelineEvent
from console.perfhistory import COARSE, FINE, PerfHistory
from console.transitions import TransitionLog
from tests.conftest import OPSCONSOLE
from tests.support.http_server import health_server


def opsconsole(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OPSCONSOLE, "--headless", *args, "--config", str(config)], env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          check=False)


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections and never answers: a hung engine."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def test_a_source_that_cannot_be_read_is_named_and_the_rest_still_shown(
        write_config: Callable[[str], Path], cli_env: dict[str, str], tmp_path: Path,
        silent_listener: int) -> None:
    with health_server() as url:
        config = write_config(
            f"[[http]]\nname = 'api'\nurl = '{url}/fail'\n"
            f"[[docker]]\nname = 'gone'\nhost = 'unix://{tmp_path}/no-docker.sock'\n"
            "containers = ['ledger']\n"
            f"[[docker]]\nname = 'hung'\nhost = 'tcp://127.0.0.1:{silent_listener}'\n"
            "containers = ['ledger']\ntimeout = 1\n")
        assert opsconsole(config, cli_env, "check").returncode == 2
        started = time.monotonic()
        done = opsconsole(config, cli_env, "timeline", "--since", "10m")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60  # the hung engine's timeout fired
    lines = done.stdout.splitlines()
    missing = [line for line in lines if line.startswith("MISSING ")]
    assert len(missing) == 2, done.stdout
    assert missing[0].startswith("MISSING docker:gone - ") and "no-docker.sock" in missing[0]
    assert missing[1].startswith("MISSING docker:hung - ")
    assert any("http:api" in line and "first seen -> CRITICAL" in line for line in lines)

    draft = opsconsole(config, cli_env, "timeline", "--since", "10m", "--format",
                       "markdown").stdout
    assert "Sources that could not be read (their events are missing below):" in draft
    assert "- docker:gone: " in draft and "- docker:hung: " in draft


def test_the_draft_masks_secrets_and_says_what_is_still_broken(
        write_config: Callable[[str], Path], cli_env: dict[str, str], state_dir: Path) -> None:
    secret = "hunter2-" + os.urandom(4).hex()
    now = time.time()
    log = TransitionLog(state_dir)
    log.record([CheckResult("http:api", Status.OK, "200 in 4 ms")], now - 600)
    log.record([CheckResult("http:api", Status.CRITICAL,
                            f"GET https://ops:{secret}@api.example/health: 500")], now - 300)
    log.record([CheckResult("http:api", Status.WARNING, "slow: 2.1 s")], now - 60)
    config = write_config("[[http]]\nname = 'api'\n"
                          "url = 'https://ops:${TL_PASSWORD}@api.example/health'\n")
    env = {**cli_env, "TL_PASSWORD": secret}
    draft = opsconsole(config, env, "timeline", "--since", "15m", "--format", "markdown")
    assert draft.returncode == 0, draft.stderr
    assert secret not in draft.stdout
    assert "OK -> CRITICAL" in draft.stdout and "ops:***@api.example" in draft.stdout
    assert "- Worst status: CRITICAL" in draft.stdout
    assert "and ongoing at the end of the window (http:api not OK)" in draft.stdout
    assert "| http:api | WARNING |" in draft.stdout

    document = json.loads(opsconsole(config, env, "timeline", "--since", "15m", "--until", "2m",
                                     "--format", "json").stdout)
    assert [e["what"] for e in document["events"]] == ["first seen -> OK", "OK -> CRITICAL"]
    assert document["states"][0]["status"] == "CRITICAL"


@pytest.mark.parametrize("args", [("--since", "yesterday"), ("--since", "1h", "--until", "2h"),
                                  ("--until", "3am")])
def test_a_bad_window_is_a_one_line_usage_error(write_config: Callable[[str], Path],
                                                cli_env: dict[str, str],
                                                args: tuple[str, ...]) -> None:
    config = write_config("[[host]]\nname = 'web1'\n")
    done = opsconsole(config, cli_env, "timeline", *args)
    assert done.returncode == 2
    assert done.stderr.startswith("opsconsole: --") and len(done.stderr.splitlines()) == 1


def test_perfdata_history_keeps_minutes_for_a_day_and_ten_minute_means_for_a_month(
        state_dir: Path) -> None:
    history = PerfHistory(state_dir)
    start = 1_800_000_000.0 - 1_800_000_000.0 % COARSE  # on a ten-minute boundary
    # one poll every 20 s for 2 hours: depth = the minute number, three polls per minute
    for poll in range(360):
        ts = start + poll * 20
        check = CheckResult("queue:crawl/jobs", Status.OK, "", perfdata=(
            Perf("depth", poll // 3), Perf("failed", 1)))
        history.record("redis:crawl", [check], ts)
    end = start + 7200
    hour = history.series("queue:crawl/jobs", end - 3600, end)
    assert [v for _, v in hour["depth"]] == [float(m) for m in range(60, 120)]
    assert [t for t, _ in hour["depth"]] == [start + m * FINE for m in range(60, 120)]
    month = history.series("queue:crawl/jobs", end - 30 * 86400, end)
    assert [v for _, v in month["depth"]] == [4.5 + 10 * n for n in range(12)]  # means
    assert set(v for _, v in month["failed"]) == {1.0}

    # a day later, the minutes are gone and the ten-minute means stay
    history.record("redis:crawl", [CheckResult("queue:crawl/jobs", Status.OK, "", perfdata=(
        Perf("depth", 0),))], end + 86400 + 700)
    assert history.series("queue:crawl/jobs", end - 3600, end) == {}
    assert len(history.series("queue:crawl/jobs", end - 30 * 86400, end)["depth"]) == 12


class _HangingSource(Backend[None]):
    """A backend whose record never answers: it notes when its read starts and is cancelled."""

    kind = "test"

    def __init__(self) -> None:
        super().__init__("hanging", interval=60, timeout=60)
        self.started = self.cancelled = False

    async def collect(self) -> None:
        return None

    def evaluate(self, snapshot: None) -> list[CheckResult]:
        return []

    def targets(self) -> list[str]:
        return ["test:hanging"]

    async def timeline_events(self, since: float, until: float,
                              limit: int) -> list[TimelineEvent]:
        self.started = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return []


async def test_a_timeline_reads_its_sources_beside_the_state_file_and_stops_them_if_given_up(
        tmp_path: Path) -> None:
    source = _HangingSource()
    state = tmp_path / "state"
    holder = sqlite3.connect(state_file(state), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the state file's read waits on this lock
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            task = asyncio.create_task(timeline.gather([source], state, time.time() - 600,
                                                       time.time()))
            for _ in range(1000):  # the source is read while the state file is still locked
                if source.started:
                    break
                await asyncio.sleep(0.01)
            assert source.started, "the sources wait for the state file"
            task.cancel()
            holder.execute("ROLLBACK")
            with pytest.raises(asyncio.CancelledError):
                await task
            while not source.cancelled:
                await asyncio.sleep(0)
            gc.collect()
    finally:
        holder.close()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
