"""The Session answers what every front end asks, without a screen.

Plain unit tests over backends of the tests' own (fixed answers, a hanging one, the noop
kind's action): typed snapshots with their "waiting" and "unreachable" reasons, the status a
view shows coming from the polled check, actions by target and verb, views by target, and a
poll of everything bounded by its deadline.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from backends.base import Backend
from console import registry
from console.config import parse_config
from console.core.errors import ConfigError
from console.core.model import CheckResult, Status
from console.session import Session
from tests.support.fixed_backends import FixedBackend


class HangingBackend(Backend[int]):
    """Never answers: stands for a hung server."""

    kind = "http"

    def targets(self) -> list[str]:
        return [f"http:{self.name}"]

    async def collect(self) -> int:
        await asyncio.sleep(3600)
        return 0

    def evaluate(self, snapshot: int) -> list[CheckResult]:
        return []


class FailingBackend(HangingBackend):
    async def collect(self) -> int:
        raise ConnectionRefusedError("connection refused")


@pytest.fixture
def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    return parse_config("[console]\nrefresh = 60\n", tmp_path / "config.toml")


def test_polled_says_waiting_then_gives_the_typed_snapshot_and_status(config) -> None:  # type: ignore[no-untyped-def]
    units = FixedBackend("unit", "units", [
        CheckResult("unit:a.service", Status.OK, "active"),
        CheckResult("unit:a.service", Status.CRITICAL, "flapping", check="restarts")])
    session = Session(config, backends=[units])
    [before] = session.polled(FixedBackend)
    assert before.problem == "waiting for the first poll" and before.snapshot is None
    asyncio.run(session.poll_all_once(deadline=5))
    [after] = session.polled(FixedBackend)
    assert after.problem is None and after.snapshot == 2  # the snapshot collect() returned
    assert after.status("unit:a.service") is Status.CRITICAL  # the worst of its checks
    assert after.status("unit:other.service") is Status.UNKNOWN
    assert session.counts() == {Status.OK: 1, Status.CRITICAL: 1}


def test_an_unreachable_backend_says_why_and_a_hung_one_is_cut_at_the_deadline(config) -> None:  # type: ignore[no-untyped-def]
    session = Session(config, backends=[FailingBackend("down", interval=60, timeout=5),
                                        HangingBackend("hung", interval=60, timeout=60)])
    started = time.monotonic()
    results = asyncio.run(session.poll_all_once(deadline=1))
    assert time.monotonic() - started < 20  # wide: only proves the deadline cut the hang
    by_id = {r.backend_id: r for r in results}
    assert "connection refused" in (by_id["http:down"].error or "")
    assert by_id["http:hung"].error == "no answer within 1s"
    problems = {p.backend.name: p.problem for p in session.polled(HangingBackend)}
    assert problems["down"] is not None and "unreachable since" in problems["down"]
    assert problems["down"].endswith("connection refused")
    worst = session.checks_worst_first()[0][0]
    assert worst.status is Status.UNKNOWN


@pytest.mark.usefixtures("noop_kind")
def test_actions_by_target_and_verb_and_the_view_that_shows_a_target(tmp_path: Path) -> None:
    config = parse_config(f"[[noop]]\nname = 'worker'\njournal = '{tmp_path / 'j'}'\n",
                          tmp_path / "config.toml")
    session = Session(config)
    assert [s.verb for s in session.actions_for("unit:worker")] == ["restart"]
    assert session.action("unit:worker", "restart").title == "Restart worker"
    with pytest.raises(ConfigError, match=r"no 'retry' action \(it offers: restart\)"):
        session.action("unit:worker", "retry")
    assert session.actions_for("unit:nobody") == []
    assert session.view_for("unit:worker").name == "units"
    assert session.view_for("volume:data").name == "containers"
    assert session.view_for("sql:count") is registry.OVERVIEW


def test_read_only_in_the_config_reaches_the_session(tmp_path: Path) -> None:
    config = parse_config("[console]\nread_only = true\n", tmp_path / "config.toml")
    session = Session(config, backends=[])
    assert session.read_only and session.dispatcher.read_only


def test_only_backends_with_logs_are_log_backends(config: Any) -> None:
    session = Session(config, backends=[FixedBackend("unit", "units", [])])
    assert session.log_backends() == []
