"""Exit codes as monitoring-plugins define them, and the thresholds that decide a status.

The exit code of a check is its worst status, ranked CRITICAL > UNKNOWN > WARNING > OK, while
the numbers are OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3: a plain `max` of the codes would let
UNKNOWN outrank CRITICAL. The end-to-end cases run real plugins (`[[command]]` scripts).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from console import report
from console.cli import main
from console.core.model import CheckResult, Perf, PollResult, Status, by_thresholds, worst

RANKED = [Status.OK, Status.WARNING, Status.UNKNOWN, Status.CRITICAL]  # least to most severe


def test_exit_code_numbers_are_the_plugin_conventions() -> None:
    assert [int(s) for s in (Status.OK, Status.WARNING, Status.CRITICAL, Status.UNKNOWN)] == [
        0, 1, 2, 3]
    assert [s.short for s in RANKED] == ["OK", "WARN", "UNKN", "CRIT"]


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(RANKED, 2)))
def test_worst_of_two_follows_the_ranking_in_either_order(a: Status, b: Status) -> None:
    assert worst([a, b]) is b and worst([b, a]) is b and worst((a, b, a)) is b


def test_worst_of_nothing_is_ok_and_of_one_is_itself() -> None:
    assert worst([]) is Status.OK
    for status in RANKED:
        assert worst([status]) is status and worst([status, status]) is status


@pytest.mark.parametrize(("value", "expected"), [
    (9.999, Status.OK), (10, Status.WARNING), (19.999, Status.WARNING), (20, Status.CRITICAL),
    (1e9, Status.CRITICAL)])
def test_thresholds_above_take_the_limit_itself(value: float, expected: Status) -> None:
    assert by_thresholds(value, 10, 20) is expected


@pytest.mark.parametrize(("value", "expected"), [
    (30, Status.OK), (14, Status.OK), (13.5, Status.WARNING), (7, Status.WARNING),
    (6.9, Status.CRITICAL), (-1, Status.CRITICAL)])
def test_thresholds_below_leave_the_limit_itself_alone(value: float, expected: Status) -> None:
    assert by_thresholds(value, 14, 7, below=True) is expected


def test_a_missing_threshold_never_fires() -> None:
    assert by_thresholds(1e12, None, None) is Status.OK
    assert by_thresholds(1e12, None, 5) is Status.CRITICAL
    assert by_thresholds(1e12, 5, None) is Status.WARNING
    assert by_thresholds(-1e12, None, None, below=True) is Status.OK


def _check(target: str, status: Status) -> CheckResult:
    return CheckResult(target, status, f"{status.name.lower()} summary")


def test_silenced_targets_do_not_raise_the_exit_code() -> None:
    checks = [_check("unit:a", Status.CRITICAL), _check("unit:b", Status.WARNING)]
    assert report.overall(checks) is Status.CRITICAL
    assert report.overall(checks, {"unit:a": "bob: planned"}) is Status.WARNING
    assert report.overall(checks, {"unit:a": "x", "unit:b": "y"}) is Status.OK


def test_text_report_leads_with_the_worst_and_counts_each_status() -> None:
    checks = [_check(f"unit:{s.name.lower()}", s) for s in (Status.OK, Status.UNKNOWN,
                                                            Status.WARNING, Status.CRITICAL)]
    lines = report.check_text(checks, {"unit:ok": "alice: muted"}).splitlines()
    assert lines[0] == ("OPSCONSOLE CRITICAL - 0 ok, 1 warning, 1 critical, 1 unknown, "
                        "1 silenced")
    assert [line.split(" - ")[0] for line in lines[1:]] == [
        "CRITICAL unit:critical", "UNKNOWN unit:unknown", "WARNING unit:warning",
        "SILENCED OK unit:ok"]
    assert lines[-1].endswith("[alice: muted]")


def _plugin(directory: Path, code: int) -> Path:
    path = directory / f"exit{code}.sh"
    path.write_text(f"#!/bin/sh\necho 'plugin says {code} | value={code};1;2;0;3'\nexit {code}\n")
    os.chmod(path, 0o700)
    return path


def _config(write_config: Callable[[str], Path], tmp_path: Path, codes: tuple[int, ...]) -> str:
    text = "".join(f"[[command]]\nname = 'p{i}'\ncommand = ['{_plugin(tmp_path, code)}']\n"
                   for i, code in enumerate(codes))
    return str(write_config(text))


@pytest.mark.parametrize(("codes", "expected"), [
    ((0, 0), Status.OK), ((0, 1), Status.WARNING), ((1, 3), Status.UNKNOWN),
    ((3, 1, 0), Status.UNKNOWN), ((3, 2), Status.CRITICAL), ((2, 3, 1, 0), Status.CRITICAL)])
def test_headless_check_exits_with_the_worst_plugin_status(
        codes: tuple[int, ...], expected: Status, tmp_path: Path,
        write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(write_config, tmp_path, codes)
    assert main(["--headless", "check", "--config", config]) == int(expected)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"OPSCONSOLE {expected.name} - ")
    assert main(["--headless", "check", "--config", config, "--format", "json"]) == int(expected)
    document = json.loads(capsys.readouterr().out)
    assert (document["status"], document["exit_code"]) == (expected.name, int(expected))
    tally = {s.name.lower(): sum(Status(c) is s for c in codes) for s in Status}
    assert document["counts"] == tally and document["duration"] > 0
    assert first.startswith(f"OPSCONSOLE {expected.name} - {tally['ok']} ok, "
                            f"{tally['warning']} warning, {tally['critical']} critical, "
                            f"{tally['unknown']} unknown | ")
    assert [c["status"] for c in document["checks"]] == [
        Status(code).name for code in sorted(codes, key=lambda c: -Status(c).severity)]


def test_only_narrows_the_exit_code_to_the_chosen_target(
        tmp_path: Path, write_config: Callable[[str], Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(write_config, tmp_path, (2, 1))
    assert main(["--headless", "check", "--config", config, "--only", "command:p1"]) == 1
    assert main(["--headless", "check", "--config", config, "--only", "command:nope"]) == 3
    assert "no configured target matches command:nope" in capsys.readouterr().out
    assert main(["--headless", "check", "--config", config, "--only", "service:shop"]) == 3
    assert capsys.readouterr().out == ("OPSCONSOLE UNKNOWN - no [[service]] matches service:shop "
                                       "(services: none configured)\n")


def test_perfdata_follows_the_plugin_format() -> None:
    assert Perf("it's", 1.5, "s", 1, 2, 0).render() == "'it_s'=1.5s;1;2;0"
    assert Perf("depth", 3.0, warn=None, crit=5).render() == "'depth'=3;;5"
    assert Perf("ratio", 0.1234567, "%", max=100).render() == "'ratio'=0.123457%;;;;100"
    assert Perf("big", 12345678.9).render() == "'big'=1.23457e+07"
    assert Perf("bytes", 12345678.0).render() == "'bytes'=12345678"  # whole: every digit
    assert Perf("count", 123456789).render() == "'count'=123456789"
    assert Perf("n", float("inf")).render() == "'n'=inf"


def test_a_result_names_its_kind_and_aspect() -> None:
    disk = CheckResult("host:web1", Status.OK, "fine", check="disk /")
    assert (disk.kind, disk.key, disk.label) == ("host", "host:web1 disk /", "host:web1 disk /")
    plain = CheckResult("queue:r/jobs:x", Status.OK, "fine")
    assert (plain.kind, plain.key) == ("queue", "queue:r/jobs:x")
    assert PollResult("b", "http", 0.0, 0.1, ()).ok
    assert not PollResult("b", "http", 0.0, 0.1, (), error="down").ok


def test_json_report_keeps_silences_services_and_extra_fields() -> None:
    checks = [_check("unit:a", Status.CRITICAL), _check("unit:b", Status.OK)]
    services = [CheckResult("service:shop", Status.WARNING, "degraded: unit:a")]
    text = report.check_json(checks, 1.23456, {"unit:a": "bob: planned"}, {"notes": ["n"]},
                             services)
    assert text.startswith('{\n  "status": "WARNING",\n  "exit_code": 1,\n')
    document = json.loads(text)
    assert document["counts"] == {"ok": 1, "warning": 1, "critical": 0, "unknown": 0}
    assert document["duration"] == 1.235 and document["notes"] == ["n"]
    assert [s["target"] for s in document["services"]] == ["service:shop"]
    assert [(c["target"], c["silenced"]) for c in document["checks"]] == [
        ("unit:a", "bob: planned"), ("unit:b", None)]
    bare = json.loads(report.check_json(checks, 0.0))
    assert (bare["status"], bare["services"], bare["checks"][0]["silenced"]) == (
        "CRITICAL", [], None)
