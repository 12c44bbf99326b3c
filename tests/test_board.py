"""The overview's order and bookkeeping: worst group first, a backend's checks replaced whole."""

from __future__ import annotations

from console.board import CheckBoard
from console.core.model import CheckResult, PollResult, Status
from tests.support.fixed_backends import FixedBackend


def result(backend_id: str, kind: str, checks: list[CheckResult], at: float = 100.0) -> PollResult:
    return PollResult(backend_id, kind, at, 0.01, tuple(checks))


def test_worst_first_across_every_target_then_by_kind() -> None:
    units = FixedBackend("unit", "units", [])
    web = FixedBackend("http", "web", [])
    board = CheckBoard([units, web])
    board.update(result(units.id, "unit", [
        CheckResult("unit:a.service", Status.OK, "active"),
        CheckResult("unit:b.service", Status.WARNING, "flapping")]))
    board.update(result(web.id, "http", [
        CheckResult("http:api", Status.OK, "200"),
        CheckResult("http:admin", Status.CRITICAL, "connection refused")]))
    board.update(result(units.id, "unit", [
        CheckResult("unit:a.service", Status.OK, "active"),
        CheckResult("unit:b.service", Status.WARNING, "flapping"),
        CheckResult("unit:c.service", Status.UNKNOWN, "not checked"),
        CheckResult("unit:d.service", Status.CRITICAL, "failed")]))
    order = [c.target for c, _ in board.worst_first()]
    assert order == ["http:admin", "unit:d.service", "unit:c.service", "unit:b.service",
                     "http:api", "unit:a.service"]
    assert board.counts() == {Status.OK: 2, Status.WARNING: 1, Status.CRITICAL: 2,
                              Status.UNKNOWN: 1}


def test_a_new_result_replaces_the_backends_checks_and_remembers_the_last_problem() -> None:
    web = FixedBackend("http", "web", [])
    board = CheckBoard([web])
    board.update(result(web.id, "http", [CheckResult("http:old", Status.CRITICAL, "down")], 10))
    board.update(result(web.id, "http", [CheckResult("http:new", Status.OK, "200")], 20))
    assert [c.target for c, _ in board.worst_first()] == ["http:new"]
    assert board.check("http:old") is None and board.polled_at("http:new") == 20
    view = board.owner("http:new")
    assert view is not None and view.last_problem is not None and "down" in view.last_problem
    assert not board.update(result("http:unknown", "http", []))
